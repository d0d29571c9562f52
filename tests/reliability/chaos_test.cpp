// Reliability scenario 1, chaos: a random worker is SIGKILLed every 100 ms while clients
// connect continuously. Every accepted client is served in full, except those whose serving
// worker was killed, and those are counted exactly: each session the clients saw cut is
// matched, by connection id (or, before the banner, by the client's port), to a "died while
// serving" line of the supervisor, whose counters must agree with the clients' view to the
// unit.
#include <signal.h>

#include <map>
#include <random>
#include <set>

#include "tests/reliability/reliability_fixture.h"
#include "tests/reliability/session_recorder.h"

namespace e2e {
namespace {

class Chaos : public ReliabilityTest {};

struct LostConnection {
  pid_t worker;
  std::uint64_t conn;
  int port;
};

std::vector<LostConnection> lostConnections(const std::string& log) {
  static const std::regex re(R"(worker (\d+) died while serving connection (\d+) from 127\.0\.0\.1:(\d+))");
  std::vector<LostConnection> out;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it) {
    out.push_back({static_cast<pid_t>(std::stol((*it)[1])), std::stoull((*it)[2]), std::stoi((*it)[3])});
  }
  return out;
}

TEST_F(Chaos, RandomKillsLoseOnlyTheKilledSessions) {
  constexpr auto kDuration = 12s;
  constexpr auto kPace = 100ms;
  ASSERT_TRUE(launch({"--workers", "4", "--log-level", "info"}, 4));
  PreforkdProcess& p = sup();
  SessionRecorder load(p.port(), 4);
  load.start();
  std::mt19937 rng(12345);
  std::set<pid_t> killed;
  int kills = 0;
  const auto end = SteadyClock::now() + kDuration;
  while (SteadyClock::now() < end) {
    const auto pids = p.workerPids();
    if (!pids.empty()) {
      const pid_t victim = pids[rng() % pids.size()];
      // A child already killed but not reaped yet is listed still; count each one once.
      if (!killed.contains(victim) && ::kill(victim, SIGKILL) == 0) {
        killed.insert(victim);
        ++kills;
      }
    }
    std::this_thread::sleep_for(kPace);  // the scenario's pace, not synchronisation
  }
  load.stop();
  ASSERT_TRUE(p.waitPoolFull(4, 10s));
  const auto info = p.info();
  EXPECT_EQ(load.refused(), 0u) << load.summary();
  EXPECT_EQ(load.failed(), 0u) << load.summary();
  EXPECT_GT(load.served(), 200u) << load.summary();
  EXPECT_GE(kills, 60);

  // The supervisor's account of every connection a dying worker took with it.
  const std::vector<LostConnection> lost = lostConnections(p.log());
  std::map<std::uint64_t, SessionRecord> served, cut_after_banner;
  std::multiset<int> cut_before_banner;  // client ports
  for (const SessionRecord& r : load.records()) {
    if (r.end == SessionEnd::Served) served.emplace(r.conn, r);
    if (r.end == SessionEnd::Cut && r.conn != 0) cut_after_banner.emplace(r.conn, r);
    if (r.end == SessionEnd::Cut && r.conn == 0) cut_before_banner.insert(r.local_port);
  }
  // A worker killed after its client saw Goodbye and EOF but before its Available reached the
  // supervisor: the client was served in full, the supervisor rightly counts a loss.
  std::uint64_t served_then_lost = 0, matched_cuts = 0;
  for (const LostConnection& l : lost) {
    EXPECT_TRUE(killed.contains(l.worker))
        << "worker " << l.worker << " lost connection " << l.conn << " but was never killed";
    if (auto it = cut_after_banner.find(l.conn); it != cut_after_banner.end()) {
      EXPECT_EQ(it->second.worker, l.worker) << "connection " << l.conn;
      cut_after_banner.erase(it);
      ++matched_cuts;
    } else if (served.contains(l.conn)) {
      ++served_then_lost;
    } else if (auto at = cut_before_banner.find(l.port); at != cut_before_banner.end()) {
      cut_before_banner.erase(at);
      ++matched_cuts;
    } else {
      ADD_FAILURE() << "connection " << l.conn << " from port " << l.port
                    << " lost in worker " << l.worker << " matches no client session";
    }
  }
  EXPECT_TRUE(cut_after_banner.empty())
      << cut_after_banner.size() << " client(s) cut after the banner with no loss in the log, e.g. connection "
      << cut_after_banner.begin()->first;
  EXPECT_TRUE(cut_before_banner.empty())
      << cut_before_banner.size() << " client(s) cut before the banner with no loss in the log";
  // Exact accounting: clients' view == supervisor's counters.
  const std::uint64_t accepted = infoValue(info, "conns_accepted");
  const std::uint64_t completed = infoValue(info, "conns_completed");
  const std::uint64_t lost_count = infoValue(info, "conns_lost_in_service");
  EXPECT_EQ(lost_count, lost.size());
  EXPECT_EQ(matched_cuts, load.cut()) << load.summary();
  EXPECT_EQ(lost_count, load.cut() + served_then_lost) << load.summary();
  EXPECT_EQ(accepted, load.served() + load.cut()) << load.summary();
  EXPECT_EQ(completed + served_then_lost, load.served()) << load.summary();
  EXPECT_EQ(accepted, completed + lost_count);
  figures("chaos", {{"duration_s", std::to_string(kDuration.count())},
                    {"kills", std::to_string(kills)},
                    {"sessions", std::to_string(load.total())},
                    {"served", std::to_string(load.served())},
                    {"cut", std::to_string(load.cut())},
                    {"served_then_lost", std::to_string(served_then_lost)},
                    {"refused", std::to_string(load.refused())},
                    {"failed", std::to_string(load.failed())},
                    {"accepted", std::to_string(accepted)},
                    {"completed", std::to_string(completed)},
                    {"lost_in_service", std::to_string(lost_count)},
                    {"redispatched", std::to_string(infoValue(info, "conns_redispatched"))}});
}

}  // namespace
}  // namespace e2e
