// Dispatcher policy: fairness, accept decisions, and Taken/Available/exit in every order.
#include "supervisor/dispatcher.h"

#include <map>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

TimePoint t(int ms) { return TimePoint{} + std::chrono::milliseconds(ms); }

// A dispatcher with `n` children that all said Ready, in slot order.
Dispatcher readyPool(int n) {
  Dispatcher d(static_cast<std::size_t>(n));
  for (int s = 0; s < n; ++s) {
    d.childStarted(s, 100 + s, t(0));
    EXPECT_EQ(d.onReady(s, t(s)), Verdict::Ok);
  }
  return d;
}

// Runs a full hand-off (assign, Taken, Available) for one connection; returns the slot.
SlotId serveOne(Dispatcher& d, ConnectionId id, int now) {
  d.submit(id, t(0));
  const auto a = d.assign(t(now));
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(d.onTaken(a[0].slot, id, t(0)), Verdict::Ok);
  EXPECT_EQ(d.onAvailable(a[0].slot, id, 1, 1, t(now)), Verdict::Ok);
  return a[0].slot;
}

TEST(Dispatcher, RotatesOverThePoolUnderSequentialLoad) {
  Dispatcher d = readyPool(4);
  std::map<SlotId, int> served;
  for (ConnectionId id = 1; id <= 400; ++id) ++served[serveOne(d, id, static_cast<int>(id) + 10)];
  ASSERT_EQ(served.size(), 4u);
  for (const auto& [slot, n] : served) EXPECT_EQ(n, 100) << "slot " << slot;
}

TEST(Dispatcher, FairWhenSomeChildrenStayBusy) {
  Dispatcher d = readyPool(3);
  d.submit(1, t(0));
  const auto busy = d.assign(t(10));  // slot 0 stays busy for the whole test
  ASSERT_EQ(busy.size(), 1u);
  EXPECT_EQ(busy[0].slot, 0);
  std::map<SlotId, int> served;
  for (ConnectionId id = 2; id <= 101; ++id) ++served[serveOne(d, id, static_cast<int>(id) + 10)];
  EXPECT_EQ(served[0], 0);
  EXPECT_EQ(served[1], 50);
  EXPECT_EQ(served[2], 50);
}

// The supervisor's accept rule without a queue or spawn headroom.
bool acceptsMore(const Dispatcher& d) { return !d.draining() && d.usableIdle() > d.queued(); }

TEST(Dispatcher, AcceptsOnlyWhileAnIdleChildIsFree) {
  Dispatcher d(2);
  EXPECT_FALSE(acceptsMore(d));  // nobody ready yet
  d.childStarted(0, 10, t(0));
  d.childStarted(1, 11, t(0));
  EXPECT_FALSE(acceptsMore(d));
  d.onReady(0, t(1));
  EXPECT_TRUE(acceptsMore(d));
  d.submit(1, t(0));
  EXPECT_FALSE(acceptsMore(d));  // the one idle child is spoken for
  d.onReady(1, t(2));
  EXPECT_TRUE(acceptsMore(d));
  EXPECT_EQ(d.assign(t(3)).size(), 1u);
  EXPECT_TRUE(acceptsMore(d));
  d.submit(2, t(0));
  EXPECT_EQ(d.assign(t(4)).size(), 1u);
  EXPECT_FALSE(acceptsMore(d));  // all busy: the kernel backlog holds new clients
  d.onTaken(0, 1, t(0));
  EXPECT_FALSE(acceptsMore(d));  // Taken does not make a child idle
  d.onAvailable(0, 1, 0, 0, t(5));
  EXPECT_TRUE(acceptsMore(d));  // only Available does
}

TEST(Dispatcher, NoAcceptWhileDraining) {
  Dispatcher d = readyPool(2);
  d.beginDrain(t(1));
  EXPECT_FALSE(acceptsMore(d));
}

struct OrderCase {
  const char* name;
  std::vector<std::string> events;  // "taken", "available", "lost"
  bool requeued;                    // the connection went back to the queue
  std::vector<Verdict> verdicts;    // for taken/available, in order
};

class DispatcherOrder : public ::testing::TestWithParam<OrderCase> {};

