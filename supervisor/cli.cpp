#include "supervisor/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "preforkd/version.h"
#include "supervisor/config_file.h"
#include "supervisor/privileges.h"
#include "supervisor/control_options.h"

namespace preforkd {
namespace {

std::string durationText(std::chrono::milliseconds d) {
  if (d.count() == 0) return "0";
  if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
  return fmt::format("{}ms", d.count());
}

// Every flag's value, seeded from a configuration (the defaults, or the defaults plus the
// file). CLI11 writes only the flags that are given, so a flag left out keeps the seed's
// value: that is the whole precedence rule. Settings with a plain type are bound directly to
// `config`; the others go through text and finish() converts them. Not copyable: the
// duration table points into `config`.
struct FlagValues {
  explicit FlagValues(const SupervisorConfig& seed) : config(seed) {
    for (const SocketAddress& a : seed.listen) listen.push_back(formatAddress(a));
    pool_mode = toString(seed.pool.mode);
    policy = toString(seed.pool.policy);
    worker.service = seed.worker.service;
    worker.no_banner = !seed.worker.banner;
    worker.idle_timeout = durationText(seed.worker.idle_timeout);
    worker.max_session = durationText(seed.worker.max_session);
    worker.max_line = seed.worker.max_line_bytes;
    worker.bytes_max = seed.worker.bytes_max;
    worker.rpc_max_frame = seed.worker.rpc_max_frame;
    worker.log_level = logLevelName(seed.log_level);
    control.mode = fmt::format("{:04o}", static_cast<unsigned>(seed.control.mode));
    control.group = seed.control.group;
    control.admin_group = seed.control.admin_group;
    control.idle_timeout = durationText(seed.control.idle_timeout);
    if (seed.agent.listen) agent_listen = formatAddress(*seed.agent.listen);
    PoolSettings& pool = config.pool;
    LifecycleSettings& life = config.lifecycle;
    OverloadSettings& over = config.overload;
    durations = {
        {"--ondemand-idle-timeout", &pool.ondemand_idle_timeout, "", false,
         "ondemand pool: a child idle this long exits"},
        {"--session-grace", &life.session_grace, "", false,
         "a child busy longer than --max-session plus this is killed (supervisor backstop)"},
        {"--handoff-timeout", &life.handoff_timeout, "", false,
         "a child that does not say Taken this long after a hand-off is killed; the client "
         "goes to another child"},
        {"--startup-timeout", &life.startup_timeout, "", false,
         "a child that does not say Ready this long after fork is killed"},
        {"--kill-grace", &life.kill_grace, "", false,
         "after SIGTERM to a child, wait this long before SIGKILL"},
        {"--crash-interval", &life.crash_interval, "", false,
         "--crash-limit crash-signal deaths within this long throttle respawning"},
        {"--respawn-backoff-max", &life.respawn_backoff_max, "", false,
         "cap of the exponential respawn back-off"},
        {"--reload-timeout", &life.reload_timeout, "", false,
         "on reload (SIGHUP), old-generation children must finish their clients within this"},
        {"--shutdown-timeout", &life.shutdown_timeout, "", false,
         "on SIGTERM, how long busy workers may finish before they are killed"},
        {"--upgrade-timeout", &life.upgrade_timeout, "", false,
         "on SIGUSR2, how long the new binary has to become ready"},
        {"--queue-timeout", &over.queue_timeout, "", false,
         "a client queued longer than this gets the busy line"},
        {"--agent-announce", &config.agent.announce, "", true,
         "with --agent-listen, SIGTERM first makes the agent say drain for this long (still "
         "serving) before the graceful shutdown; 0: no announce"},
    };
    for (DurationFlag& d : durations) d.text = durationText(*d.target);
  }
  FlagValues(const FlagValues&) = delete;
  FlagValues& operator=(const FlagValues&) = delete;

  struct DurationFlag {
    const char* name;
    std::chrono::milliseconds* target;
    std::string text;
    bool zero_ok;
    const char* help;
  };

