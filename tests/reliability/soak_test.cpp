// Reliability scenario 6, soak: steady load with recycling (--max-connections-per-child 40,
// --recycle-jitter 10) and a random worker SIGKILLed every second. Sampled once a second: the
// supervisor's RSS must not grow by 1 MiB or more after the warm-up (the first quarter of the
// run, at least 5 s; asserted in builds without sanitizers, whose quarantine keeps freed memory
// resident), its descriptor count must stay within what the load explains (a hand-off in
// flight per worker, a dead worker's channel until it is reaped, the sampling control client)
// and end at the baseline exactly, and no child may be a zombie at two samples in a row (a
// missed reap). No session may be refused or fail; only those of killed workers may be cut.
//
// CI runs 20 s. A long run by hand:
//   PREFORKD_SOAK_SECONDS=3600 build/tests/preforkd_reliability_tests --gtest_filter='Soak.*'
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>

#include "tests/reliability/reliability_fixture.h"
#include "tests/reliability/session_recorder.h"

namespace e2e {
namespace {

class Soak : public ReliabilityTest {};

std::chrono::seconds soakDuration() {
  const char* text = std::getenv("PREFORKD_SOAK_SECONDS");
  const long s = text != nullptr ? std::atol(text) : 0;
  return std::chrono::seconds(s > 0 ? s : 20);
}

std::string n(std::uint64_t v) { return std::to_string(v); }

TEST_F(Soak, SteadyLoadWithRecyclingAndKillsLeaksNothing) {
  constexpr std::size_t kPool = 4;
  constexpr long kRssBudgetKiB = 1024;
  const auto duration = soakDuration();
  const auto warmup = std::max<std::chrono::seconds>(5s, duration / 4);
  ASSERT_TRUE(launch({"--workers", "4", "--max-connections-per-child", "40", "--recycle-jitter",
                      "10", "--log-level", "info"},
                     kPool));
  PreforkdProcess& p = sup();
  const pid_t pid = p.pid();
  const std::size_t fd_baseline = baseline()->supervisor_fds;
  // Per worker: a client fd in hand-off and, for a killed one, its channel until the reap;
  // plus the control client used for sampling.
  const std::size_t fd_ceiling = fd_baseline + 2 * kPool + 2;
  SessionRecorder load(p.port(), 4, SessionRecorder::Keep::Problems);
  load.start();
  std::mt19937 rng(777);
  std::set<pid_t> killed;
  long rss_at_warmup = -1, rss_max = 0, rss_last = 0;
  std::size_t fd_max = 0, zombie_samples = 0, samples = 0;
  std::set<pid_t> zombies_before;
  const auto start = SteadyClock::now();
  for (auto next = start + 1s; next <= start + duration; next += 1s) {
    std::this_thread::sleep_until(next);  // the sampling pace, not synchronisation
    ++samples;
    // The sample first, then the kill: the kill's own zombie shows at the next sample only if
    // the supervisor never reaped it.
    const std::size_t fds = fdTargets(pid).size();
    fd_max = std::max(fd_max, fds);
    EXPECT_LE(fds, fd_ceiling) << "descriptors at " << samples << " s:\n" << describeFds(fdTargets(pid));
    const auto zombies = zombieChildren(pid);
    zombie_samples += zombies.empty() ? 0 : 1;
    for (pid_t z : zombies) {
      EXPECT_FALSE(zombies_before.contains(z)) << "child " << z << " stayed a zombie for a second";
    }
    zombies_before = std::set<pid_t>(zombies.begin(), zombies.end());
    rss_last = rssKiB(pid);
    if (next - start >= warmup) {
      if (rss_at_warmup < 0) rss_at_warmup = rss_last;
      rss_max = std::max(rss_max, rss_last);
    }
    const auto pids = p.workerPids();
    if (!pids.empty()) {
      const pid_t victim = pids[rng() % pids.size()];
      if (!killed.contains(victim) && ::kill(victim, SIGKILL) == 0) killed.insert(victim);
    }
  }
  load.stop();
  ASSERT_TRUE(p.waitPoolFull(kPool, 10s));
  const auto info = p.info();
  const long growth = rss_max - rss_at_warmup;
  if (!kSanitizedBuild) {
    EXPECT_LT(growth, kRssBudgetKiB) << "RSS grew from " << rss_at_warmup << " to " << rss_max << " KiB";
  }
  EXPECT_EQ(load.refused(), 0u) << load.summary();
  EXPECT_EQ(load.failed(), 0u) << load.summary();
  EXPECT_LE(load.cut(), killed.size()) << "only a killed worker's session may be cut";
  EXPECT_GT(load.served(), 100u * static_cast<std::uint64_t>(duration.count()) / 10);
  for (const SessionRecord& r : load.records()) {
    if (r.end == SessionEnd::Cut && r.worker > 0) {
      EXPECT_TRUE(killed.contains(r.worker)) << "a session of worker " << r.worker << " was cut";
    }
  }
  EXPECT_GE(infoValue(info, "children_recycled"), 10u);
  EXPECT_EQ(infoValue(info, "conns_accepted"), load.served() + load.cut());
  EXPECT_EQ(infoValue(info, "conns_accepted"),
            infoValue(info, "conns_completed") + infoValue(info, "conns_lost_in_service"));
  EXPECT_TRUE(p.waitInfo(
      [](const auto& i) { return infoValue(i, "children_exited") + kPool == infoValue(i, "children_spawned"); },
      5s, "every child that left was reaped"));
  figures("soak", {{"duration_s", n(static_cast<std::uint64_t>(duration.count()))},
                   {"warmup_s", n(static_cast<std::uint64_t>(warmup.count()))},
                   {"sessions", n(load.total())},
                   {"served", n(load.served())},
                   {"cut", n(load.cut())},
                   {"refused", n(load.refused())},
                   {"failed", n(load.failed())},
                   {"kills", n(killed.size())},
                   {"recycled", n(infoValue(info, "children_recycled"))},
                   {"children_spawned", n(infoValue(info, "children_spawned"))},
                   {"rss_at_warmup_kib", std::to_string(rss_at_warmup)},
                   {"rss_max_kib", std::to_string(rss_max)},
                   {"rss_growth_kib", std::to_string(growth)},
                   {"fd_baseline", n(fd_baseline)},
                   {"fd_max", n(fd_max)},
                   {"samples", n(samples)},
                   {"samples_with_a_zombie", n(zombie_samples)}});
}

}  // namespace
}  // namespace e2e
