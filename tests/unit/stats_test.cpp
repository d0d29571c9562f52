// The control socket's renderings and command language, byte for byte.
#include <gtest/gtest.h>

#include "supervisor/control_commands.h"
#include "supervisor/stats.h"

namespace preforkd {
namespace {

StatsSnapshot sample() {
  StatsSnapshot s;
  s.pid = 42;
  s.version = "0.1.0";
  s.uptime = std::chrono::milliseconds(12'345);
  s.listeners = {"127.0.0.1:2323", "[::1]:2323"};
  s.service = "echo";
  s.workers_configured = 2;
  s.workers_total = 2;
  s.idle = 1;
  s.busy = 1;
  s.counters.accepted = 10;
  s.counters.dispatched = 11;
  s.redispatched = 1;
  s.counters.completed = 9;
  s.counters.children_spawned = 3;
  s.counters.children_exited = 1;
  s.now = TimePoint{} + std::chrono::seconds(100);
  ChildRecord idle;
  idle.slot = 0;
  idle.pid = 1000;
  idle.state = ChildState::Idle;
  idle.served = 5;
  ChildRecord busy;
  busy.slot = 1;
  busy.pid = 1001;
  busy.state = ChildState::Busy;
  busy.served = 4;
  busy.conn = 10;
  busy.state_since = TimePoint{} + std::chrono::milliseconds(98'500);
  s.children = {idle, busy};
  return s;
}

TEST(Stats, InfoIsKeyValueLines) {
  const std::string out = renderInfo(sample());
  EXPECT_EQ(out.rfind("pid: 42\nversion: 0.1.0\nuptime_s: 12.345\nstate: running\n"
                      "listen: 127.0.0.1:2323\nlisten: [::1]:2323\nservice: echo\n",
                      0),
            0u)
      << out;
  for (const char* line : {"workers_total: 2\n", "workers_idle: 1\n", "workers_busy: 1\n",
                           "workers_starting: 0\n", "conns_accepted: 10\n",
                           "conns_dispatched: 11\n", "conns_redispatched: 1\n",
                           "conns_completed: 9\n", "children_spawned: 3\n",
                           "children_exited: 1\n", "throttled: no\n"}) {
    EXPECT_NE(out.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(out.find("\n\n"), std::string::npos);  // never an empty line inside a response
  EXPECT_EQ(out.back(), '\n');
}

TEST(Stats, WorkersTable) {
  EXPECT_EQ(renderWorkers(sample()),
            "slot pid state served conn conn_age_s\n"
            "0 1000 idle 5 - -\n"
            "1 1001 busy 4 10 1.500\n");
}

TEST(ControlCommands, Dispatch) {
  int snapshots = 0;
  auto snap = [&] {
    ++snapshots;
    return sample();
  };
  EXPECT_EQ(executeControlCommand("show info", snap), renderInfo(sample()));
  EXPECT_EQ(executeControlCommand("  show   workers ", snap), renderWorkers(sample()));
  EXPECT_EQ(snapshots, 2);
  const std::string help = executeControlCommand("help", snap);
  EXPECT_NE(help.find("show info"), std::string::npos);
  EXPECT_EQ(snapshots, 2);  // help needs no snapshot
  for (const char* bad : {"", "show", "show nothing", "SHOW INFO", "show info extra", "\x01\x02"}) {
    const std::string out = executeControlCommand(bad, snap);
    EXPECT_EQ(out.rfind("ERROR ", 0), 0u) << bad;
    EXPECT_EQ(out.find("\n"), out.size() - 1) << "one line: " << out;
  }
}

}  // namespace
}  // namespace preforkd
