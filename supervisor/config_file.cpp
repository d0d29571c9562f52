#include "supervisor/config_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <algorithm>
#include <functional>
#include <limits>
#include <sstream>
#include <type_traits>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "common/logging.h"
#include "supervisor/control_options.h"
#include "supervisor/toml_text_guard.h"
#include "worker/service_registry.h"
#include "worker/worker_options.h"

namespace preforkd {
namespace {

// What applying one value found wrong; `at` points into the document when the problem is
// an element of an array rather than the value as a whole.
struct Problem {
  std::string message;
  const toml::node* at = nullptr;
};
using Apply = std::function<std::optional<Problem>(const toml::node&, SupervisorConfig&)>;
using Render = std::function<std::string(const SupervisorConfig&)>;

struct KeySpec {
  std::string_view table;
  std::string_view key;
  Apply apply;
  Render render;
  std::uint64_t min = 0, max = 0;  // integer keys only (max 0: not an integer key)
};

// A member of SupervisorConfig, for const (render) and non-const (apply) access alike.
#define PREFORKD_FIELD(member) [](auto& c) -> auto& { return c.member; }

const char* typeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "nothing";
  }
}

Problem wrongType(const toml::node& n, std::string_view expected) {
  return {fmt::format("expected {}, got {}", expected, typeName(n))};
}

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string tomlString(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out += fmt::format("\\u{:04X}", u);
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string tomlStringArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += (i ? ", " : "") + tomlString(items[i]);
  }
  return out + "]";
}

