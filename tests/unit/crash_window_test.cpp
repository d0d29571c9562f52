// CrashWindow: which deaths count as crashes, and "limit crashes within interval".
#include "supervisor/crash_window.h"

#include <csignal>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

using std::chrono::milliseconds;

TimePoint t(int ms) { return TimePoint{} + milliseconds(ms); }

struct SignalCase {
  int sig;
  bool crash;
};

class CrashSignals : public ::testing::TestWithParam<SignalCase> {};

TEST_P(CrashSignals, Classify) {
  EXPECT_EQ(isCrashSignal(GetParam().sig), GetParam().crash) << "signal " << GetParam().sig;
}

INSTANTIATE_TEST_SUITE_P(
    All, CrashSignals,
    ::testing::Values(SignalCase{SIGSEGV, true}, SignalCase{SIGBUS, true},
                      SignalCase{SIGABRT, true}, SignalCase{SIGILL, true},
                      SignalCase{SIGFPE, true}, SignalCase{SIGSYS, true},
                      SignalCase{SIGTRAP, true},
                      // Operators, the OOM killer and our own time limits.
                      SignalCase{SIGKILL, false}, SignalCase{SIGTERM, false},
                      SignalCase{SIGINT, false}, SignalCase{SIGHUP, false},
                      SignalCase{SIGPIPE, false}, SignalCase{SIGUSR1, false},
                      SignalCase{0, false}));

struct Record {
  int at_ms;
  bool brake;  // record()'s answer
};

struct WindowCase {
  const char* name;
  unsigned limit;
  int interval_ms;
  std::vector<Record> crashes;
  int query_ms;
  std::size_t recent;
  // gtest prints the case by name instead of its bytes.
  friend void PrintTo(const WindowCase& c, std::ostream* os) { *os << c.name; }
};

class CrashWindowScript : public ::testing::TestWithParam<WindowCase> {};

TEST_P(CrashWindowScript, Records) {
  const WindowCase& c = GetParam();
  CrashWindow window(c.limit, milliseconds(c.interval_ms));
  for (const Record& r : c.crashes) {
    EXPECT_EQ(window.record(t(r.at_ms)), r.brake) << "crash at " << r.at_ms << "ms";
  }
  EXPECT_EQ(window.recent(t(c.query_ms)), c.recent);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CrashWindowScript,
    ::testing::Values(
        WindowCase{"below_the_limit", 3, 1000, {{0, false}, {100, false}}, 200, 2},
        WindowCase{"limit_within_the_interval", 3, 1000,
                   {{0, false}, {100, false}, {900, true}}, 900, 3},
        WindowCase{"every_further_crash_keeps_the_brake", 3, 1000,
                   {{0, false}, {100, false}, {200, true}, {300, true}}, 300, 3},
        WindowCase{"spread_out_crashes_never_trip", 3, 1000,
                   {{0, false}, {600, false}, {1200, false}, {1800, false}, {2400, false}},
                   2400, 2},
        WindowCase{"exactly_interval_apart_still_counts", 2, 1000,
                   {{0, false}, {1000, true}}, 1000, 2},
        WindowCase{"just_past_the_interval_does_not", 2, 1000,
                   {{0, false}, {1001, false}}, 1001, 1},
        WindowCase{"crashes_age_out", 2, 1000, {{0, false}, {500, true}}, 1600, 0},
        WindowCase{"limit_one_trips_on_every_crash", 1, 1000, {{0, true}, {5000, true}}, 5000,
                   1},
        WindowCase{"limit_zero_is_off", 0, 1000, {{0, false}, {1, false}, {2, false}}, 2, 0},
        WindowCase{"zero_interval_counts_same_instant_only", 2, 0,
                   {{0, false}, {1, false}, {1, true}}, 1, 2}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(CrashWindow, ConfigureKeepsTheNewestCrashes) {
  CrashWindow window(5, milliseconds(1000));
  for (int ms : {0, 100, 200, 300}) EXPECT_FALSE(window.record(t(ms)));
  window.configure(2, milliseconds(1000));
  EXPECT_EQ(window.recent(t(300)), 2u);
  EXPECT_TRUE(window.record(t(400)));
  window.configure(0, milliseconds(1000));
  EXPECT_EQ(window.recent(t(400)), 0u);
  EXPECT_FALSE(window.record(t(500)));
  window.configure(2, milliseconds(100));
  EXPECT_FALSE(window.record(t(600)));
  EXPECT_TRUE(window.record(t(700)));
  EXPECT_FALSE(window.record(t(801)));  // 700 is more than 100 ms before
}

}  // namespace
}  // namespace preforkd
