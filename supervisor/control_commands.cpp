#include "supervisor/control_commands.h"

#include <charconv>
#include <climits>
#include <exception>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "supervisor/metrics.h"
#include "supervisor/pool_settings.h"
#include "supervisor/stats_json.h"

namespace preforkd {
namespace {

enum class Args {
  None,      // nothing after the command words
  Json,      // optional "json"
  Count,     // a positive number
  Pid,       // a positive pid
  Id,        // a positive connection id
  Policy,    // a dispatch policy name
  Shutdown,  // optional "graceful" or "now"
};

struct Syntax {
  std::vector<std::string_view> words;
  ControlVerb verb;
  Args args;
  const char* usage;
  const char* help;
};

const std::vector<Syntax>& syntaxTable() {
  static const std::vector<Syntax> table = {
      {{"help"}, ControlVerb::Help, Args::None, "help", "this list"},
      {{"show", "info"}, ControlVerb::ShowInfo, Args::Json, "show info [json]",
       "supervisor state and counters (key: value)"},
      {{"show", "workers"}, ControlVerb::ShowWorkers, Args::Json, "show workers [json]",
       "one row per worker, then the scoreboard"},
      {{"show", "conns"}, ControlVerb::ShowConns, Args::Json, "show conns [json]",
       "one row per connection queued or in service"},
      {{"show", "hist"}, ControlVerb::ShowHist, Args::Json, "show hist [json]",
       "latency percentiles in microseconds"},
      {{"show", "metrics"}, ControlVerb::ShowMetrics, Args::None, "show metrics",
       "everything in the Prometheus text format"},
      {{"show", "agent"}, ControlVerb::ShowAgent, Args::Json, "show agent [json]",
       "the HAProxy agent answer and why, drain state, peers"},
      {{"set", "workers"}, ControlVerb::SetWorkers, Args::Count, "set workers N",
       "resize the pool"},
      {{"set", "policy"}, ControlVerb::SetPolicy, Args::Policy, "set policy NAME",
       "lru, mru, round-robin or least-served"},
      {{"worker", "drain"}, ControlVerb::WorkerDrain, Args::Pid, "worker drain PID",
       "the worker exits after its current client"},
      {{"worker", "kill"}, ControlVerb::WorkerKill, Args::Pid, "worker kill PID",
       "SIGTERM the worker now (SIGKILL after the grace)"},
      {{"conn", "kill"}, ControlVerb::ConnKill, Args::Id, "conn kill ID",
       "close a queued connection, or kill the worker serving it"},
      {{"clear", "counters"}, ControlVerb::ClearCounters, Args::None, "clear counters",
       "reset counters and histograms"},
      {{"reload"}, ControlVerb::Reload, Args::None, "reload",
       "start a new generation; answers once it is ready"},
      {{"reopen-logs"}, ControlVerb::ReopenLogs, Args::None, "reopen-logs",
       "reopen log files (after rotation)"},
      {{"drain"}, ControlVerb::Drain, Args::None, "drain",
       "the agent says drain (balancers stop sending); clients are still served"},
      {{"undrain"}, ControlVerb::Undrain, Args::None, "undrain", "leave the drain state"},
      {{"shutdown"}, ControlVerb::Shutdown, Args::Shutdown, "shutdown [graceful|now]",
       "stop; graceful lets busy workers finish"},
  };
  return table;
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::string printable(std::string_view text) {
  std::string shown(text.substr(0, 64));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (text.size() > 64) shown += "...";
  return shown;
}

std::optional<std::uint64_t> positiveNumber(std::string_view word, std::uint64_t max) {
  std::uint64_t n = 0;
  const char* end = word.data() + word.size();
  const auto r = std::from_chars(word.data(), end, n);
  if (r.ec != std::errc() || r.ptr != end || n == 0 || n > max) return std::nullopt;
  return n;
}

std::string helpText(const ControlPeer& peer) {
  std::string out;
  for (const Syntax& s : syntaxTable()) {
    const bool admin = requiredLevel(s.verb) == AccessLevel::Admin;
    out += fmt::format("{:<25} {}{}\n", s.usage, s.help, admin ? " (admin)" : "");
  }
  out += fmt::format("{:<25} {}\n", "prompt", "interactive mode: a '> ' prompt after each response");
  out += fmt::format("{:<25} {}\n", "quit", "close this connection");
  out += fmt::format("Several commands may share a line, separated by ';'. You are uid {} ({}).\n",
                     peer.uid, toString(peer.level));
  return out;
}

std::string errorLine(std::string_view reason) {
  std::string line = "ERROR ";
  line += reason;
  // One line only: a reason from an action must not break the framing.
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line + "\n";
}

// Renders "OK <what>" or "ERROR <reason>" from an action's result.
std::string outcome(const std::string& error, std::string_view ok) {
  return error.empty() ? fmt::format("OK {}\n", ok) : errorLine(error);
}

std::string notAvailable(std::string_view what) {
  return errorLine(fmt::format("{} is not available", what));
}

std::string run(const ControlCommand& cmd, const ControlActions& a) {
  auto snap = [&]() -> std::optional<StatsSnapshot> {
    if (!a.snapshot) return std::nullopt;
    return a.snapshot();
  };
  switch (cmd.verb) {
    case ControlVerb::Help:
    case ControlVerb::Reload:
      break;  // handled by the caller
    case ControlVerb::ShowInfo: {
      const auto s = snap();
      if (!s) return notAvailable("show info");
      return cmd.json ? renderJsonLine(infoJson(*s)) : renderInfo(*s);
    }
    case ControlVerb::ShowWorkers: {
      const auto s = snap();
      if (!s) return notAvailable("show workers");
      return cmd.json ? renderJsonLine(workersJson(*s)) : renderWorkers(*s);
    }
    case ControlVerb::ShowConns: {
      const auto s = snap();
      if (!s) return notAvailable("show conns");
      return cmd.json ? renderJsonLine(connsJson(*s)) : renderConns(*s);
    }
    case ControlVerb::ShowHist: {
      const auto s = snap();
      if (!s) return notAvailable("show hist");
      return cmd.json ? renderJsonLine(histJson(*s)) : renderHist(*s);
    }
    case ControlVerb::ShowMetrics: {
      const auto s = snap();
      if (!s) return notAvailable("show metrics");
      return renderMetrics(*s);
    }
    case ControlVerb::ShowAgent: {
      const auto s = snap();
      if (!s) return notAvailable("show agent");
      return cmd.json ? renderJsonLine(agentJson(*s)) : renderAgent(*s);
    }
    case ControlVerb::Drain:
      if (!a.drain) return notAvailable("drain");
      return outcome(a.drain(true), "draining");
    case ControlVerb::Undrain:
      if (!a.drain) return notAvailable("undrain");
      return outcome(a.drain(false), "ready");
    case ControlVerb::SetWorkers:
      if (!a.set_workers) return notAvailable("set workers");
      return outcome(a.set_workers(static_cast<std::size_t>(cmd.number)),
                     fmt::format("workers {}", cmd.number));
    case ControlVerb::SetPolicy:
      if (!a.set_policy) return notAvailable("set policy");
      return outcome(a.set_policy(cmd.name), fmt::format("policy {}", cmd.name));
    case ControlVerb::WorkerDrain:
      if (!a.drain_worker) return notAvailable("worker drain");
      return outcome(a.drain_worker(static_cast<pid_t>(cmd.number)),
                     fmt::format("worker {} drains", cmd.number));
    case ControlVerb::WorkerKill:
      if (!a.kill_worker) return notAvailable("worker kill");
      return outcome(a.kill_worker(static_cast<pid_t>(cmd.number)),
                     fmt::format("worker {} killed", cmd.number));
    case ControlVerb::ConnKill:
      if (!a.kill_conn) return notAvailable("conn kill");
      return outcome(a.kill_conn(cmd.number), fmt::format("connection {} killed", cmd.number));
    case ControlVerb::ClearCounters:
      if (!a.clear_counters) return notAvailable("clear counters");
      a.clear_counters();
      return "OK counters cleared\n";
    case ControlVerb::ReopenLogs:
      if (!a.reopen_logs) return notAvailable("reopen-logs");
      return outcome(a.reopen_logs(), "logs reopened");
    case ControlVerb::Shutdown:
      if (!a.shutdown) return notAvailable("shutdown");
      return outcome(a.shutdown(cmd.graceful),
                     cmd.graceful ? "shutting down (graceful)" : "shutting down (now)");
  }
  return errorLine("internal error: unhandled command");
}

}  // namespace

std::vector<std::string> splitCommands(std::string_view line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = std::min(line.find(';', start), line.size());
    std::string_view piece = line.substr(start, end - start);
    while (!piece.empty() && (piece.front() == ' ' || piece.front() == '\t')) piece.remove_prefix(1);
    while (!piece.empty() && (piece.back() == ' ' || piece.back() == '\t')) piece.remove_suffix(1);
    if (!piece.empty()) out.emplace_back(piece);
    if (end == line.size()) break;
    start = end + 1;
  }
  if (out.empty()) out.emplace_back();
  return out;
}

AccessLevel requiredLevel(ControlVerb verb) noexcept {
  switch (verb) {
    case ControlVerb::Help:
    case ControlVerb::ShowInfo:
    case ControlVerb::ShowWorkers:
    case ControlVerb::ShowConns:
    case ControlVerb::ShowHist:
    case ControlVerb::ShowMetrics:
    case ControlVerb::ShowAgent:
      return AccessLevel::ReadOnly;
    default:
      return AccessLevel::Admin;
  }
}

ParsedCommand parseControlCommand(std::string_view command) {
  const auto w = words(command);
  if (w.empty()) return {std::nullopt, "empty command; try 'help'"};
  // The longest table entry whose words start the command.
  const Syntax* match = nullptr;
  for (const Syntax& s : syntaxTable()) {
    if (s.words.size() > w.size()) continue;
    if (!std::equal(s.words.begin(), s.words.end(), w.begin())) continue;
    if (match == nullptr || s.words.size() > match->words.size()) match = &s;
  }
  if (match == nullptr) {
    return {std::nullopt, fmt::format("unknown command '{}'; try 'help'", printable(command))};
  }
  const std::vector<std::string_view> args(w.begin() + static_cast<long>(match->words.size()),
                                           w.end());
  ControlCommand cmd;
  cmd.verb = match->verb;
  const ParsedCommand usage{std::nullopt, fmt::format("usage: {}", match->usage)};
  switch (match->args) {
    case Args::None:
      if (!args.empty()) return usage;
      break;
    case Args::Json:
      if (args.size() > 1 || (args.size() == 1 && args[0] != "json")) return usage;
      cmd.json = args.size() == 1;
      break;
    case Args::Count:
    case Args::Pid:
    case Args::Id: {
      if (args.size() != 1) return usage;
      const std::uint64_t max = match->args == Args::Pid ? INT_MAX : UINT64_MAX;
      const auto n = positiveNumber(args[0], max);
      if (!n) {
        return {std::nullopt, fmt::format("'{}' is not a positive number; usage: {}",
                                          printable(args[0]), match->usage)};
      }
      cmd.number = *n;
      break;
    }
    case Args::Policy:
      if (args.size() != 1) return usage;
      if (!parseDispatchPolicy(args[0])) {
        return {std::nullopt, fmt::format("unknown policy '{}' (lru, mru, round-robin, least-served)",
                                          printable(args[0]))};
      }
      cmd.name = std::string(args[0]);
      break;
    case Args::Shutdown:
      if (args.size() > 1 || (args.size() == 1 && args[0] != "graceful" && args[0] != "now")) {
        return usage;
      }
      cmd.graceful = args.empty() || args[0] == "graceful";
      break;
  }
  return {std::move(cmd), ""};
}

void executeControlCommand(std::string_view command, const ControlPeer& peer,
                           const ControlActions& actions, const ControlReply& reply) {
  std::string response;
  try {
    const ParsedCommand parsed = parseControlCommand(command);
    if (!parsed.command) {
      reply(errorLine(parsed.error));
      return;
    }
    const ControlCommand& cmd = *parsed.command;
    if (requiredLevel(cmd.verb) == AccessLevel::Admin && peer.level != AccessLevel::Admin) {
      spdlog::warn("control: refused '{}' from pid {} uid {}: an admin command, and the peer is "
                   "read-only",
                   printable(command), peer.pid, peer.uid);
      reply(errorLine(fmt::format(
          "permission denied: '{}' is an admin command (uid {} is read-only: admins are root, "
          "the daemon's user and the control admin group)",
          printable(command), peer.uid)));
      return;
    }
    if (cmd.verb != ControlVerb::Help && cmd.verb != ControlVerb::Reload &&
        requiredLevel(cmd.verb) == AccessLevel::Admin) {
      spdlog::info("control: '{}' from pid {} uid {}", printable(command), peer.pid, peer.uid);
    }
    if (cmd.verb == ControlVerb::Help) {
      response = helpText(peer);
    } else if (cmd.verb == ControlVerb::Reload) {
      if (!actions.reload) {
        reply(notAvailable("reload"));
        return;
      }
      spdlog::info("control: reload from pid {} uid {}", peer.pid, peer.uid);
      // `done` may run later, after this client has gone: it owns copies of what it needs.
      actions.reload([reply, snapshot = actions.snapshot](std::string error) {
        try {
          if (!error.empty()) {
            reply(errorLine("reload rejected: " + error));
          } else if (snapshot) {
            reply(fmt::format("OK generation {} ready\n", snapshot().generation));
          } else {
            reply("OK reloaded\n");
          }
        } catch (const std::exception& e) {
          reply(errorLine(fmt::format("internal error: {}", e.what())));
        }
      });
      return;
    } else {
      response = run(cmd, actions);
    }
  } catch (const std::exception& e) {
    spdlog::error("control: '{}' failed: {}", printable(command), e.what());
    response = errorLine(fmt::format("internal error: {}", e.what()));
  }
  reply(std::move(response));
}

ControlHandler makeControlHandler(ControlActions actions) {
  return [actions = std::move(actions)](std::string_view command, const ControlPeer& peer,
                                        ControlReply reply) {
    executeControlCommand(command, peer, actions, reply);
  };
}

}  // namespace preforkd