std::string durationText(std::chrono::milliseconds d) {
  if (d.count() == 0) return "0";
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

template <class Get>
KeySpec integerKey(std::string_view table, std::string_view key, Get get, std::uint64_t min,
                   std::uint64_t max) {
  KeySpec spec{table, key,
               [get, min, max](const toml::node& n, SupervisorConfig& c) -> std::optional<Problem> {
                 if (!n.is_integer()) return wrongType(n, "an integer");
                 const std::int64_t v = n.as_integer()->get();
                 if (v < 0 || static_cast<std::uint64_t>(v) < min ||
                     static_cast<std::uint64_t>(v) > max) {
                   return Problem{fmt::format("must be between {} and {}, got {}", min, max, v)};
                 }
                 using T = std::remove_reference_t<decltype(get(c))>;
                 get(c) = static_cast<T>(v);
                 return std::nullopt;
               },
               [get](const SupervisorConfig& c) { return std::to_string(get(c)); }};
  spec.min = min;
  spec.max = max;
  return spec;
}

enum class Zero { Rejected, MeansNoLimit, Allowed };

template <class Get>
KeySpec durationKey(std::string_view table, std::string_view key, Get get, Zero zero) {
  return {table, key,
          [get, zero](const toml::node& n, SupervisorConfig& c) -> std::optional<Problem> {
            std::optional<std::chrono::milliseconds> d;
            if (n.is_string()) {
              d = parseDuration(n.as_string()->get());
              if (!d) {
                return Problem{fmt::format("'{}' is not a duration (such as \"500ms\", \"30s\", "
                                           "\"5m\", \"1h\", or an integer of seconds)",
                                           n.as_string()->get())};
              }
            } else if (n.is_integer()) {
              const std::int64_t v = n.as_integer()->get();
              d = v < 0 ? std::nullopt : parseDuration(std::to_string(v));
              if (!d) return Problem{fmt::format("{} is not a duration in seconds", v)};
            } else {
              return wrongType(n, "a duration (a string such as \"30s\" or an integer of seconds)");
            }
            if (d->count() == 0 && zero == Zero::Rejected) {
              return Problem{"must be a positive duration"};
            }
            get(c) = *d;
            return std::nullopt;
          },
          [get](const SupervisorConfig& c) { return tomlString(durationText(get(c))); }};
}

enum class Lines { Any, Single };

template <class Get>
KeySpec stringKey(std::string_view table, std::string_view key, Get get, Lines lines = Lines::Any) {
  return {table, key,
          [get, lines](const toml::node& n, SupervisorConfig& c) -> std::optional<Problem> {
            if (!n.is_string()) return wrongType(n, "a string");
            const std::string& s = n.as_string()->get();
            if (lines == Lines::Single && s.find_first_of("\r\n") != std::string::npos) {
              return Problem{"must be a single line"};
            }
            get(c) = s;
            return std::nullopt;
          },
          [get](const SupervisorConfig& c) { return tomlString(get(c)); }};
}

template <class Get>
KeySpec boolKey(std::string_view table, std::string_view key, Get get) {
  return {table, key,
          [get](const toml::node& n, SupervisorConfig& c) -> std::optional<Problem> {
            if (!n.is_boolean()) return wrongType(n, "true or false");
            get(c) = n.as_boolean()->get();
            return std::nullopt;
          },
          [get](const SupervisorConfig& c) { return std::string(get(c) ? "true" : "false"); }};
}

// A string that names one of a fixed set of values.
template <class Get, class Parse, class Name>
KeySpec choiceKey(std::string_view table, std::string_view key, Get get, Parse parse, Name name,
                  std::string allowed) {
  return {table, key,
          [get, parse, allowed](const toml::node& n, SupervisorConfig& c) -> std::optional<Problem> {
            if (!n.is_string()) return wrongType(n, "a string");
            const std::string& s = n.as_string()->get();
            const auto v = parse(s);
            if (!v) return Problem{fmt::format("'{}' is not one of {}", s, allowed)};
            get(c) = *v;
            return std::nullopt;
          },
          [get, name](const SupervisorConfig& c) { return tomlString(name(get(c))); }};
}

// A string, or an array of strings: each element checked by `check` ("" = fine).
std::optional<Problem> stringList(const toml::node& n, std::vector<std::string>* out,
                                  const std::function<std::string(const std::string&)>& check) {
  out->clear();
  auto one = [&](const toml::node& item) -> std::optional<Problem> {
    if (!item.is_string()) {
      Problem p = wrongType(item, "a string");
      p.at = &item;
      return p;
    }
    const std::string& s = item.as_string()->get();
    if (std::string why = check(s); !why.empty()) return Problem{why, &item};
    out->push_back(s);
    return std::nullopt;
  };
  if (n.is_string()) return one(n);
  if (!n.is_array()) return wrongType(n, "an array of strings");
  for (const toml::node& item : *n.as_array()) {
    if (auto p = one(item)) return p;
  }
  return std::nullopt;
}

const std::vector<KeySpec>& keySpecs() {
  static const std::vector<KeySpec> specs = [] {
    std::string services;
    for (const ServiceDefinition& s : builtinServices()) {
      services += (services.empty() ? "" : ", ") + std::string(s.name);
    }
    std::vector<KeySpec> k;
    // [server]
    k.push_back({"server", "listen",
                 [](const toml::node& n, SupervisorConfig& c) -> std::optional<Problem> {
                   std::vector<std::string> texts;
                   std::vector<SocketAddress> addrs;
                   auto p = stringList(n, &texts, [&addrs](const std::string& s) {
                     std::string error;
                     auto a = parseHostPort(s, &error);
                     if (a) addrs.push_back(*a);
                     return a ? std::string() : error;
                   });
                   if (p) return p;
                   if (addrs.empty()) return Problem{"needs at least one address"};
                   c.listen = std::move(addrs);
                   return std::nullopt;
                 },
                 [](const SupervisorConfig& c) {
                   std::vector<std::string> texts;
                   for (const SocketAddress& a : c.listen) texts.push_back(formatAddress(a));
                   return tomlStringArray(texts);
                 }});
    k.push_back(integerKey("server", "backlog", PREFORKD_FIELD(backlog), 1, kMaxBacklog));
    // [pool]
    k.push_back(choiceKey("pool", "mode", PREFORKD_FIELD(pool.mode), parsePoolMode,
                          [](PoolMode m) { return toString(m); }, "static, dynamic, ondemand"));
    k.push_back(integerKey("pool", "workers", PREFORKD_FIELD(pool.workers), 1, kMaxChildrenLimit));
    k.push_back(integerKey("pool", "min_spare", PREFORKD_FIELD(pool.min_spare), 1, kMaxChildrenLimit));
    k.push_back(integerKey("pool", "max_spare", PREFORKD_FIELD(pool.max_spare), 1, kMaxChildrenLimit));
    k.push_back(integerKey("pool", "max_children", PREFORKD_FIELD(pool.max_children), 1,
                           kMaxChildrenLimit));
    k.push_back(integerKey("pool", "max_spawn_rate", PREFORKD_FIELD(pool.max_spawn_rate), 1,
                           kMaxSpawnRateLimit));
    k.push_back(durationKey("pool", "ondemand_idle_timeout",
                            PREFORKD_FIELD(pool.ondemand_idle_timeout), Zero::Rejected));
    k.push_back(choiceKey("pool", "policy", PREFORKD_FIELD(pool.policy), parseDispatchPolicy,
                          [](DispatchPolicy p) { return toString(p); },
                          "lru, mru, round-robin, least-served"));
    // [limits]
    constexpr std::uint64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
    k.push_back(integerKey("limits", "max_connections_per_child",
                           PREFORKD_FIELD(lifecycle.max_connections_per_child), 0, kInt64Max));
    k.push_back(integerKey("limits", "recycle_jitter", PREFORKD_FIELD(lifecycle.recycle_jitter), 0,
                           kInt64Max));
    k.push_back(durationKey("limits", "session_grace", PREFORKD_FIELD(lifecycle.session_grace),
                            Zero::Rejected));
    k.push_back(durationKey("limits", "handoff_timeout", PREFORKD_FIELD(lifecycle.handoff_timeout),
                            Zero::Rejected));
    k.push_back(durationKey("limits", "startup_timeout", PREFORKD_FIELD(lifecycle.startup_timeout),
                            Zero::Rejected));
    k.push_back(durationKey("limits", "kill_grace", PREFORKD_FIELD(lifecycle.kill_grace),
                            Zero::Rejected));
    k.push_back(integerKey("limits", "crash_limit", PREFORKD_FIELD(lifecycle.crash_limit), 0,
                           std::numeric_limits<unsigned>::max()));
    k.push_back(durationKey("limits", "crash_interval", PREFORKD_FIELD(lifecycle.crash_interval),
                            Zero::Rejected));
    k.push_back(durationKey("limits", "respawn_backoff_max",
                            PREFORKD_FIELD(lifecycle.respawn_backoff_max), Zero::Rejected));
    k.push_back(durationKey("limits", "reload_timeout", PREFORKD_FIELD(lifecycle.reload_timeout),
                            Zero::Rejected));
    k.push_back(durationKey("limits", "shutdown_timeout",
                            PREFORKD_FIELD(lifecycle.shutdown_timeout), Zero::Rejected));
    k.push_back(durationKey("limits", "upgrade_timeout", PREFORKD_FIELD(lifecycle.upgrade_timeout),
                            Zero::Rejected));
    // [overload]
    k.push_back(integerKey("overload", "queue", PREFORKD_FIELD(overload.queue_size), 0,
                           kMaxQueueLimit));
    k.push_back(durationKey("overload", "queue_timeout", PREFORKD_FIELD(overload.queue_timeout),
                            Zero::Rejected));
    k.push_back(stringKey("overload", "busy_message", PREFORKD_FIELD(overload.busy_message),
                          Lines::Single));
    k.push_back(integerKey("overload", "max_per_source", PREFORKD_FIELD(overload.max_per_source),
                           0, kInt64Max));
    k.push_back(stringKey("overload", "per_source_message",
                          PREFORKD_FIELD(overload.per_source_message), Lines::Single));
    // [worker]: the ranges are those of worker/worker_options.cpp's flags.
    k.push_back(choiceKey(
        "worker", "service", PREFORKD_FIELD(worker.service),
        [](const std::string& s) -> std::optional<std::string> {
          return findService(s) ? std::optional<std::string>(s) : std::nullopt;
        },
        [](const std::string& s) { return s; }, services));
    k.push_back(boolKey("worker", "banner", PREFORKD_FIELD(worker.banner)));
    k.push_back(durationKey("worker", "idle_timeout", PREFORKD_FIELD(worker.idle_timeout),
                            Zero::Rejected));
    k.push_back(durationKey("worker", "max_session", PREFORKD_FIELD(worker.max_session),
                            Zero::MeansNoLimit));
    k.push_back(integerKey("worker", "max_line", PREFORKD_FIELD(worker.max_line_bytes), 16,
                           std::size_t{1} << 20));
    k.push_back(integerKey("worker", "bytes_max", PREFORKD_FIELD(worker.bytes_max), 1,
                           std::uint64_t{1} << 32));
    k.push_back(integerKey("worker", "rpc_max_frame", PREFORKD_FIELD(worker.rpc_max_frame), 64,
                           std::uint32_t{64} << 20));
    k.push_back({"worker", "exec",
                 [](const toml::node& n, SupervisorConfig& c) -> std::optional<Problem> {
                   std::vector<std::string> argv;
                   if (n.is_string()) return wrongType(n, "an array of strings: [\"program\", \"arg\"]");
                   bool first = true;
                   auto p = stringList(n, &argv, [&first](const std::string& s) {
                     const bool was_first = std::exchange(first, false);
                     return was_first && s.empty() ? "the program name is empty" : "";
                   });
                   if (p) return p;
                   c.worker_exec = std::move(argv);
                   return std::nullopt;
                 },
                 [](const SupervisorConfig& c) { return tomlStringArray(c.worker_exec); }});
    // [control]
    k.push_back(stringKey("control", "socket", PREFORKD_FIELD(control_socket)));
    k.push_back({"control", "mode",
                 [](const toml::node& n, SupervisorConfig& c) -> std::optional<Problem> {
                   if (!n.is_string()) return wrongType(n, "a string of octal digits, e.g. \"0660\"");
                   const auto mode = parseFileMode(n.as_string()->get());
                   if (!mode || (*mode & 0600) != 0600) {
                     return Problem{"must be octal permission bits including 0600, e.g. \"0660\""};
                   }
                   c.control.mode = *mode;
                   return std::nullopt;
                 },
                 [](const SupervisorConfig& c) {
                   return tomlString(fmt::format("{:04o}", static_cast<unsigned>(c.control.mode)));
                 }});
    k.push_back(stringKey("control", "group", PREFORKD_FIELD(control.group), Lines::Single));
    k.push_back(stringKey("control", "admin_group", PREFORKD_FIELD(control.admin_group), Lines::Single));
    k.push_back(durationKey("control", "idle_timeout", PREFORKD_FIELD(control.idle_timeout),
                            Zero::Rejected));
    // [agent]
    k.push_back({"agent", "listen",
                 [](const toml::node& n, SupervisorConfig& c) -> std::optional<Problem> {
                   if (!n.is_string()) return wrongType(n, "a string \"HOST:PORT\" (\"\": off)");
                   const std::string& text = n.as_string()->get();
                   if (text.empty()) {
                     c.agent.listen.reset();
                     return std::nullopt;
                   }
                   std::string error;
                   auto a = parseHostPort(text, &error);
                   if (!a) return Problem{error};
                   c.agent.listen = *a;
                   return std::nullopt;
                 },
                 [](const SupervisorConfig& c) {
                   return tomlString(c.agent.listen ? formatAddress(*c.agent.listen) : "");
                 }});
    k.push_back({"agent", "allow",
                 [](const toml::node& n, SupervisorConfig& c) -> std::optional<Problem> {
                   std::vector<std::string> ips;
                   auto p = stringList(n, &ips, [](const std::string& s) {
                     return ipKey(s) ? std::string() : "'" + s + "' is not a numeric IP address";
                   });
                   if (p) return p;
                   c.agent.allow = std::move(ips);
                   return std::nullopt;
                 },
                 [](const SupervisorConfig& c) { return tomlStringArray(c.agent.allow); }});
    k.push_back(integerKey("agent", "reference", PREFORKD_FIELD(agent.reference), 0,
                           kMaxAgentReference));
    k.push_back(integerKey("agent", "balancers", PREFORKD_FIELD(agent.balancers), 1,
                           kMaxAgentBalancers));
    k.push_back(durationKey("agent", "announce", PREFORKD_FIELD(agent.announce), Zero::Allowed));
    // [log]
    k.push_back({"log", "level",
                 [](const toml::node& n, SupervisorConfig& c) -> std::optional<Problem> {
                   if (!n.is_string()) return wrongType(n, "a string");
                   const auto level = parseLogLevel(n.as_string()->get());
                   if (!level) {
                     return Problem{fmt::format(
                         "'{}' is not one of trace, debug, info, warn, error, critical, off",
                         n.as_string()->get())};
                   }
                   c.log_level = c.worker.log_level = *level;
                   return std::nullopt;
                 },
                 [](const SupervisorConfig& c) { return tomlString(logLevelName(c.log_level)); }});
    k.push_back(stringKey("log", "file", PREFORKD_FIELD(log_file)));
    // [process]
    k.push_back(stringKey("process", "user", PREFORKD_FIELD(user)));
    k.push_back(stringKey("process", "group", PREFORKD_FIELD(group)));
    k.push_back(boolKey("process", "allow_root_workers", PREFORKD_FIELD(allow_root_workers)));
    return k;
  }();
  return specs;
}

#undef PREFORKD_FIELD

const KeySpec* findKey(std::string_view table, std::string_view key) {
  for (const KeySpec& s : keySpecs()) {
    if (s.table == table && s.key == key) return &s;
  }
  return nullptr;
}

bool isTable(std::string_view name) {
  for (const KeySpec& s : keySpecs()) {
    if (s.table == name) return true;
  }
  return false;
}

SourcePosition positionOf(const toml::source_region& r, const std::string& file) {
  return {file, r.begin.line, r.begin.column};
}

}  // namespace

