// The control command language: splitting, parsing, access levels, dispatch to the actions.
#include <gtest/gtest.h>

#include <optional>

#include "supervisor/control_commands.h"
#include "supervisor/metrics.h"
#include "supervisor/stats_json.h"
#include "tests/unit/stats_sample.h"

namespace preforkd {
namespace {

using testing_sample::sample;

ControlPeer admin() {
  ControlPeer p;
  p.pid = 1;
  p.uid = 0;
  p.level = AccessLevel::Admin;
  return p;
}

ControlPeer reader() {
  ControlPeer p;
  p.pid = 2;
  p.uid = 65534;
  p.level = AccessLevel::ReadOnly;
  return p;
}

// Runs a synchronous command and returns its answer (failing if it was not answered once).
std::string run(std::string_view command, const ControlActions& a, const ControlPeer& peer = admin()) {
  int calls = 0;
  std::string answer;
  executeControlCommand(command, peer, a, [&](std::string r) {
    ++calls;
    answer = std::move(r);
  });
  EXPECT_EQ(calls, 1) << command;
  return answer;
}

TEST(ControlCommands, SplitCommands) {
  struct Case {
    std::string_view line;
    std::vector<std::string> commands;
  };
  const std::vector<Case> cases = {
      {"show info", {"show info"}},
      {"show info;show workers", {"show info", "show workers"}},
      {"  show info ;  help ", {"show info", "help"}},
      {"help;;help;", {"help", "help"}},
      {"", {""}},
      {"   ", {""}},
      {";;", {""}},
      {"\tshow\thist\t", {"show\thist"}},
  };
  for (const Case& c : cases) EXPECT_EQ(splitCommands(c.line), c.commands) << "'" << c.line << "'";
}

TEST(ControlCommands, ParseTable) {
  struct Case {
    std::string_view text;
    ControlVerb verb;
    bool json;
    std::uint64_t number;
    std::string name;
    bool graceful;
  };
  const std::vector<Case> cases = {
      {"help", ControlVerb::Help, false, 0, "", true},
      {"show info", ControlVerb::ShowInfo, false, 0, "", true},
      {"show info json", ControlVerb::ShowInfo, true, 0, "", true},
      {"  show   workers  json ", ControlVerb::ShowWorkers, true, 0, "", true},
      {"show conns", ControlVerb::ShowConns, false, 0, "", true},
      {"show hist json", ControlVerb::ShowHist, true, 0, "", true},
      {"show metrics", ControlVerb::ShowMetrics, false, 0, "", true},
      {"set workers 8", ControlVerb::SetWorkers, false, 8, "", true},
      {"set policy round-robin", ControlVerb::SetPolicy, false, 0, "round-robin", true},
      {"worker drain 1234", ControlVerb::WorkerDrain, false, 1234, "", true},
      {"worker kill 99", ControlVerb::WorkerKill, false, 99, "", true},
      {"conn kill 18446744073709551615", ControlVerb::ConnKill, false, UINT64_MAX, "", true},
      {"clear counters", ControlVerb::ClearCounters, false, 0, "", true},
      {"reload", ControlVerb::Reload, false, 0, "", true},
      {"reopen-logs", ControlVerb::ReopenLogs, false, 0, "", true},
      {"shutdown", ControlVerb::Shutdown, false, 0, "", true},
      {"shutdown graceful", ControlVerb::Shutdown, false, 0, "", true},
      {"shutdown now", ControlVerb::Shutdown, false, 0, "", false},
      {"show agent", ControlVerb::ShowAgent, false, 0, "", true},
      {"show agent json", ControlVerb::ShowAgent, true, 0, "", true},
      {"drain", ControlVerb::Drain, false, 0, "", true},
      {"undrain", ControlVerb::Undrain, false, 0, "", true},
  };
  for (const Case& c : cases) {
    const ParsedCommand p = parseControlCommand(c.text);
    ASSERT_TRUE(p.command) << c.text << " -> " << p.error;
    EXPECT_EQ(p.command->verb, c.verb) << c.text;
    EXPECT_EQ(p.command->json, c.json) << c.text;
    EXPECT_EQ(p.command->number, c.number) << c.text;
    EXPECT_EQ(p.command->name, c.name) << c.text;
    EXPECT_EQ(p.command->graceful, c.graceful) << c.text;
  }
}

TEST(ControlCommands, ParseErrors) {
  struct Case {
    std::string_view text;
    std::string_view error_prefix;
  };
  const std::vector<Case> cases = {
      {"", "empty command"},
      {"show", "unknown command 'show'"},
      {"SHOW INFO", "unknown command"},
      {"show nothing", "unknown command"},
      {"show info yaml", "usage: show info [json]"},
      {"show info json json", "usage: show info [json]"},
      {"show metrics json", "usage: show metrics"},
      {"help me", "usage: help"},
      {"set workers", "usage: set workers N"},
      {"set workers 0", "'0' is not a positive number"},
      {"set workers -3", "'-3' is not a positive number"},
      {"set workers 3x", "'3x' is not a positive number"},
      {"set policy fastest", "unknown policy 'fastest'"},
      {"worker drain 2147483648", "'2147483648' is not"},
      {"worker kill", "usage: worker kill PID"},
      {"conn kill 1 2", "usage: conn kill ID"},
      {"shutdown later", "usage: shutdown [graceful|now]"},
      {"reload now", "usage: reload"},
      {"\x01\x02", "unknown command '?" "?'"},
  };
  for (const Case& c : cases) {
    const ParsedCommand p = parseControlCommand(c.text);
    EXPECT_FALSE(p.command) << c.text;
    EXPECT_EQ(p.error.rfind(c.error_prefix, 0), 0u) << c.text << " -> " << p.error;
  }
}

TEST(ControlCommands, LongGarbageIsTruncatedInTheError) {
  const ParsedCommand p = parseControlCommand(std::string(500, 'x'));
  ASSERT_FALSE(p.command);
  EXPECT_LT(p.error.size(), 120u) << p.error;
}

TEST(ControlCommands, ReadCommandsRenderTheSnapshot) {
  int snapshots = 0;
  ControlActions a;
  a.snapshot = [&] {
    ++snapshots;
    return sample();
  };
  const StatsSnapshot s = sample();
  EXPECT_EQ(run("show info", a), renderInfo(s));
  EXPECT_EQ(run("show info json", a), renderJsonLine(infoJson(s)));
  EXPECT_EQ(run("show workers", a), renderWorkers(s));
  EXPECT_EQ(run("show workers json", a), renderJsonLine(workersJson(s)));
  EXPECT_EQ(run("show conns", a), renderConns(s));
  EXPECT_EQ(run("show conns json", a), renderJsonLine(connsJson(s)));
  EXPECT_EQ(run("show hist", a), renderHist(s));
  EXPECT_EQ(run("show hist json", a), renderJsonLine(histJson(s)));
  EXPECT_EQ(run("show metrics", a), renderMetrics(s));
  EXPECT_EQ(snapshots, 9);
  // Read-only peers may read.
  EXPECT_EQ(run("show info", a, reader()), renderInfo(s));
  const std::string help = run("help", a, reader());
  EXPECT_EQ(snapshots, 10);  // help needs no snapshot
  for (const char* listed : {"show info [json]", "show metrics", "set workers N", "reload",
                             "shutdown [graceful|now]", "prompt", "quit", "uid 65534 (read-only)"}) {
    EXPECT_NE(help.find(listed), std::string::npos) << listed << "\n" << help;
  }
  EXPECT_EQ(help.find("\n\n"), std::string::npos);
}

TEST(ControlCommands, AdminActionsGetTheirArguments) {
  std::vector<std::string> calls;
  ControlActions a;
  a.set_workers = [&](std::size_t n) {
    calls.push_back("workers " + std::to_string(n));
    return std::string();
  };
  a.set_policy = [&](std::string_view p) {
    calls.push_back("policy " + std::string(p));
    return std::string();
  };
  a.drain_worker = [&](pid_t pid) {
    calls.push_back("drain " + std::to_string(pid));
    return std::string();
  };
  a.kill_worker = [&](pid_t pid) {
    calls.push_back("kill " + std::to_string(pid));
    return std::string("no worker with pid " + std::to_string(pid));
  };
  a.kill_conn = [&](ConnectionId id) {
    calls.push_back("conn " + std::to_string(id));
    return std::string();
  };
  a.clear_counters = [&] { calls.push_back("clear"); };
  a.reopen_logs = [&] {
    calls.push_back("reopen");
    return std::string("cannot open\nthe file");
  };
  a.shutdown = [&](bool graceful) {
    calls.push_back(graceful ? "shutdown graceful" : "shutdown now");
    return std::string();
  };
  EXPECT_EQ(run("set workers 3", a), "OK workers 3\n");
  EXPECT_EQ(run("set policy mru", a), "OK policy mru\n");
  EXPECT_EQ(run("worker drain 10", a), "OK worker 10 drains\n");
  EXPECT_EQ(run("worker kill 11", a), "ERROR no worker with pid 11\n");
  EXPECT_EQ(run("conn kill 12", a), "OK connection 12 killed\n");
  EXPECT_EQ(run("clear counters", a), "OK counters cleared\n");
  EXPECT_EQ(run("reopen-logs", a), "ERROR cannot open the file\n");  // still one line
  EXPECT_EQ(run("shutdown", a), "OK shutting down (graceful)\n");
  EXPECT_EQ(run("shutdown now", a), "OK shutting down (now)\n");
  EXPECT_EQ(calls, (std::vector<std::string>{"workers 3", "policy mru", "drain 10", "kill 11",
                                             "conn 12", "clear", "reopen", "shutdown graceful",
                                             "shutdown now"}));
}

TEST(ControlCommands, ReadOnlyPeersAreRefusedAdminCommands) {
  bool called = false;
  ControlActions a;
  a.set_workers = [&](std::size_t) {
    called = true;
    return std::string();
  };
  a.reload = [&](std::function<void(std::string)> done) {
    called = true;
    done("");
  };
  a.shutdown = [&](bool) {
    called = true;
    return std::string();
  };
  for (const char* cmd : {"set workers 2", "reload", "shutdown now", "clear counters",
                          "worker kill 5", "conn kill 5", "reopen-logs", "set policy lru",
                          "worker drain 5"}) {
    const std::string out = run(cmd, a, reader());
    EXPECT_EQ(out.rfind("ERROR permission denied: '", 0), 0u) << cmd << ": " << out;
    EXPECT_NE(out.find("uid 65534"), std::string::npos) << out;
    EXPECT_EQ(out.find('\n'), out.size() - 1) << out;
  }
  EXPECT_FALSE(called);
  // A malformed admin command from a read-only peer is a usage error, not a leak of anything.
  EXPECT_EQ(run("set workers x", a, reader()).rfind("ERROR '", 0), 0u);
}

TEST(ControlCommands, MissingActionsAreNotAvailable) {
  const ControlActions none;
  for (const char* cmd : {"show info", "show metrics", "set workers 2", "reload", "shutdown",
                          "clear counters"}) {
    const std::string out = run(cmd, none);
    EXPECT_EQ(out.rfind("ERROR ", 0), 0u) << cmd;
    EXPECT_NE(out.find("is not available"), std::string::npos) << out;
  }
}

TEST(ControlCommands, ReloadAnswersWhenDone) {
  std::function<void(std::string)> pending;
  ControlActions a;
  a.snapshot = [] { return sample(); };  // generation 2
  a.reload = [&](std::function<void(std::string)> done) { pending = std::move(done); };
  std::vector<std::string> answers;
  executeControlCommand("reload", admin(), a, [&](std::string r) { answers.push_back(r); });
  EXPECT_TRUE(answers.empty()) << "answered before the reload finished";
  ASSERT_TRUE(pending);
  pending("");
  EXPECT_EQ(answers, std::vector<std::string>{"OK generation 2 ready\n"});

  answers.clear();
  executeControlCommand("reload", admin(), a, [&](std::string r) { answers.push_back(r); });
  pending("bad configuration: --workers 0");
  EXPECT_EQ(answers,
            std::vector<std::string>{"ERROR reload rejected: bad configuration: --workers 0\n"});
}

TEST(ControlCommands, ThrowingActionsBecomeErrors) {
  ControlActions a;
  a.snapshot = []() -> StatsSnapshot { throw std::runtime_error("boom"); };
  EXPECT_EQ(run("show info", a), "ERROR internal error: boom\n");
}

TEST(ControlCommands, RequiredLevels) {
  for (ControlVerb v : {ControlVerb::Help, ControlVerb::ShowInfo, ControlVerb::ShowWorkers,
                        ControlVerb::ShowConns, ControlVerb::ShowHist, ControlVerb::ShowMetrics}) {
    EXPECT_EQ(requiredLevel(v), AccessLevel::ReadOnly);
  }
  for (ControlVerb v : {ControlVerb::SetWorkers, ControlVerb::SetPolicy, ControlVerb::WorkerDrain,
                        ControlVerb::WorkerKill, ControlVerb::ConnKill, ControlVerb::ClearCounters,
                        ControlVerb::Reload, ControlVerb::ReopenLogs, ControlVerb::Shutdown}) {
    EXPECT_EQ(requiredLevel(v), AccessLevel::Admin);
  }
}

}  // namespace
}  // namespace preforkd
