// Reliability scenario 4, children that misbehave: time limits, crash-loop brakes and
// untrustworthy status messages, driven by a deliberately misbehaving worker
// (tests/tools/test_worker.cpp, run through --worker-exec). Whatever a child does, it is
// logged, counted, killed and replaced as docs/lifecycle.md and docs/protocol.md say, and the
// supervisor never aborts (the fixture stops it with SIGTERM and expects status 0).
#include <signal.h>

#include <map>
#include <regex>

#include "tests/reliability/reliability_fixture.h"

namespace e2e {
namespace {

class TimeLimits : public ReliabilityTest {};
class Brakes : public ReliabilityTest {};
class StatusGossip : public ReliabilityTest {};

std::string n(std::uint64_t v) { return std::to_string(v); }

// One round trip with the test worker's echo: a line, its echo, then our EOF and its EOF.
testing::AssertionResult echoRoundTrip(int port, const std::string& line) {
  Client c;
  if (auto r = c.connect(port); !r) return r;
  if (auto r = c.send(line + "\r\n"); !r) return r;
  const auto got = c.readLine(3s);
  if (got != line) return testing::AssertionFailure() << "echo: '" << got.value_or("<nothing>") << "'";
  c.shutdownWrite();
  const auto rest = c.readAll(3s);
  if (!rest.eof || !rest.data.empty()) return testing::AssertionFailure() << "no clean EOF";
  return testing::AssertionSuccess();
}

// ---------------------------------------------------------------- time limits

// A worker that never says Taken is killed after the hand-off limit, and the client goes to
// another worker (which here misbehaves the same way: the redispatch is what we check).
TEST_F(TimeLimits, HandoffTimeoutKillsTheChildAndRedispatches) {
  PreforkdProcess& p = launchUnready(withTestWorker({"--workers", "1", "--handoff-timeout", "300ms",
                                                     "--kill-grace", "300ms"},
                                                    {"never-taken"}));
  ASSERT_TRUE(p.waitReady());
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(p.waitForLog(std::regex("worker \\d+ .*: handoff time limit .*connection 1 from "
                                      "127\\.0\\.0\\.1:\\d+\\): SIGTERM"),
                           5s));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "conns_redispatched") >= 1; }, 5s,
                         "the client was redispatched"));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "children_spawned") >= 2; }, 5s,
                         "the killed child was replaced"));
  const auto info = p.info();
  EXPECT_EQ(infoValue(info, "conns_lost_in_service"), 0u);
  EXPECT_GE(infoValue(info, "time_limit_kills"), 1u);
  // The client stays in hand-off to the next child that never takes it: the supervisor and
  // that child both hold its socket, and the pool never settles.
  skipBaselineAudit();
  skipSharingAudit();
  figures("misbehaving.never-taken", {{"redispatched", n(infoValue(info, "conns_redispatched"))},
                                      {"time_limit_kills", n(infoValue(info, "time_limit_kills"))},
                                      {"lost_in_service", n(infoValue(info, "conns_lost_in_service"))}});
  c.close();
}

TEST_F(TimeLimits, StartupTimeoutKillsAChildThatNeverSaysReady) {
  PreforkdProcess& p = launchUnready(withTestWorker({"--workers", "1", "--startup-timeout", "300ms",
                                                     "--kill-grace", "300ms"},
                                                    {"never-ready"}));
  ASSERT_TRUE(p.waitForLog(std::regex("worker \\d+ .*: startup time limit .*: SIGTERM"), 5s));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "children_start_failures") >= 1; }, 5s,
                         "counted as a start-up failure"));
  EXPECT_TRUE(p.waitForLog(std::regex("throttled|next attempt in \\d+ ms"), 5s));
  const auto info = p.info();
  figures("misbehaving.never-ready", {{"start_failures", n(infoValue(info, "children_start_failures"))},
                                      {"time_limit_kills", n(infoValue(info, "time_limit_kills"))}});
}