std::string ConfigDiagnostic::format() const {
  if (where.line == 0) return fmt::format("{}: {}", where.file, message);
  return fmt::format("{}:{}:{}: {}", where.file, where.line, where.column, message);
}

ConfigFileResult applyConfigText(std::string_view text, const std::string& source_name,
                                 UnknownKeys unknown, SupervisorConfig& config) {
  ConfigFileResult result;
  // Always an error in TOML, and undefined behaviour in the parser for some characters: refuse
  // it before parsing (supervisor/toml_text_guard.h).
  const TomlTextCheck checked = checkTomlText(text);
  if (const auto& at = checked.non_ascii_outside_strings) {
    result.errors.push_back({{source_name, at->line, at->column},
                             "non-ASCII character outside a string or comment (bare keys are "
                             "ASCII letters, digits, '-' and '_'; quote other text)"});
    return result;
  }
  toml::table root;
  try {
    root = toml::parse(checked.text ? std::string_view(*checked.text) : text, source_name);
  } catch (const toml::parse_error& e) {
    result.errors.push_back({positionOf(e.source(), source_name), std::string(e.description())});
    return result;
  }
  auto unknownKey = [&](const toml::key& k, std::string message) {
    ConfigDiagnostic d{positionOf(k.source(), source_name), std::move(message)};
    if (unknown == UnknownKeys::Reject) {
      result.errors.push_back(std::move(d));
    } else {
      result.warnings.push_back(std::move(d));
    }
  };
  for (auto&& [table_key, table_node] : root) {
    const std::string table_name(table_key.str());
    if (!isTable(table_name)) {
      unknownKey(table_key, table_node.is_table()
                                ? fmt::format("unknown table [{}]", table_name)
                                : fmt::format("unknown key '{}' (settings live in tables such as "
                                              "[server] and [pool])",
                                              table_name));
      continue;
    }
    const toml::table* table = table_node.as_table();
    if (table == nullptr) {
      result.errors.push_back({positionOf(table_node.source(), source_name),
                               fmt::format("'{}' must be a table ([{}])", table_name, table_name)});
      continue;
    }
    for (auto&& [key, value] : *table) {
      const std::string name = fmt::format("{}.{}", table_name, key.str());
      const KeySpec* spec = findKey(table_name, key.str());
      if (spec == nullptr) {
        unknownKey(key, fmt::format("unknown key '{}'", name));
        continue;
      }
      result.positions[name] = positionOf(value.source(), source_name);
      if (auto p = spec->apply(value, config)) {
        const toml::node& at = p->at ? *p->at : value;
        result.errors.push_back(
            {positionOf(at.source(), source_name), fmt::format("{}: {}", name, p->message)});
      }
    }
  }
  return result;
}