  SupervisorConfig config;
  std::vector<std::string> listen;
  std::string agent_listen;
  std::string pool_mode, policy;
  std::vector<DurationFlag> durations;
  WorkerOptionText worker;
  ControlOptionText control;
  // What to do rather than how to run.
  std::string config_path;
  bool check_config = false, dump_config = false, strict = false, list_services = false;
};

// One line per flag. The file's keys (config_file.cpp) use the same names with underscores.
void defineFlags(CLI::App& app, FlagValues& v) {
  SupervisorConfig& c = v.config;
  app.add_option("-c,--config", v.config_path,
                 "read settings from this TOML file first (default: none); flags given on the "
                 "command line override it");
  app.add_flag("-t,--check-config", v.check_config,
               "check the configuration (file, flags, user and group), print \"configuration OK\" "
               "or file:line:col: problems, and exit 0 or 78");
  app.add_flag("-T,--dump-config", v.dump_config,
               "print the effective configuration (defaults < file < flags) as TOML and exit");
  app.add_flag("--strict", v.strict, "unknown keys in the configuration file are errors, not warnings");
  app.add_option("-l,--listen", v.listen,
                 "address to accept on, HOST:PORT or [IPV6]:PORT, numeric; repeatable; port 0 "
                 "picks a free port")
      ->default_str("127.0.0.1:2323");
  app.add_option("--backlog", c.backlog, "listen(2) backlog of each listener")
      ->check(CLI::Range(1, kMaxBacklog))
      ->capture_default_str();
  app.add_option("--control-socket", c.control_socket,
                 "path of the stats control socket (Unix stream socket); '' disables it")
      ->capture_default_str();
  addControlOptions(app, v.control);
  app.add_option("--pool", v.pool_mode, "pool mode: static, dynamic or ondemand")
      ->check(CLI::IsMember({"static", "dynamic", "ondemand"}))
      ->capture_default_str();
  app.add_option("-w,--workers", c.pool.workers,
                 "static: number of workers; dynamic: workers started at first")
      ->check(CLI::Range(std::size_t{1}, kMaxChildrenLimit))
      ->capture_default_str();
  app.add_option("--min-spare", c.pool.min_spare, "dynamic: keep at least this many idle workers")
      ->check(CLI::Range(std::size_t{1}, kMaxChildrenLimit))
      ->capture_default_str();
  app.add_option("--max-spare", c.pool.max_spare, "dynamic: retire idle workers above this many")
      ->check(CLI::Range(std::size_t{1}, kMaxChildrenLimit))
      ->capture_default_str();
  app.add_option("--max-children", c.pool.max_children, "dynamic, ondemand: most workers at once")
      ->check(CLI::Range(std::size_t{1}, kMaxChildrenLimit))
      ->capture_default_str();
  app.add_option("--max-spawn-rate", c.pool.max_spawn_rate,
                 "dynamic: most workers started per second (the ramp 1, 2, 4... stops here)")
      ->check(CLI::Range(std::size_t{1}, kMaxSpawnRateLimit))
      ->capture_default_str();
  app.add_option("--policy", v.policy,
                 "which idle worker gets a connection: lru, mru, round-robin, least-served")
      ->check(CLI::IsMember({"lru", "mru", "round-robin", "least-served"}))
      ->capture_default_str();
  app.add_option("--max-connections-per-child", c.lifecycle.max_connections_per_child,
                 "recycle a worker after this many connections; 0: never")
      ->capture_default_str();
  app.add_option("--recycle-jitter", c.lifecycle.recycle_jitter,
                 "add a random 0..N to each worker's --max-connections-per-child")
      ->capture_default_str();
  app.add_option("--crash-limit", c.lifecycle.crash_limit,
                 "crash-signal deaths within --crash-interval that throttle respawning; 0: off")
      ->capture_default_str();
  app.add_option("--queue", c.overload.queue_size,
                 "queue up to N accepted clients when every worker is busy; 0: leave them in "
                 "the kernel backlog")
      ->check(CLI::Range(std::size_t{0}, kMaxQueueLimit))
      ->capture_default_str();
  app.add_option("--busy-message", c.overload.busy_message,
                 "line sent to a client refused because the queue is full or its wait expired")
      ->capture_default_str();
  app.add_option("--max-per-source", c.overload.max_per_source,
                 "most concurrent connections from one client address; 0: no cap")
      ->capture_default_str();
  app.add_option("--per-source-message", c.overload.per_source_message,
                 "line sent to a client over --max-per-source")
      ->capture_default_str();
  for (FlagValues::DurationFlag& d : v.durations) {
    app.add_option(d.name, d.text, d.help)
        ->check(d.zero_ok ? durationOrZero() : positiveDuration())
        ->capture_default_str();
  }
  addWorkerOptions(app, v.worker);
  app.add_option("--agent-listen", v.agent_listen,
                 "answer HAProxy agent checks on this HOST:PORT (numeric); off by default");
  app.add_option("--agent-allow", c.agent.allow,
                 "only these peer IPs may query the agent (repeatable); default: any")
      ->check([](const std::string& s) {
        return ipKey(s) ? std::string() : "'" + s + "' is not a numeric IP address";
      });
  app.add_option("--agent-reference", c.agent.reference,
                 "the agent's weight is usable workers over this many (the fleet's reference "
                 "host); 0: this host's own capacity")
      ->check(CLI::Range(std::size_t{0}, kMaxAgentReference))
      ->capture_default_str();
  app.add_option("--agent-balancers", c.agent.balancers,
                 "number of HAProxy instances checking this host: each is told maxconn = usable "
                 "workers / this")
      ->check(CLI::Range(std::size_t{1}, kMaxAgentBalancers))
      ->capture_default_str();
  app.add_option("--log-file", c.log_file,
                 "append log lines (supervisor and workers) to this file instead of stderr; "
                 "reopened on SIGUSR1");
  app.add_option("--user", c.user,
                 "after binding, switch to this user (and its groups); needs root");
  app.add_option("--group", c.group, "with --user: this group instead of the user's primary group");
  app.add_flag("--allow-root-workers", c.allow_root_workers,
               "allow workers to run as root (refused by default when started as root without "
               "--user)");
  app.add_flag("--list-services", v.list_services, "print the built-in services and exit");
  app.footer(
      "  --worker-exec PROGRAM [ARGS...]\n"
      "                              fork AND exec each worker: PROGRAM gets its channel on fd 3\n"
      "                              (docs/protocol.md); takes all remaining arguments, so it\n"
      "                              comes last. build/worker/preforkd-worker runs the built-in\n"
      "                              services this way.\n\n"
      "Configuration file keys, precedence and exit statuses: preforkd(8).");
}

// Converts the text values into v.config. "" or what is wrong, naming the flag (exit 64).
std::string finish(FlagValues& v) {
  SupervisorConfig& c = v.config;
  c.listen.clear();
  for (const std::string& text : v.listen) {
    std::string error;
    auto addr = parseHostPort(text, &error);
    if (!addr) return "--listen: " + error;
    c.listen.push_back(*addr);
  }
  if (v.agent_listen.empty()) {
    c.agent.listen.reset();
  } else {
    std::string error;
    auto addr = parseHostPort(v.agent_listen, &error);
    if (!addr) return "--agent-listen: " + error;
    c.agent.listen = *addr;
  }
  c.pool.mode = *parsePoolMode(v.pool_mode);
  c.pool.policy = *parseDispatchPolicy(v.policy);
  for (const FlagValues::DurationFlag& d : v.durations) *d.target = *parseDuration(d.text);
  for (const std::string* line : {&c.overload.busy_message, &c.overload.per_source_message}) {
    if (line->find_first_of("\r\n") != std::string::npos) {
      return "--busy-message and --per-source-message are single lines";
    }
  }
  if (std::string error = applyControlOptions(v.control, &c.control); !error.empty()) return error;
  const std::uint64_t generation = c.worker.generation;
  c.worker = applyWorkerOptions(v.worker);
  c.worker.generation = generation;
  c.log_level = c.worker.log_level;
  return {};
}

// Everything after --worker-exec is the worker's command line, untouched by our parser.
bool splitWorkerExec(const std::vector<std::string>& all, std::vector<std::string>* flags,
                     std::optional<std::vector<std::string>>* exec) {
  flags->clear();
  exec->reset();
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i] == "--worker-exec") {
      exec->emplace(all.begin() + static_cast<std::ptrdiff_t>(i) + 1, all.end());
      return !(*exec)->empty();
    }
    flags->push_back(all[i]);
  }
  return true;
}