// The worker's own session limit is bypassed (it hangs and ignores SIGTERM): the supervisor's
// backstop sends SIGTERM after max-session + grace, then SIGKILL.
TEST_F(TimeLimits, SessionBackstopEscalatesToKill) {
  ASSERT_TRUE(launch(withTestWorker({"--workers", "1", "--max-session", "300ms", "--session-grace",
                                     "300ms", "--kill-grace", "300ms"},
                                    {"hang-in-session"}),
                     1));
  PreforkdProcess& p = sup();
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
  const auto info = p.info();
  EXPECT_EQ(infoValue(info, "children_exited_killed"), 1u);
  figures("misbehaving.hang-in-session", {{"lost_in_service", n(infoValue(info, "conns_lost_in_service"))},
                                          {"time_limit_kills", n(infoValue(info, "time_limit_kills"))},
                                          {"children_exited_killed", n(infoValue(info, "children_exited_killed"))}});
}

// ---------------------------------------------------------------- crash-loop brakes

// Children that die before Ready, by a crash or by an exit: by the time the back-off reaches
// its 1 s cap (over a second of failures), a fork loop would have started thousands; the brake
// allows a handful, and the supervisor stays responsive.
void expectBrakedStartFailures(PreforkdProcess& p, std::map<std::string, std::string>* info_out) {
  ASSERT_TRUE(p.waitForLog(std::regex("next attempt in 1000 ms"), 10s)) << p.log();
  const auto info = p.info();
  *info_out = info;
  ASSERT_FALSE(info.empty()) << "control socket answers while workers fail";
  EXPECT_LT(infoValue(info, "children_spawned"), 20u);
  EXPECT_GE(infoValue(info, "children_spawned"), 4u);
  EXPECT_EQ(info.at("throttled"), "yes");
  EXPECT_GE(countMatches(p.log(), std::regex("next attempt in \\d+ ms")), 2u);
  // The delay doubles up to the cap (100, 200, 400, 800 ms, then 1 s).
  EXPECT_GE(countMatches(p.log(), std::regex("next attempt in (800|1000) ms")), 1u) << p.log();
}

TEST_F(Brakes, CrashAtStartBacksOffAndTheSupervisorStaysResponsive) {
  PreforkdProcess& p = launchUnready(withTestWorker({"--workers", "4", "--respawn-backoff-max", "1s"},
                                                    {"crash-at-start"}));
  std::map<std::string, std::string> info;
  expectBrakedStartFailures(p, &info);
  figures("misbehaving.crash-at-start", {{"spawned", n(infoValue(info, "children_spawned"))},
                                         {"start_failures", n(infoValue(info, "children_start_failures"))}});
}

TEST_F(Brakes, ExitAtStartBacksOffLikeACrash) {
  PreforkdProcess& p = launchUnready(withTestWorker({"--workers", "4", "--respawn-backoff-max", "1s"},
                                                    {"exit-at-start", "1"}));
  std::map<std::string, std::string> info;
  expectBrakedStartFailures(p, &info);
  EXPECT_GE(infoValue(info, "children_exited_error"), 4u);
  figures("misbehaving.exit-at-start", {{"spawned", n(infoValue(info, "children_spawned"))},
                                        {"start_failures", n(infoValue(info, "children_start_failures"))}});
}

TEST_F(Brakes, NoRestartExitCodeHaltsSpawningUntilReload) {
  expectLogLine(R"(exited with status 78: its configuration is broken)");
  PreforkdProcess& p = launchUnready(withTestWorker({"--workers", "2"}, {"exit-at-start", "78"}));
  ASSERT_TRUE(p.waitForLog(std::regex("exited with status 78: its configuration is broken"), 5s));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "workers_total") == 0; }, 5s, "all gone"));
  const std::uint64_t spawned = p.infoNumber("children_spawned");
  EXPECT_LE(spawned, 2u);
  // Nothing more is started...
  std::this_thread::sleep_for(500ms);  // a window in which a respawn would show
  EXPECT_EQ(p.infoNumber("children_spawned"), spawned);
  EXPECT_EQ(p.info().at("halted"), "yes");
  // ...until a reload tries again.
  p.signal(SIGHUP);
  ASSERT_TRUE(p.waitInfo([&](const auto& i) { return infoValue(i, "children_spawned") > spawned; }, 5s,
                         "reload starts workers again"));
  figures("misbehaving.exit-78", {{"spawned_before_reload", n(spawned)}});
}