TEST_P(DispatcherOrder, EveryOrderOfTakenAvailableAndExit) {
  const OrderCase& c = GetParam();
  Dispatcher d = readyPool(2);
  d.submit(7, t(0));
  const auto a = d.assign(t(10));
  ASSERT_EQ(a.size(), 1u);
  const SlotId slot = a[0].slot;
  std::vector<Verdict> verdicts;
  bool requeued = false;
  for (const std::string& ev : c.events) {
    if (ev == "taken") verdicts.push_back(d.onTaken(slot, 7, t(0)));
    if (ev == "available") verdicts.push_back(d.onAvailable(slot, 7, 0, 0, t(20)));
    if (ev == "lost") requeued = d.onChildLost(slot, t(30)).has_value() || requeued;
  }
  EXPECT_EQ(verdicts, c.verdicts);
  EXPECT_EQ(requeued, c.requeued);
  EXPECT_EQ(d.queued(), c.requeued ? 1u : 0u);
  EXPECT_EQ(d.redispatched(), c.requeued ? 1u : 0u);
  if (c.requeued) {
    const auto again = d.assign(t(40));  // the other child gets it
    ASSERT_EQ(again.size(), 1u);
    EXPECT_NE(again[0].slot, slot);
    EXPECT_EQ(again[0].conn, 7u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Orders, DispatcherOrder,
    ::testing::Values(
        OrderCase{"normal", {"taken", "available"}, false, {Verdict::Ok, Verdict::Ok}},
        OrderCase{"dies_before_taken", {"lost"}, true, {}},
        OrderCase{"dies_after_taken", {"taken", "lost"}, false, {Verdict::Ok}},
        OrderCase{"dies_after_available", {"taken", "available", "lost"}, false,
                  {Verdict::Ok, Verdict::Ok}},
        OrderCase{"available_without_taken", {"available"}, false, {Verdict::Unexpected}},
        OrderCase{"taken_twice", {"taken", "taken"}, false, {Verdict::Ok, Verdict::Unexpected}},
        OrderCase{"available_twice", {"taken", "available", "available"}, false,
                  {Verdict::Ok, Verdict::Ok, Verdict::Unexpected}},
        OrderCase{"lost_twice_is_idempotent", {"lost", "lost"}, true, {}},
        OrderCase{"taken_after_lost", {"lost", "taken"}, true, {Verdict::Unexpected}}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Dispatcher, StatusForTheWrongConnectionIsUnexpected) {
  Dispatcher d = readyPool(1);
  d.submit(1, t(0));
  ASSERT_EQ(d.assign(t(1)).size(), 1u);
  EXPECT_EQ(d.onTaken(0, 2, t(0)), Verdict::Unexpected);
  EXPECT_EQ(d.onTaken(0, 1, t(0)), Verdict::Ok);
  EXPECT_EQ(d.onAvailable(0, 2, 0, 0, t(2)), Verdict::Unexpected);
  EXPECT_EQ(d.onReady(0, t(2)), Verdict::Unexpected);  // Ready while busy
  EXPECT_EQ(d.onTaken(5, 1, t(0)), Verdict::Unexpected);       // no such slot
}

TEST(Dispatcher, SendFailureRequeuesAtTheFront) {
  Dispatcher d = readyPool(2);
  d.submit(1, t(0));
  d.submit(2, t(0));
  d.submit(3, t(0));
  auto a = d.assign(t(1));
  ASSERT_EQ(a.size(), 2u);
  d.onSendFailed(a[0].slot, t(2));
  EXPECT_EQ(d.children().find(a[0].slot)->state, ChildState::Stopping);
  EXPECT_EQ(d.queued(), 2u);
  d.onTaken(a[1].slot, a[1].conn, t(0));
  d.onAvailable(a[1].slot, a[1].conn, 0, 0, t(3));
  const auto b = d.assign(t(4));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].conn, 1u);  // the requeued connection goes first
  EXPECT_EQ(d.redispatched(), 1u);
}

TEST(Dispatcher, DrainMarksEveryChildOnce) {
  Dispatcher d(3);
  d.childStarted(0, 10, t(0));
  d.childStarted(1, 11, t(0));
  d.childStarted(2, 12, t(0));
  d.onReady(0, t(1));
  d.onReady(1, t(1));  // slot 2 is still starting
  d.submit(1, t(0));
  const auto a = d.assign(t(2));
  ASSERT_EQ(a.size(), 1u);
  const SlotId busy = a[0].slot;
  d.onTaken(busy, 1, t(0));
  const auto stop = d.beginDrain(t(3));
  EXPECT_EQ(stop.size(), 2u);  // idle and starting now; the busy one when it is done
  EXPECT_TRUE(d.beginDrain(t(4)).empty());  // nobody is told twice
  EXPECT_EQ(d.children().count(ChildState::Busy), 1u);
  EXPECT_EQ(d.children().count(ChildState::Stopping), 2u);
  EXPECT_EQ(d.onReady(2, t(5)), Verdict::Ok);  // the starting one may still say Ready
  EXPECT_EQ(d.children().find(2)->state, ChildState::Stopping);
  EXPECT_EQ(d.onAvailable(busy, 1, 0, 0, t(6)), Verdict::Retire);  // send it Stop now
  EXPECT_EQ(d.children().find(busy)->state, ChildState::Stopping);  // never idle again
  d.submit(2, t(0));
  EXPECT_TRUE(d.assign(t(7)).empty());
  EXPECT_EQ(d.dropQueued(), std::vector<ConnectionId>{2});
}

}  // namespace
}  // namespace preforkd