void parseArgs(CLI::App& app, const std::vector<std::string>& args) {
  std::vector<const char*> argv{"preforkd"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
}

std::string dashed(std::string_view key) {
  std::string out(key);
  for (char& ch : out) {
    if (ch == '_') ch = '-';
  }
  return out;
}

bool flagGiven(const CLI::App& app, std::string_view key) {
  // "pool.min_spare" -> "--min-spare"; "agent.listen" -> "--agent-listen"
  const std::string prefix = key.starts_with("agent.") ? "--agent-" : "--";
  const std::string flag = prefix + dashed(key.substr(key.find('.') + 1));
  const CLI::Option* opt = app.get_option_no_throw(flag);
  return opt != nullptr && opt->count() > 0;
}

struct Built {
  std::optional<SupervisorConfig> config;
  int exit_status = kExitOk;
  std::vector<std::string> errors;    // printed as they are
  std::vector<std::string> warnings;  // likewise
  std::map<std::string, SourcePosition> positions;  // keys the file set
  bool user_from_file = false;                      // [process] user/group not overridden
};

// defaults < file < the flags of `source`. Never prints.
Built buildConfiguration(const ReloadSource& source) {
  Built out;
  SupervisorConfig base = defaultConfiguration();
  if (!source.config_path.empty()) {
    ConfigFileResult r = applyConfigFile(
        source.config_path, source.strict ? UnknownKeys::Reject : UnknownKeys::Warn, base);
    for (ConfigDiagnostic& w : r.warnings) {
      w.message = "warning: " + w.message;
      out.warnings.push_back(w.format());
    }
    if (!r.ok()) {
      for (const ConfigDiagnostic& e : r.errors) out.errors.push_back(e.format());
      out.exit_status = kExitConfig;
      return out;
    }
    out.positions = std::move(r.positions);
  }
  std::vector<std::string> flags;
  std::optional<std::vector<std::string>> exec;
  if (!splitWorkerExec(source.arguments, &flags, &exec)) {
    out.errors.push_back("preforkd: --worker-exec needs a PROGRAM (and its arguments, if any)");
    out.exit_status = kExitUsage;
    return out;
  }
  FlagValues v(base);
  CLI::App app{"preforkd", "preforkd"};
  defineFlags(app, v);
  try {
    parseArgs(app, flags);
  } catch (const CLI::ParseError& e) {
    out.errors.push_back(fmt::format("preforkd: {}", e.what()));
    out.exit_status = kExitUsage;
    return out;
  }
  if (std::string error = finish(v); !error.empty()) {
    out.errors.push_back("preforkd: " + error);
    out.exit_status = kExitUsage;
    return out;
  }
  if (exec) v.config.worker_exec = *exec;
  if (auto problem = checkConsistency(v.config)) {
    // Blame the file when a setting it made (and no flag overrode) is involved.
    std::string message = problem->message;
    for (const std::string& key : problem->keys) {
      auto pos = out.positions.find(key);
      if (pos != out.positions.end() && !flagGiven(app, key)) {
        out.errors.push_back(ConfigDiagnostic{pos->second, key + ": " + message}.format());
        out.exit_status = kExitConfig;
        return out;
      }
    }
    out.errors.push_back("preforkd: " + message);
    out.exit_status = kExitUsage;
    return out;
  }
  out.user_from_file = !flagGiven(app, "process.user") && !flagGiven(app, "process.group");
  out.config = std::move(v.config);
  return out;
}

// -t: what start-up would refuse about the user, the group and running as root.
std::vector<std::string> checkProcessSettings(const Built& b) {
  const SupervisorConfig& c = *b.config;
  std::string error;
  std::optional<Identity> identity;
  if (!c.user.empty() || !c.group.empty()) {
    identity = resolveIdentity(c.user, c.group, &error);
    if (!identity) {
      const char* key = c.user.empty() || error.starts_with("group") ? "process.group" : "process.user";
      auto pos = b.positions.find(key);
      if (b.user_from_file && pos != b.positions.end()) {
        return {ConfigDiagnostic{pos->second, std::string(key) + ": " + error}.format()};
      }
      return {"preforkd: " + error};
    }
  }
  if (std::string refusal = checkRootPolicy(::geteuid(), ::getegid(), identity, c.allow_root_workers);
      !refusal.empty()) {
    return {"preforkd: " + refusal};
  }
  return {};
}

void print(std::ostream& out, const std::vector<std::string>& lines) {
  for (const std::string& l : lines) out << l << "\n";
}

}  // namespace