ConfigFileResult applyConfigFile(const std::string& path, UnknownKeys unknown,
                                 SupervisorConfig& config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigFileResult result;
    result.errors.push_back({{path}, fmt::format("cannot read: {}", std::strerror(errno))});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    ConfigFileResult result;
    result.errors.push_back({{path}, "cannot read the file"});
    return result;
  }
  return applyConfigText(text.str(), path, unknown, config);
}

std::string renderConfig(const SupervisorConfig& config) {
  std::string out = "# preforkd: the effective configuration (defaults < file < flags)\n";
  std::string_view table;
  for (const KeySpec& s : keySpecs()) {
    if (s.table != table) {
      table = s.table;
      out += fmt::format("\n[{}]\n", table);
    }
    out += fmt::format("{} = {}\n", s.key, s.render(config));
  }
  return out;
}

std::optional<ConfigProblem> checkConsistency(const SupervisorConfig& config) {
  if (config.listen.empty()) return ConfigProblem{{"server.listen"}, "needs at least one address"};
  if (std::string e = validateAgentSettings(config.agent); !e.empty()) {
    // "agent balancers must be ..." names its key as its second word.
    const std::size_t from = e.find(' ') + 1;
    std::string key = "agent." + e.substr(from, e.find_first_of(" :", from) - from);
    return ConfigProblem{{std::move(key)}, std::move(e)};
  }
  std::string error = validatePoolSettings(config.pool);
  if (error.empty()) return std::nullopt;
  // The message names the settings in flag terms ("min-spare (5) exceeds max-spare (3)"):
  // collect the [pool] keys it names, in the order it names them.
  std::vector<std::pair<std::size_t, std::string>> named;
  for (const KeySpec& s : keySpecs()) {
    if (s.table != "pool") continue;
    std::string flag(s.key);
    for (char& ch : flag) {
      if (ch == '_') ch = '-';
    }
    for (std::size_t at = error.find(flag); at != std::string::npos; at = error.find(flag, at + 1)) {
      const std::size_t end = at + flag.size();
      const bool starts = at == 0 || error[at - 1] == ' ';
      const bool ends = end == error.size() || error[end] == ' ';
      if (starts && ends) {
        named.emplace_back(at, fmt::format("pool.{}", s.key));
        break;
      }
    }
  }
  std::sort(named.begin(), named.end());
  ConfigProblem problem{{}, error};
  for (auto& [at, key] : named) problem.keys.push_back(std::move(key));
  if (problem.keys.empty()) problem.keys.push_back("pool.mode");
  return problem;
}

std::vector<std::string> configKeyNames() {
  std::vector<std::string> names;
  for (const KeySpec& s : keySpecs()) names.push_back(fmt::format("{}.{}", s.table, s.key));
  return names;
}

std::vector<IntegerKeyRange> configIntegerRanges() {
  std::vector<IntegerKeyRange> out;
  for (const KeySpec& s : keySpecs()) {
    if (s.max != 0) out.push_back({fmt::format("{}.{}", s.table, s.key), s.min, s.max});
  }
  return out;
}

}  // namespace preforkd
