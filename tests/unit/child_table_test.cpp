// ChildTable: states, counts, the idle list, every dispatch policy and generations.
#include "supervisor/child_table.h"

#include <ostream>
#include <string>
#include <vector>

#include <random>

#include <gtest/gtest.h>

#include "common/logging.h"

namespace preforkd {
namespace {

TimePoint t(int ms) { return TimePoint{} + std::chrono::milliseconds(ms); }

TEST(ChildTable, NewTableIsEmpty) {
  ChildTable table(3);
  EXPECT_EQ(table.capacity(), 3u);
  EXPECT_EQ(table.live(), 0u);
  EXPECT_EQ(table.count(ChildState::Empty), 3u);
  EXPECT_EQ(table.freeSlot(), 0);
  EXPECT_FALSE(table.pickIdle(DispatchPolicy::Lru, 1));
}

TEST(ChildTable, AddFindRemove) {
  ChildTable table(2);
  table.add(1, 100, 1, t(0));
  EXPECT_EQ(table.live(), 1u);
  EXPECT_EQ(table.count(ChildState::Starting), 1u);
  EXPECT_EQ(table.freeSlot(), 0);
  ASSERT_NE(table.findByPid(100), nullptr);
  EXPECT_EQ(table.findByPid(100)->slot, 1);
  EXPECT_EQ(table.findByPid(101), nullptr);
  table.remove(1);
  EXPECT_EQ(table.live(), 0u);
  EXPECT_EQ(table.findByPid(100), nullptr);
  EXPECT_EQ(table.find(1)->state, ChildState::Empty);
  EXPECT_EQ(table.find(5), nullptr);
}

TEST(ChildTable, PickIdleIsLeastRecentlyUsed) {
  ChildTable table(3);
  for (int s = 0; s < 3; ++s) table.add(s, 100 + s, 1, t(0));
  table.markIdle(2, t(1));
  table.markIdle(0, t(2));
  table.markIdle(1, t(3));
  EXPECT_EQ(table.pickIdle(DispatchPolicy::Lru, 1), 2);  // idle the longest
  table.markBusy(2, 1, t(4));
  EXPECT_EQ(table.pickIdle(DispatchPolicy::Lru, 1), 0);
  table.markIdle(2, t(5));  // back to idle: joins the end of the line
  table.markBusy(0, 2, t(6));
  EXPECT_EQ(table.pickIdle(DispatchPolicy::Lru, 1), 1);
  table.markBusy(1, 3, t(7));
  EXPECT_EQ(table.pickIdle(DispatchPolicy::Lru, 1), 2);
}

TEST(ChildTable, CountsFollowEveryTransition) {
  ChildTable table(2);
  table.add(0, 10, 1, t(0));
  table.add(1, 11, 1, t(0));
  table.markIdle(0, t(1));
  table.markIdle(1, t(1));
  table.markBusy(0, 9, t(2));
  EXPECT_EQ(table.count(ChildState::Idle), 1u);
  EXPECT_EQ(table.count(ChildState::Busy), 1u);
  table.markStopping(1, t(3));
  EXPECT_EQ(table.count(ChildState::Idle), 0u);
  EXPECT_EQ(table.count(ChildState::Stopping), 1u);
  EXPECT_FALSE(table.pickIdle(DispatchPolicy::Lru, 1));  // a stopping child is never picked
  table.remove(1);
  table.remove(0);
  EXPECT_EQ(table.count(ChildState::Empty), 2u);
  EXPECT_EQ(table.count(ChildState::Busy), 0u);
}

TEST(ChildTable, RemovingAnIdleChildTakesItOutOfTheIdleList) {
  ChildTable table(2);
  table.add(0, 10, 1, t(0));
  table.add(1, 11, 1, t(0));
  table.markIdle(0, t(1));
  table.markIdle(1, t(2));
  table.remove(0);
  EXPECT_EQ(table.pickIdle(DispatchPolicy::Lru, 1), 1);
  table.add(0, 12, 1, t(3));  // slot reuse starts clean
  EXPECT_EQ(table.find(0)->served, 0u);
  EXPECT_EQ(table.find(0)->state, ChildState::Starting);
}

// Policies: which idle child each policy picks, as a sequence of picks. Each picked child
// serves one connection (busy, served+1, idle again at the back of the line) unless the
// case keeps it busy.
struct PolicyCase {
  const char* name;
  DispatchPolicy policy;
  std::vector<SlotId> idle_order;          // markIdle order (front = idle the longest)
  std::vector<std::uint64_t> served;       // per slot, before the first pick
  bool keep_busy;                          // picked children stay busy
  std::vector<std::optional<SlotId>> picks;
  // gtest prints the case by name instead of its bytes.
  friend void PrintTo(const PolicyCase& c, std::ostream* os) { *os << c.name; }
};

class ChildTablePolicy : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(ChildTablePolicy, Picks) {
  const PolicyCase& c = GetParam();
  ChildTable table(c.served.size());
  for (std::size_t s = 0; s < c.served.size(); ++s) {
    table.add(static_cast<SlotId>(s), 100 + static_cast<pid_t>(s), 1, t(0));
  }
  int now = 1;
  for (SlotId s : c.idle_order) table.markIdle(s, t(now++));
  for (std::size_t s = 0; s < c.served.size(); ++s) {
    table.find(static_cast<SlotId>(s))->served = c.served[s];
  }
  std::vector<std::optional<SlotId>> picks;
  for (std::size_t i = 0; i < c.picks.size(); ++i) {
    const auto pick = table.pickIdle(c.policy, 1);
    picks.push_back(pick);
    if (!pick) continue;
    table.markBusy(*pick, i, t(now++));
    if (!c.keep_busy) {
      ++table.find(*pick)->served;
      table.markIdle(*pick, t(now++));
    }
  }
  EXPECT_EQ(picks, c.picks);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, ChildTablePolicy,
    ::testing::Values(
        PolicyCase{"lru_takes_the_longest_idle", DispatchPolicy::Lru, {2, 0, 3, 1}, {0, 0, 0, 0},
                   false, {2, 0, 3, 1, 2, 0}},
        PolicyCase{"lru_drains_the_line", DispatchPolicy::Lru, {2, 0, 3, 1}, {0, 0, 0, 0}, true,
                   {2, 0, 3, 1, std::nullopt}},
        PolicyCase{"mru_keeps_reusing_the_last", DispatchPolicy::Mru, {2, 0, 3, 1},
                   {0, 0, 0, 0}, false, {1, 1, 1}},
        PolicyCase{"mru_drains_from_the_back", DispatchPolicy::Mru, {2, 0, 3, 1}, {0, 0, 0, 0},
                   true, {1, 3, 0, 2, std::nullopt}},
        PolicyCase{"round_robin_wraps_around", DispatchPolicy::RoundRobin, {2, 0, 3, 1},
                   {0, 0, 0, 0}, false, {0, 1, 2, 3, 0, 1, 2, 3, 0}},
        PolicyCase{"round_robin_skips_non_idle_slots", DispatchPolicy::RoundRobin, {3, 1},
                   {0, 0, 0, 0}, false, {1, 3, 1, 3}},
        PolicyCase{"round_robin_busy_children_drop_out", DispatchPolicy::RoundRobin,
                   {2, 0, 3, 1}, {0, 0, 0, 0}, true, {0, 1, 2, 3, std::nullopt}},
        // Slots 1 and 3 tie on 3 served: slot 3 has been idle longer.
        PolicyCase{"least_served_ties_go_to_the_longest_idle", DispatchPolicy::LeastServed,
                   {2, 0, 3, 1}, {5, 3, 7, 3}, true, {3, 1, 0, 2, std::nullopt}},
        PolicyCase{"least_served_evens_out", DispatchPolicy::LeastServed, {0, 1, 2},
                   {2, 0, 1}, false, {1, 2, 1, 0, 2, 1}}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(ChildTable, PickIdlePrefersTheGivenGenerationThenOlderOnes) {
  ChildTable table(4);
  table.add(0, 10, 1, t(0));
  table.add(1, 11, 1, t(0));
  table.add(2, 12, 2, t(0));
  table.markIdle(1, t(1));
  table.markIdle(0, t(2));
  // Generation 2 has nobody idle yet.
  EXPECT_FALSE(table.pickIdle(DispatchPolicy::Lru, 2));
  EXPECT_EQ(table.pickIdle(DispatchPolicy::Lru, 2, /*allow_older=*/true), 1);
  EXPECT_EQ(table.pickIdle(DispatchPolicy::Mru, 2, true), 0);
  table.markIdle(2, t(3));
  for (DispatchPolicy p : {DispatchPolicy::Lru, DispatchPolicy::Mru, DispatchPolicy::RoundRobin,
                           DispatchPolicy::LeastServed}) {
    EXPECT_EQ(table.pickIdle(p, 2, true), 2) << toString(p);  // the new generation first
    EXPECT_EQ(table.pickIdle(p, 2), 2) << toString(p);
    const auto older = table.pickIdle(p, 1);  // never a newer generation
    ASSERT_TRUE(older.has_value()) << toString(p);
    EXPECT_EQ(table.find(*older)->generation, 1u) << toString(p);
  }
  // "Older" never means newer: generation 1 with allow_older ignores generation 2.
  table.markBusy(0, 1, t(4));
  table.markBusy(1, 2, t(4));
  EXPECT_FALSE(table.pickIdle(DispatchPolicy::Lru, 1, true));
  EXPECT_EQ(table.pickIdle(DispatchPolicy::Lru, 3, true), 2);  // any older generation
}

TEST(ChildTable, IdleOfAndActiveOfCountByGeneration) {
  ChildTable table(6);
  table.add(0, 10, 1, t(0));  // idle, gen 1
  table.add(1, 11, 1, t(0));  // busy, gen 1
  table.add(2, 12, 2, t(0));  // starting, gen 2
  table.add(3, 13, 2, t(0));  // idle, gen 2
  table.add(4, 14, 2, t(0));  // busy but stop requested, gen 2
  table.add(5, 15, 2, t(0));  // stopping, gen 2
  table.markIdle(0, t(1));
  table.markIdle(1, t(1));
  table.markBusy(1, 1, t(2));
  table.markIdle(3, t(1));
  table.markIdle(4, t(1));
  table.markBusy(4, 2, t(2));
  table.requestStop(4, "test");
  table.markStopping(5, t(3));
  EXPECT_EQ(table.idleOf(1), 1u);
  EXPECT_EQ(table.idleOf(2), 1u);
  EXPECT_EQ(table.idleOf(2, /*or_older=*/true), 2u);
  EXPECT_EQ(table.idleOf(3), 0u);
  EXPECT_EQ(table.idleOf(1, true), 1u);  // older only, never newer
  EXPECT_EQ(table.activeOf(1), 2u);      // idle + busy
  EXPECT_EQ(table.activeOf(2), 2u);      // starting + idle; not stop-requested, not stopping
  EXPECT_EQ(table.activeOf(3), 0u);
}

TEST(ChildTable, LongestIdleIsTheFrontOfTheLine) {
  ChildTable table(3);
  EXPECT_FALSE(table.longestIdle());
  for (int s = 0; s < 3; ++s) table.add(s, 10 + s, s == 2 ? 2 : 1, t(0));
  table.markIdle(2, t(1));  // any generation counts
  table.markIdle(0, t(2));
  EXPECT_EQ(table.longestIdle(), 2);
  table.markBusy(2, 1, t(3));
  EXPECT_EQ(table.longestIdle(), 0);
  table.markStopping(0, t(4));
  EXPECT_FALSE(table.longestIdle());
}

TEST(ChildTable, EnsureCapacityKeepsSlotsAndTheIdleLine) {
  ChildTable table(2);
  table.add(0, 10, 1, t(0));
  table.add(1, 11, 1, t(0));
  table.markIdle(1, t(1));
  table.markIdle(0, t(2));
  table.find(1)->served = 7;
  EXPECT_FALSE(table.freeSlot());
  table.ensureCapacity(1);  // never shrinks
  EXPECT_EQ(table.capacity(), 2u);
  table.ensureCapacity(5);
  EXPECT_EQ(table.capacity(), 5u);
  EXPECT_EQ(table.count(ChildState::Empty), 3u);
  EXPECT_EQ(table.count(ChildState::Idle), 2u);
  EXPECT_EQ(table.freeSlot(), 2);
  EXPECT_EQ(table.find(1)->served, 7u);
  EXPECT_EQ(table.find(4)->slot, 4);
  EXPECT_EQ(table.findByPid(11)->slot, 1);
  table.add(4, 14, 1, t(3));
  table.markIdle(4, t(4));
  // The line survived the growth: 1, 0, then the new child.
  std::vector<SlotId> order;
  while (const auto s = table.pickIdle(DispatchPolicy::Lru, 1)) {
    order.push_back(*s);
    table.markBusy(*s, 1, t(5));
  }
  EXPECT_EQ(order, (std::vector<SlotId>{1, 0, 4}));
  table.markIdle(0, t(6));  // the moved iterators still unlink correctly
  table.remove(0);
  EXPECT_EQ(table.count(ChildState::Idle), 0u);
  EXPECT_FALSE(table.longestIdle());
}

TEST(ChildTable, StoppingIsIdempotentAndKeepsItsSince) {
  ChildTable table(1);
  table.add(0, 10, 1, t(0));
  table.markStopping(0, t(5));
  table.markStopping(0, t(9));
  EXPECT_EQ(table.find(0)->state_since, t(5));
  EXPECT_EQ(table.count(ChildState::Stopping), 1u);
}

TEST(ChildTable, RemoveForgetsOnlyItsOwnPid) {
  ChildTable table(2);
  table.add(0, 10, 1, t(0));
  table.add(1, 10, 1, t(1));  // the same pid registered again before the old record went
  table.remove(0);
  ASSERT_NE(table.findByPid(10), nullptr);
  EXPECT_EQ(table.findByPid(10)->slot, 1);
}

TEST(ChildTable, StateNames) {
  EXPECT_STREQ(toString(ChildState::Empty), "empty");
  EXPECT_STREQ(toString(ChildState::Starting), "starting");
  EXPECT_STREQ(toString(ChildState::Idle), "idle");
  EXPECT_STREQ(toString(ChildState::Busy), "busy");
  EXPECT_STREQ(toString(ChildState::Stopping), "stopping");
}

TEST(ChildTableDeathTest, BusyFromNonIdleIsABug) {
  setupLogging("test", spdlog::level::info);  // the critical line goes to stderr
  ChildTable table(1);
  table.add(0, 10, 1, t(0));
  EXPECT_DEATH(table.markBusy(0, 1, t(1)), "invariant");
}

}  // namespace
}  // namespace preforkd

namespace preforkd {
namespace {

// The O(1) per-generation counts agree with a full scan after any sequence of changes.
TEST(ChildTableCounts, MatchAScanAfterRandomOperations) {
  ChildTable table(8);
  std::mt19937 rng(7);
  const auto t0 = Clock::time_point{};
  pid_t next_pid = 100;
  for (int step = 0; step < 5000; ++step) {
    const SlotId s = static_cast<SlotId>(rng() % 8);
    const Generation g = 1 + rng() % 3;
    ChildRecord* c = table.find(s);
    switch (rng() % 6) {
      case 0:
        if (c->state == ChildState::Empty) table.add(s, next_pid++, g, t0);
        break;
      case 1:
        if (c->state == ChildState::Starting || c->state == ChildState::Busy) table.markIdle(s, t0);
        break;
      case 2:
        if (c->state == ChildState::Idle) table.markBusy(s, 1, t0);
        break;
      case 3:
        if (c->state != ChildState::Empty) table.requestStop(s, "test");
        break;
      case 4:
        if (c->state != ChildState::Empty) table.markStopping(s, t0);
        break;
      case 5:
        if (c->state != ChildState::Empty) table.remove(s);
        break;
    }
    for (Generation gen = 1; gen <= 3; ++gen) {
      std::size_t active = 0, idle = 0, starting = 0, idle_or_older = 0, unreaped = 0;
      for (const ChildRecord& r : table.slots()) {
        const bool works = r.state == ChildState::Starting || r.state == ChildState::Idle ||
                           r.state == ChildState::Busy;
        if (r.generation == gen && works && !r.stop_requested) ++active;
        if (r.generation == gen && r.state == ChildState::Idle) ++idle;
        if (r.generation <= gen && r.state == ChildState::Idle) ++idle_or_older;
        if (r.generation == gen && r.state == ChildState::Starting && !r.stop_requested) ++starting;
        if (r.generation == gen && r.state == ChildState::Stopping && !r.stop_requested) ++unreaped;
      }
      ASSERT_EQ(table.unreapedOf(gen), unreaped) << "step " << step;
      ASSERT_EQ(table.activeOf(gen), active) << "step " << step << " generation " << gen;
      ASSERT_EQ(table.idleOf(gen), idle) << "step " << step;
      ASSERT_EQ(table.idleOf(gen, true), idle_or_older) << "step " << step;
      ASSERT_EQ(table.startingOf(gen), starting) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace preforkd