SupervisorConfig defaultConfiguration() {
  SupervisorConfig c;
  std::string unused;
  c.listen.push_back(*parseHostPort("127.0.0.1:2323", &unused));
  c.control_socket = defaultControlSocketPath();
  c.log_level = c.worker.log_level;
  return c;
}

CommandLine parseCommandLine(int argc, char** argv) {
  CommandLine result;
  std::vector<std::string> all(argv + 1, argv + argc);
  std::vector<std::string> flags;
  std::optional<std::vector<std::string>> exec;
  if (!splitWorkerExec(all, &flags, &exec)) {
    std::cerr << "preforkd: --worker-exec needs a PROGRAM (and its arguments, if any)\n";
    result.exit_status = kExitUsage;
    return result;
  }

  // Pass 1, over the defaults: --help, --version, bad flags, and where the file is.
  FlagValues first(defaultConfiguration());
  CLI::App app{"preforkd: a descriptor-passing prefork supervisor.\n"
               "The supervisor accepts TCP connections and hands each one to an idle pre-forked "
               "worker over a Unix socket (SCM_RIGHTS).",
               "preforkd"};
  app.set_version_flag("-V,--version", "preforkd " PREFORKD_VERSION);
  app.get_formatter()->column_width(34);
  defineFlags(app, first);
  try {
    parseArgs(app, flags);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive here as "successes" (exit code 0).
    const int code = app.exit(e);
    result.exit_status = code == 0 ? kExitOk : kExitUsage;
    return result;
  }
  if (first.list_services) {
    std::cout << listServices();
    return result;
  }
  // A bad flag is reported as such even when the file is broken too.
  if (std::string error = finish(first); !error.empty()) {
    std::cerr << "preforkd: " << error << "\n";
    result.exit_status = kExitUsage;
    return result;
  }

  // Pass 2: defaults < file < the flags that were given.
  result.reload_source = ReloadSource{all, first.config_path, first.strict};
  Built built = buildConfiguration(result.reload_source);
  print(std::cerr, built.warnings);
  if (!built.config) {
    print(std::cerr, built.errors);
    result.exit_status = built.exit_status;
    return result;
  }
  if (first.check_config) {
    if (auto errors = checkProcessSettings(built); !errors.empty()) {
      print(std::cerr, errors);
      result.exit_status = kExitConfig;
      return result;
    }
  }
  if (first.dump_config) std::cout << renderConfig(*built.config);
  if (first.check_config) std::cout << "configuration OK\n";
  if (first.check_config || first.dump_config) {
    std::cout.flush();
    return result;
  }
  result.config = std::move(built.config);
  return result;
}

std::optional<SupervisorConfig> reloadConfiguration(const ReloadSource& source, std::string* error) {
  Built built = buildConfiguration(source);
  for (const std::string& w : built.warnings) spdlog::warn("{}", w);
  if (!built.config && error != nullptr) {
    error->clear();
    for (const std::string& e : built.errors) *error += (error->empty() ? "" : "; ") + e;
  }
  return std::move(built.config);
}

}  // namespace preforkd
