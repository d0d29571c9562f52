// Time limits: startup, hand-off, session, drain and SIGKILL escalation, and the instant the
// next one can fire.
#include "supervisor/time_limits.h"

#include <csignal>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

using std::chrono::milliseconds;

TimePoint t(int ms) { return TimePoint{} + milliseconds(ms); }

// One child, put into `state` at `since_ms` through the table's own transitions.
struct ChildSpec {
  ChildSpec(ChildState state_, int since, bool taken_ = false, int taken_at = 0,
            Generation generation_ = 1, bool stop = false, std::optional<int> term = std::nullopt,
            bool kill = false)
      : state(state_), since_ms(since), taken(taken_), taken_ms(taken_at),
        generation(generation_), stop_requested(stop), term_ms(term), kill_sent(kill) {}
  ChildState state;
  int since_ms;
  bool taken;  // Busy: it said Taken at taken_ms
  int taken_ms;
  Generation generation;
  bool stop_requested;
  std::optional<int> term_ms;  // SIGTERM sent then
  bool kill_sent;
};

void place(ChildTable& table, SlotId slot, const ChildSpec& spec) {
  const int added_ms = spec.state == ChildState::Starting ? spec.since_ms : 0;
  table.add(slot, 100 + slot, spec.generation, t(added_ms));
  switch (spec.state) {
    case ChildState::Idle: table.markIdle(slot, t(spec.since_ms)); break;
    case ChildState::Busy:
      table.markIdle(slot, t(0));
      table.markBusy(slot, 1, t(spec.since_ms));
      break;
    case ChildState::Stopping: table.markStopping(slot, t(spec.since_ms)); break;
    default: break;
  }
  ChildRecord& c = *table.find(slot);
  c.conn_taken = spec.taken;
  c.conn_taken_at = t(spec.taken_ms);
  c.stop_requested = spec.stop_requested;
  if (spec.term_ms) c.term_sent_at = t(*spec.term_ms);
  c.kill_sent = spec.kill_sent;
}

// Defaults: startup 30 s, hand-off 5 s, no session limit, grace 10 s, kill grace 2 s.
TimeLimits limits(int max_session_ms = 0, std::optional<int> drain_ms = std::nullopt,
                  Generation current = 1) {
  TimeLimits l;
  l.max_session = milliseconds(max_session_ms);
  if (drain_ms) l.drain_deadline_for_old = t(*drain_ms);
  l.current_generation = current;
  return l;
}

struct Expect {
  LimitKind kind;
  int signal;
};

struct LimitCase {
  const char* name;
  ChildSpec child;
  TimeLimits limits;
  int now_ms;
  std::optional<Expect> action;
  std::optional<int> next_ms;
  // gtest prints the case by name instead of its bytes.
  friend void PrintTo(const LimitCase& c, std::ostream* os) { *os << c.name; }
};

class TimeLimitCases : public ::testing::TestWithParam<LimitCase> {};

TEST_P(TimeLimitCases, OneChild) {
  const LimitCase& c = GetParam();
  ChildTable table(2);
  place(table, 1, c.child);  // slot 0 stays empty
  std::vector<LimitAction> want;
  if (c.action) want.push_back({1, c.action->kind, c.action->signal});
  EXPECT_EQ(checkTimeLimits(table, c.limits, t(c.now_ms)), want);
  const auto next = nextTimeLimit(table, c.limits);
  if (c.next_ms) {
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(*next, t(*c.next_ms));
  } else {
    EXPECT_FALSE(next.has_value());
  }
}

using S = ChildState;
constexpr auto Startup = LimitKind::Startup;
constexpr auto Handoff = LimitKind::Handoff;
constexpr auto Session = LimitKind::Session;
constexpr auto Drain = LimitKind::Drain;
constexpr auto Escalation = LimitKind::Escalation;

