// Reliability scenario 2, descriptor exhaustion: the supervisor's RLIMIT_NOFILE is lowered
// (prlimit on its pid: at start-up it raises its soft limit to the hard one, so a launch
// wrapper would be undone) to just above what it holds, and a flood of clients arrives. It
// must stay up, stay cheap (utime + stime over the flood below 10% of one CPU), log the EMFILE
// at most once a second, and recover within a second once descriptors are available again.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>

#include "tests/reliability/reliability_fixture.h"

namespace e2e {
namespace {

class Exhaustion : public ReliabilityTest {};

testing::AssertionResult openSession(Client& c, int port) {
  if (auto r = c.connect(port); !r) return r;
  const auto line = c.readLine(5s);
  if (!line || !parseBanner(*line)) {
    return testing::AssertionFailure() << "no banner; got '" << line.value_or(c.pending()) << "'";
  }
  return testing::AssertionSuccess();
}

testing::AssertionResult closeSession(Client& c) {
  if (auto r = c.send("quit\r\n"); !r) return r;
  if (c.readLine(5s) != "Goodbye.") return testing::AssertionFailure() << "no Goodbye";
  if (!c.readAll(5s).eof) return testing::AssertionFailure() << "no EOF after Goodbye";
  c.close();
  return testing::AssertionSuccess();
}

// Milliseconds since the epoch (local time, as logged) of each log line matching `re`.
std::vector<long long> lineTimes(const std::string& log, const std::regex& re) {
  static const std::regex stamp(R"(^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3}) )");
  std::vector<long long> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_search(line, re) || !std::regex_search(line, m, stamp)) continue;
    std::tm tm{};
    tm.tm_year = std::stoi(m[1]) - 1900;
    tm.tm_mon = std::stoi(m[2]) - 1;
    tm.tm_mday = std::stoi(m[3]);
    tm.tm_hour = std::stoi(m[4]);
    tm.tm_min = std::stoi(m[5]);
    tm.tm_sec = std::stoi(m[6]);
    tm.tm_isdst = -1;
    out.push_back(static_cast<long long>(std::mktime(&tm)) * 1000 + std::stoi(m[7]));
  }
  return out;
}

TEST_F(Exhaustion, FdLimitPausesAcceptsWithoutSpinningAndRecovers) {
  constexpr int kFlood = 100;
  constexpr auto kWindow = 3s;
  constexpr double kCpuBound = 0.10;  // of one CPU, over the flood
  expectLogLine(R"(accept: Too many open files; pausing accepts)");
  // A queue makes the supervisor accept while every worker is busy, so it runs out of fds.
  ASSERT_TRUE(launch({"--workers", "2", "--log-level", "info", "--queue", "200",
                      "--queue-timeout", "60s"},
                     2));
  PreforkdProcess& p = sup();
  std::vector<Client> held(2);
  for (Client& c : held) ASSERT_TRUE(openSession(c, p.port()));
  // Lower the supervisor's limit to just above what it holds now; then flood it.
  const std::size_t open_now = fdTargets(p.pid()).size();
  rlimit original{};
  ASSERT_EQ(::prlimit(p.pid(), RLIMIT_NOFILE, nullptr, &original), 0) << std::strerror(errno);
  const rlimit low{open_now + 4, original.rlim_max};
  ASSERT_EQ(::prlimit(p.pid(), RLIMIT_NOFILE, &low, nullptr), 0) << std::strerror(errno);
  const long ticks_per_s = ::sysconf(_SC_CLK_TCK);
  const long cpu_before = cpuTicks(p.pid());
  const auto flood_start = SteadyClock::now();
  std::vector<Client> flood(kFlood);
  for (Client& c : flood) ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(p.waitForLog(std::regex("accept: Too many open files; pausing accepts"), 5s));
  // A control client cannot be accepted either (no fd for it); that must not spin either.
  Client control;
  ASSERT_TRUE(control.connectUnix(p.controlPath()));
  std::this_thread::sleep_for(kWindow);  // the window over which CPU time is measured
  const long cpu_used = cpuTicks(p.pid()) - cpu_before;
  const double flood_s = std::chrono::duration<double>(SteadyClock::now() - flood_start).count();
  const double cpu_share = static_cast<double>(cpu_used) / (static_cast<double>(ticks_per_s) * flood_s);
  EXPECT_LE(cpu_share, kCpuBound) << "the supervisor spun: " << cpu_used << " ticks in " << flood_s << " s";
  EXPECT_TRUE(p.running()) << "the supervisor died of fd exhaustion";

  // Free fds: restore the limit. Every flood client is accepted (queued) within a second.
  const auto freed_at = SteadyClock::now();
  ASSERT_EQ(::prlimit(p.pid(), RLIMIT_NOFILE, &original, nullptr), 0) << std::strerror(errno);
  const std::uint64_t want = 2 + kFlood;
  ASSERT_TRUE(p.waitInfo([&](const auto& i) { return infoValue(i, "conns_accepted") == want; }, 5s,
                         "every flood client accepted"));
  const auto recovery = std::chrono::duration_cast<Ms>(SteadyClock::now() - freed_at);
  EXPECT_LT(recovery, 1s) << "accepting resumed " << recovery.count() << " ms after fds were freed";
  EXPECT_TRUE(control.send("show info\n"));
  EXPECT_TRUE(control.readUntil("\n\n", 3s)) << "the waiting control client is answered";
  for (Client& c : held) ASSERT_TRUE(closeSession(c));
  for (Client& c : flood) {
    const auto line = c.readLine(10s);
    ASSERT_TRUE(line && parseBanner(*line)) << "flood client not served after recovery";
    ASSERT_TRUE(closeSession(c));
  }
  ASSERT_TRUE(p.waitCompleted(want, 10s));

  // The EMFILE is logged at most once a second (the log's clock has millisecond steps).
  const auto times = lineTimes(p.log(), std::regex("accept: Too many open files; pausing accepts"));
  ASSERT_FALSE(times.empty());
  long long closest = -1;
  for (std::size_t i = 1; i < times.size(); ++i) {
    const long long gap = times[i] - times[i - 1];
    if (closest < 0 || gap < closest) closest = gap;
    EXPECT_GE(gap, 990) << "EMFILE logged twice within " << gap << " ms";
  }
  const std::uint64_t accept_errors = p.infoNumber("accept_errors");
  EXPECT_GT(accept_errors, times.size()) << "retries are counted, not all logged";
  char share[16];
  std::snprintf(share, sizeof share, "%.1f", cpu_share * 100);
  figures("fd-exhaustion", {{"flood", std::to_string(kFlood)},
                            {"fd_limit", std::to_string(low.rlim_cur)},
                            {"flood_s", std::to_string(static_cast<int>(flood_s))},
                            {"cpu_ticks", std::to_string(cpu_used)},
                            {"cpu_percent", share},
                            {"cpu_bound_percent", std::to_string(static_cast<int>(kCpuBound * 100))},
                            {"emfile_log_lines", std::to_string(times.size())},
                            {"closest_log_gap_ms", std::to_string(closest)},
                            {"accept_errors", std::to_string(accept_errors)},
                            {"recovery_ms", std::to_string(recovery.count())}});
}

}  // namespace
}  // namespace e2e
