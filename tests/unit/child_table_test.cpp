// ChildTable: states, counts and the LRU idle list.
#include "supervisor/child_table.h"

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

TEST(ChildTableDeathTest, BusyFromNonIdleIsABug) {
  setupLogging("test", spdlog::level::info);  // the critical line goes to stderr
  ChildTable table(1);
  table.add(0, 10, 1, t(0));
  EXPECT_DEATH(table.markBusy(0, 1, t(1)), "invariant");
}

}  // namespace
}  // namespace preforkd
