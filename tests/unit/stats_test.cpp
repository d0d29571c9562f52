// The control socket's text renderings, byte for byte.
#include <gtest/gtest.h>

#include "supervisor/stats.h"
#include "tests/unit/stats_sample.h"

namespace preforkd {
namespace {

using testing_sample::sample;

TEST(Stats, InfoByteForByte) {
  EXPECT_EQ(renderInfo(sample()),
            "pid: 42\n"
            "version: 0.1.0\n"
            "uptime_s: 12.345\n"
            "state: running\n"
            "listen: 127.0.0.1:2323\n"
            "listen: [::1]:2323\n"
            "service: echo\n"
            "started: 2026-11-24T16:46:39Z\n"
            "generation: 2\n"
            "pool_mode: dynamic\n"
            "policy: least-served\n"
            "pool_min_spare: 1\n"
            "pool_max_spare: 3\n"
            "pool_max_children: 10\n"
            "workers_configured: 4\n"
            "workers_total: 4\n"
            "workers_idle: 1\n"
            "workers_busy: 1\n"
            "workers_starting: 1\n"
            "workers_stopping: 1\n"
            "workers_old_generation: 1\n"
            "throttled: yes\n"
            "throttle_reason: 3 start-up failures in a row\n"
            "halted: no\n"
            "drain: off\n"
            "agent: off\n"
            "conns_accepted: 100\n"
            "conns_dispatched: 101\n"
            "conns_redispatched: 3\n"
            "conns_completed: 90\n"
            "conns_queued: 2\n"
            "conns_queued_max: 18\n"
            "queue_capacity: 64\n"
            "queue_oldest_age_s: 0.250\n"
            "conns_dropped: 5\n"
            "conns_lost_in_service: 6\n"
            "conns_rejected_queue_full: 14\n"
            "conns_rejected_queue_timeout: 15\n"
            "conns_rejected_per_source: 16\n"
            "conns_handed_over: 21\n"
            "max_children_reached: 17\n"
            "accept_errors: 4\n"
            "bad_status_messages: 7\n"
            "children_spawned: 8\n"
            "children_exited: 9\n"
            "children_start_failures: 10\n"
            "children_exited_stopped: 1\n"
            "children_exited_error: 2\n"
            "children_exited_crashed: 3\n"
            "children_exited_killed: 2\n"
            "children_exited_no_restart: 1\n"
            "children_recycled: 11\n"
            "children_retired_idle: 12\n"
            "time_limit_kills: 13\n"
            "reloads: 19\n"
            "reloads_failed: 20\n"
            "listen_queue: 127.0.0.1:2323 now 3 limit 511\n"
            "listen_queue: [::1]:2323 now 0 limit 128\n");
}

TEST(Stats, InfoOfAnEmptySnapshotHasNoEmptyLine) {
  const std::string out = renderInfo(StatsSnapshot{});
  EXPECT_EQ(out.find("\n\n"), std::string::npos);
  EXPECT_NE(out.find("throttle_reason: -\n"), std::string::npos) << out;
  EXPECT_NE(out.find("state: running\n"), std::string::npos);
  StatsSnapshot draining;
  draining.draining = true;
  draining.halted = true;
  EXPECT_NE(renderInfo(draining).find("state: draining\n"), std::string::npos);
  EXPECT_NE(renderInfo(draining).find("halted: yes\n"), std::string::npos);
}

TEST(Stats, WorkersTableAndScoreboard) {
  EXPECT_EQ(renderWorkers(sample()),
            "slot pid state served conn conn_age_s gen peer last_conn_s started\n"
            "0 1000 starting 0 - - 2 - - 2026-11-24T16:48:18Z\n"
            "1 1001 idle 5 - - 2 - 0.012 2026-11-24T16:46:40Z\n"
            "2 1002 busy 4 77 1.500 2 127.0.0.1:5555 0.003 2026-11-24T16:46:41Z\n"
            "4 999 busy 50 70 30.000 1 10.0.0.1:40000 0.002 2026-11-24T16:46:39Z\n"
            "scoreboard: S_WG\n");
  EXPECT_EQ(renderWorkers(StatsSnapshot{}),
            "slot pid state served conn conn_age_s gen peer last_conn_s started\n"
            "scoreboard: -\n");
}

TEST(Stats, ScoreboardCharacters) {
  struct Case {
    ChildState state;
    bool stop_requested;
    char expected;
  };
  for (const Case& c : {Case{ChildState::Starting, false, 'S'}, Case{ChildState::Idle, false, '_'},
                        Case{ChildState::Busy, false, 'W'}, Case{ChildState::Stopping, false, 'G'},
                        Case{ChildState::Busy, true, 'G'}, Case{ChildState::Idle, true, 'G'},
                        Case{ChildState::Stopping, true, 'G'}, Case{ChildState::Empty, false, '.'}}) {
    ChildRecord r;
    r.state = c.state;
    r.stop_requested = c.stop_requested;
    EXPECT_EQ(scoreboardChar(r), c.expected) << toString(c.state) << " " << c.stop_requested;
  }
  StatsSnapshot s;
  ChildRecord empty;  // Empty slots are not live children: never drawn
  ChildRecord idle;
  idle.state = ChildState::Idle;
  s.children = {idle, empty, idle};
  EXPECT_EQ(renderScoreboard(s), "__");
}

TEST(Stats, ConnsTable) {
  EXPECT_EQ(renderConns(sample()),
            "id peer child state age_s queue_wait_s\n"
            "77 127.0.0.1:5555 1002 in-service 1.502 0.000\n"
            "78 127.0.0.1:5556 - queued 0.250 0.250\n");
  EXPECT_EQ(renderConns(StatsSnapshot{}), "id peer child state age_s queue_wait_s\n");
}

TEST(Stats, HistInMicroseconds) {
  // queue_wait: nine 10 us values and one 1 ms value; handoff: four 25 us values.
  EXPECT_EQ(renderHist(sample()),
            "histogram count p50_us p90_us p99_us p99.9_us max_us mean_us\n"
            "queue_wait 10 10 10 1000 1000 1000 109\n"
            "handoff 4 25 25 25 25 25 25\n"
            "service_time 0 0 0 0 0 0 0\n"
            "startup 0 0 0 0 0 0 0\n");
}

TEST(Stats, WallTime) {
  using namespace std::chrono;
  EXPECT_EQ(formatWallTime(system_clock::time_point{}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatWallTime(system_clock::time_point{} + seconds(1'795'538'799) + milliseconds(999)),
            "2026-11-24T16:46:39Z");
}

}  // namespace
}  // namespace preforkd