INSTANTIATE_TEST_SUITE_P(
    Cases, TimeLimitCases,
    ::testing::Values(
        LimitCase{"starting_within_timeout", {S::Starting, 0}, limits(), 29'999, {}, 30'000},
        LimitCase{"starting_timeout", {S::Starting, 0}, limits(), 30'000,
                  Expect{Startup, SIGTERM}, 30'000},
        LimitCase{"idle_is_never_limited", {S::Idle, 0}, limits(60'000), 1'000'000, {}, {}},
        LimitCase{"handoff_within_timeout", {S::Busy, 1000}, limits(), 5999, {}, 6000},
        LimitCase{"handoff_timeout", {S::Busy, 1000}, limits(), 6000, Expect{Handoff, SIGTERM},
                  6000},
        LimitCase{"taken_without_session_limit", {S::Busy, 1000, true, 2000}, limits(0),
                  10'000'000, {}, {}},
        LimitCase{"session_within_limit_and_grace", {S::Busy, 1000, true, 2000},
                  limits(60'000), 71'999, {}, 72'000},
        LimitCase{"session_over_limit_and_grace", {S::Busy, 1000, true, 2000}, limits(60'000),
                  72'000, Expect{Session, SIGTERM}, 72'000},
        LimitCase{"term_sent_waits_for_kill_grace", {S::Starting, 0, false, 0, 1, false, 30'000},
                  limits(), 31'999, {}, 32'000},
        LimitCase{"escalation_after_kill_grace", {S::Starting, 0, false, 0, 1, false, 30'000},
                  limits(), 32'000, Expect{Escalation, SIGKILL}, 32'000},
        LimitCase{"nothing_after_kill", {S::Starting, 0, false, 0, 1, false, 30'000, true},
                  limits(), 1'000'000, {}, {}},
        LimitCase{"no_second_sigterm", {S::Busy, 0, false, 0, 1, false, 5000}, limits(), 6000,
                  {}, 7000},
        LimitCase{"drain_old_generation", {S::Busy, 0, true, 100, 1, true},
                  limits(0, 50'000, 2), 50'000, Expect{Drain, SIGTERM}, 50'000},
        LimitCase{"drain_before_deadline", {S::Busy, 0, true, 100, 1, true},
                  limits(0, 50'000, 2), 49'999, {}, 50'000},
        LimitCase{"drain_stopping_old_child", {S::Stopping, 0, false, 0, 1, true},
                  limits(0, 50'000, 2), 60'000, Expect{Drain, SIGTERM}, 50'000},
        LimitCase{"drain_spares_the_current_generation", {S::Busy, 0, true, 100, 2, true},
                  limits(0, 50'000, 2), 60'000, {}, {}},
        LimitCase{"drain_needs_a_stop_request", {S::Busy, 0, true, 100, 1, false},
                  limits(0, 50'000, 2), 60'000, {}, {}},
        LimitCase{"drain_without_deadline", {S::Stopping, 0, false, 0, 1, true},
                  limits(0, std::nullopt, 2), 60'000, {}, {}},
        LimitCase{"stopping_current_child_has_no_limit", {S::Stopping, 0, false, 0, 1, true},
                  limits(0, 50'000, 1), 60'000, {}, {}},
        LimitCase{"the_limit_passed_first_is_named", {S::Busy, 0, false, 0, 1, true},
                  limits(0, 3000, 2), 6000, Expect{Drain, SIGTERM}, 3000},
        LimitCase{"the_limit_passed_first_is_named_2", {S::Busy, 0, false, 0, 1, true},
                  limits(0, 5500, 2), 6000, Expect{Handoff, SIGTERM}, 5000}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(TimeLimits, EmptyTableHasNothingPending) {
  ChildTable table(4);
  EXPECT_TRUE(checkTimeLimits(table, limits(), t(1'000'000)).empty());
  EXPECT_FALSE(nextTimeLimit(table, limits()));
}

TEST(TimeLimits, ReapedChildIsIgnoredEvenWithTermSent) {
  ChildTable table(1);
  place(table, 0, {S::Starting, 0, false, 0, 1, false, 30'000});
  table.remove(0);
  EXPECT_TRUE(checkTimeLimits(table, limits(), t(1'000'000)).empty());
  EXPECT_FALSE(nextTimeLimit(table, limits()));
}

TEST(TimeLimits, EveryDueChildInSlotOrderAndTheEarliestNext) {
  ChildTable table(5);
  place(table, 0, {S::Starting, 0});                            // startup at 30 s
  place(table, 1, {S::Idle, 0});                                // nothing
  place(table, 2, {S::Busy, 20'000});                           // hand-off at 25 s
  place(table, 3, {S::Starting, 0, false, 0, 1, false, 1000});  // SIGKILL at 3 s
  place(table, 4, {S::Busy, 0, true, 0});                       // session at 70 s
  const TimeLimits l = limits(60'000);
  EXPECT_EQ(nextTimeLimit(table, l), t(3000));
  EXPECT_EQ(checkTimeLimits(table, l, t(2999)), std::vector<LimitAction>{});
  EXPECT_EQ(checkTimeLimits(table, l, t(3000)),
            (std::vector<LimitAction>{{3, Escalation, SIGKILL}}));
  EXPECT_EQ(checkTimeLimits(table, l, t(30'000)),
            (std::vector<LimitAction>{
                {0, Startup, SIGTERM}, {2, Handoff, SIGTERM}, {3, Escalation, SIGKILL}}));
  // The caller records what it sent: the next scan escalates instead of repeating.
  table.find(0)->term_sent_at = t(30'000);
  table.find(2)->term_sent_at = t(30'000);
  table.find(3)->kill_sent = true;
  EXPECT_EQ(nextTimeLimit(table, l), t(32'000));
  EXPECT_EQ(checkTimeLimits(table, l, t(31'000)), std::vector<LimitAction>{});
  EXPECT_EQ(checkTimeLimits(table, l, t(32'000)),
            (std::vector<LimitAction>{{0, Escalation, SIGKILL}, {2, Escalation, SIGKILL}}));
}

TEST(TimeLimits, KindNames) {
  EXPECT_STREQ(toString(Startup), "startup");
  EXPECT_STREQ(toString(Handoff), "handoff");
  EXPECT_STREQ(toString(Session), "session");
  EXPECT_STREQ(toString(Drain), "drain");
  EXPECT_STREQ(toString(Escalation), "escalation");
}

}  // namespace
}  // namespace preforkd
