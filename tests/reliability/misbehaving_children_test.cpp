// End-to-end: time limits and crash-loop brakes, driven by a deliberately misbehaving worker
// (tests/tools/test_worker.cpp, run through --worker-exec).
#include <signal.h>

#include <regex>

#include "harness.h"

namespace e2e {
namespace {

std::vector<std::string> withWorker(std::vector<std::string> args,
                                    const std::vector<std::string>& worker) {
  args.push_back("--worker-exec");
  args.push_back(PREFORKD_TEST_WORKER_BINARY);
  for (const std::string& w : worker) args.push_back(w);
  return args;
}

// A worker that never says Taken is killed after the hand-off limit, and the client goes to
// another worker (which here misbehaves the same way: the redispatch is what we check).
TEST(TimeLimits, HandoffTimeoutKillsTheChildAndRedispatches) {
  PreforkdProcess p(withWorker({"--workers", "1", "--handoff-timeout", "300ms", "--kill-grace",
                                "300ms"},
                               {"never-taken"}));
  ASSERT_TRUE(p.waitReady());
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(p.waitForLog(std::regex("worker \\d+ .*: handoff time limit .*connection 1 from "
                                      "127\\.0\\.0\\.1:\\d+\\): SIGTERM"),
                           5s));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "conns_redispatched") >= 1; }, 5s,
                         "the client was redispatched"));
  EXPECT_EQ(p.infoNumber("conns_lost_in_service"), 0u);
}

TEST(TimeLimits, StartupTimeoutKillsAChildThatNeverSaysReady) {
  PreforkdProcess p(withWorker({"--workers", "1", "--startup-timeout", "300ms", "--kill-grace",
                                "300ms"},
                               {"never-ready"}));
  ASSERT_TRUE(p.waitForLog(std::regex("worker \\d+ .*: startup time limit .*: SIGTERM"), 5s));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "children_start_failures") >= 1; }, 5s,
                         "counted as a start-up failure"));
  EXPECT_TRUE(p.waitForLog(std::regex("throttled|next attempt in \\d+ ms"), 5s));
}

// The worker's own session limit is bypassed (it hangs and ignores SIGTERM): the supervisor's
// backstop sends SIGTERM after max-session + grace, then SIGKILL.
TEST(TimeLimits, SessionBackstopEscalatesToKill) {
  PreforkdProcess p(withWorker({"--workers", "1", "--max-session", "300ms", "--session-grace",
                                "300ms", "--kill-grace", "300ms"},
                               {"hang-in-session"}));
  ASSERT_TRUE(p.waitReady());
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  std::size_t cursor = 0;
  ASSERT_TRUE(p.waitForLog(std::regex("worker (\\d+) .*: session time limit .*: SIGTERM"), 5s, &cursor));
  ASSERT_TRUE(p.waitForLog(std::regex("worker (\\d+) .*: escalation time limit .*: SIGKILL"), 5s, &cursor));
  const auto rest = c.readAll(3s);
  EXPECT_TRUE(rest.eof || rest.error != 0) << "the client is closed when its worker is killed";
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "conns_lost_in_service") == 1; }, 5s,
                         "the killed session is counted"));
  ASSERT_TRUE(p.waitPoolFull(1));
}

// ---------------------------------------------------------------- crash-loop brakes

TEST(Brakes, CrashAtStartBacksOffAndTheSupervisorStaysResponsive) {
  PreforkdProcess p(withWorker({"--workers", "4", "--respawn-backoff-max", "1s"}, {"crash-at-start"}));
  // By the time the back-off reaches its 1 s cap (over a second of failures), a fork loop
  // would have started thousands; the brake allows a handful.
  ASSERT_TRUE(p.waitForLog(std::regex("next attempt in 1000 ms"), 10s)) << p.log();
  const auto info = p.info();
  ASSERT_FALSE(info.empty()) << "control socket answers while workers crash";
  EXPECT_LT(infoValue(info, "children_spawned"), 20u);
  EXPECT_GE(infoValue(info, "children_spawned"), 4u);
  EXPECT_EQ(info.at("throttled"), "yes");
  EXPECT_GE(countMatches(p.log(), std::regex("next attempt in \\d+ ms")), 2u);
  // The delay doubles up to the cap (100, 200, 400, 800 ms, then 1 s).
  EXPECT_GE(countMatches(p.log(), std::regex("next attempt in (800|1000) ms")), 1u) << p.log();
}

TEST(Brakes, NoRestartExitCodeHaltsSpawningUntilReload) {
  PreforkdProcess p(withWorker({"--workers", "2"}, {"exit-at-start", "78"}));
  ASSERT_TRUE(p.waitForLog(std::regex("exited with status 78: its configuration is broken"), 5s));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "workers_total") == 0; }, 5s, "all gone"));
  const std::uint64_t spawned = p.infoNumber("children_spawned");
  EXPECT_LE(spawned, 2u);
  // Nothing more is started...
  std::this_thread::sleep_for(500ms);  // a window in which a respawn would show
  EXPECT_EQ(p.infoNumber("children_spawned"), spawned);
  // ...until a reload tries again.
  p.signal(SIGHUP);
  ASSERT_TRUE(p.waitInfo([&](const auto& i) { return infoValue(i, "children_spawned") > spawned; }, 5s,
                         "reload starts workers again"));
}

TEST(Brakes, RepeatedCrashesThrottleRespawning) {
  PreforkdProcess p(withWorker({"--workers", "2", "--crash-limit", "3", "--crash-interval", "30s"},
                               {"crash-on-connection"}));
  ASSERT_TRUE(p.waitReady());
  for (int i = 0; i < 3; ++i) {
    Client c;
    ASSERT_TRUE(c.connect(p.port()));
    const auto rest = c.readAll(3s);
    EXPECT_TRUE(rest.eof || rest.error != 0);
  }
  EXPECT_TRUE(p.waitForLog(std::regex("workers crash repeatedly \\(3 within 30 s\\): throttling respawns"), 5s));
  const auto info = p.info();
  EXPECT_EQ(info.at("throttled"), "yes");
}

}  // namespace
}  // namespace e2e