TEST_F(Brakes, RepeatedCrashesThrottleRespawning) {
  expectLogLine(R"(workers crash repeatedly \(3 within 30 s\): throttling respawns)");
  ASSERT_TRUE(launch(withTestWorker({"--workers", "2", "--crash-limit", "3", "--crash-interval", "30s"},
                                    {"crash-on-connection"}),
                     2));
  PreforkdProcess& p = sup();
  for (int i = 0; i < 3; ++i) {
    Client c;
    ASSERT_TRUE(c.connect(p.port()));
    const auto rest = c.readAll(3s);
    EXPECT_TRUE(rest.eof || rest.error != 0);
  }
  EXPECT_TRUE(p.waitForLog(std::regex("workers crash repeatedly \\(3 within 30 s\\): throttling respawns"), 5s));
  const auto info = p.info();
  EXPECT_EQ(info.at("throttled"), "yes");
  EXPECT_EQ(infoValue(info, "children_exited_crashed"), 3u);
  EXPECT_EQ(infoValue(info, "conns_lost_in_service"), 3u);
  // Throttled, the pool refills one probe at a time: it need not be full by the end.
  skipBaselineAudit();
  figures("misbehaving.crash-on-connection", {{"crashed", n(infoValue(info, "children_exited_crashed"))},
                                              {"lost_in_service", n(infoValue(info, "conns_lost_in_service"))}});
}

// ---------------------------------------------------------------- untrustworthy status messages

// Garbage on the channel, and Taken/Available for a connection the child was never given:
// logged, counted (three per connection) and ignored; the real hand-off still works, and the
// child is not punished for gossip.
TEST_F(StatusGossip, GarbageStatusIsCountedAndIgnored) {
  constexpr int kSessions = 10;
  ASSERT_TRUE(launch(withTestWorker({"--workers", "2"}, {"garbage-status"}), 2));
  PreforkdProcess& p = sup();
  for (int i = 0; i < kSessions; ++i) ASSERT_TRUE(echoRoundTrip(p.port(), "garbage " + n(i))) << i;
  ASSERT_TRUE(p.waitInfo(
      [](const auto& i) {
        return infoValue(i, "conns_completed") == kSessions &&
               infoValue(i, "bad_status_messages") == 3 * kSessions;
      },
      5s, "every session completed and every bad message counted"));
  const auto info = p.info();
  EXPECT_EQ(infoValue(info, "children_exited"), 0u);
  EXPECT_EQ(infoValue(info, "conns_lost_in_service"), 0u);
  EXPECT_EQ(countMatches(p.log(), std::regex("worker \\d+: bad status message: ")), std::size_t{kSessions});
  EXPECT_EQ(countMatches(p.log(), std::regex("worker \\d+: unexpected (Taken|Available) \\(connection \\d+\\)")),
            std::size_t{2 * kSessions});
  figures("misbehaving.garbage-status", {{"sessions", n(kSessions)},
                                         {"bad_status_messages", n(infoValue(info, "bad_status_messages"))},
                                         {"completed", n(infoValue(info, "conns_completed"))},
                                         {"children_exited", n(infoValue(info, "children_exited"))}});
}

// A second Available for the same connection: with one worker, the next client may already be
// in its hands when the stray message arrives. It must be ignored, never complete the new one.
TEST_F(StatusGossip, DoubleAvailableIsCountedAndIgnored) {
  constexpr int kSessions = 20;
  ASSERT_TRUE(launch(withTestWorker({"--workers", "1"}, {"double-available"}), 1));
  PreforkdProcess& p = sup();
  for (int i = 0; i < kSessions; ++i) ASSERT_TRUE(echoRoundTrip(p.port(), "twice " + n(i))) << i;
  ASSERT_TRUE(p.waitInfo(
      [](const auto& i) {
        return infoValue(i, "conns_completed") == kSessions &&
               infoValue(i, "bad_status_messages") == kSessions;
      },
      5s, "every session completed once and every second Available counted"));
  const auto info = p.info();
  EXPECT_EQ(infoValue(info, "children_exited"), 0u);
  EXPECT_EQ(infoValue(info, "conns_accepted"), std::uint64_t{kSessions});
  figures("misbehaving.double-available", {{"sessions", n(kSessions)},
                                           {"bad_status_messages", n(infoValue(info, "bad_status_messages"))},
                                           {"completed", n(infoValue(info, "conns_completed"))}});
}

}  // namespace
}  // namespace e2e
