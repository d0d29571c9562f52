// Dispatcher policy: fairness, every dispatch policy, accept decisions, Taken/Available/exit
// in every order, generations (reload), recycling, retirement and the queue's deadlines.
#include "supervisor/dispatcher.h"

#include <map>
#include <ostream>

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


struct DispatchPolicyCase {
  const char* name;
  DispatchPolicy policy;
  bool first_stays_busy;  // the first connection is never finished
  std::vector<SlotId> slots;  // who serves each sequential connection
  // gtest prints the case by name instead of its bytes.
  friend void PrintTo(const DispatchPolicyCase& c, std::ostream* os) { *os << c.name; }
};

class DispatcherPolicy : public ::testing::TestWithParam<DispatchPolicyCase> {};

TEST_P(DispatcherPolicy, SequentialLoad) {
  const DispatchPolicyCase& c = GetParam();
  Dispatcher d = readyPool(4);  // idle line 0, 1, 2, 3
  d.setPolicy(c.policy);
  EXPECT_EQ(d.policy(), c.policy);
  std::vector<SlotId> slots;
  ConnectionId id = 1;
  if (c.first_stays_busy) {
    d.submit(id, t(0));
    const auto a = d.assign(t(5));
    ASSERT_EQ(a.size(), 1u);
    slots.push_back(a[0].slot);
    ++id;
  }
  while (slots.size() < c.slots.size()) {
    slots.push_back(serveOne(d, id, 10 + static_cast<int>(id)));
    ++id;
  }
  EXPECT_EQ(slots, c.slots);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, DispatcherPolicy,
    ::testing::Values(
        DispatchPolicyCase{"lru", DispatchPolicy::Lru, false, {0, 1, 2, 3, 0, 1}},
        DispatchPolicyCase{"lru_with_a_busy_child", DispatchPolicy::Lru, true, {0, 1, 2, 3, 1, 2}},
        DispatchPolicyCase{"mru", DispatchPolicy::Mru, false, {3, 3, 3, 3}},
        DispatchPolicyCase{"mru_with_a_busy_child", DispatchPolicy::Mru, true, {3, 2, 2, 2}},
        DispatchPolicyCase{"round_robin", DispatchPolicy::RoundRobin, false,
                           {0, 1, 2, 3, 0, 1, 2, 3, 0}},
        DispatchPolicyCase{"round_robin_with_a_busy_child", DispatchPolicy::RoundRobin, true,
                           {0, 1, 2, 3, 1, 2, 3, 1}},
        DispatchPolicyCase{"least_served", DispatchPolicy::LeastServed, false,
                           {0, 1, 2, 3, 0, 1, 2, 3}},
        // Slot 0 is busy and has served nothing: the others even out among themselves.
        DispatchPolicyCase{"least_served_with_a_busy_child", DispatchPolicy::LeastServed, true,
                           {0, 1, 2, 3, 1, 2, 3, 1}}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Dispatcher, ReloadKeepsOldChildrenServingUntilTheNewGenerationIsUp) {
  Dispatcher d(6);
  for (SlotId s : {0, 1}) {
    d.childStarted(s, 100 + s, t(0));
    ASSERT_EQ(d.onReady(s, t(1 + s)), Verdict::Ok);
  }
  d.childStarted(4, 104, t(2));  // generation 1, still starting at the reload
  EXPECT_EQ(d.generation(), 1u);
  EXPECT_TRUE(d.generationIsUp());

  d.setGeneration(2);
  EXPECT_EQ(d.generation(), 2u);
  EXPECT_FALSE(d.generationIsUp());
  d.childStarted(2, 102, t(10));
  EXPECT_EQ(d.children().find(2)->generation, 2u);

  // No new child is ready: an old idle one serves, nobody waits for forks.
  EXPECT_EQ(d.usableIdle(), 2u);
  d.submit(1, t(11));
  auto a = d.assign(t(12));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].slot, 0);
  EXPECT_EQ(d.onTaken(0, 1, t(13)), Verdict::Ok);

  // Once a new child is ready it is preferred to the old idle one.
  EXPECT_EQ(d.onReady(2, t(14)), Verdict::Ok);
  d.submit(2, t(15));
  a = d.assign(t(16));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].slot, 2);
  EXPECT_EQ(d.onTaken(2, 2, t(17)), Verdict::Ok);
  EXPECT_EQ(d.onAvailable(2, 2, 0, 0, t(18)), Verdict::Ok);
  d.childStarted(3, 103, t(19));  // generation 2, starting

  // Up: old idle and starting children stop now, the old busy one when it is done.
  EXPECT_EQ(d.generationUp(t(20)), (std::vector<SlotId>{1, 4}));
  EXPECT_TRUE(d.generationIsUp());
  for (SlotId s : {1, 4}) {
    EXPECT_EQ(d.children().find(s)->state, ChildState::Stopping) << s;
    EXPECT_STREQ(d.children().find(s)->stop_reason, "reload") << s;
  }
  EXPECT_EQ(d.children().find(0)->state, ChildState::Busy);
  EXPECT_TRUE(d.children().find(0)->stop_requested);
  EXPECT_EQ(d.children().find(2)->state, ChildState::Idle);      // the new generation stays
  EXPECT_EQ(d.children().find(3)->state, ChildState::Starting);  // ... also while starting
  EXPECT_EQ(d.usableIdle(), 1u);
  EXPECT_EQ(d.onReady(4, t(21)), Verdict::Ok);  // stopped while starting: may still say Ready
  EXPECT_EQ(d.children().find(4)->state, ChildState::Stopping);
  EXPECT_EQ(d.onAvailable(0, 1, 0, 0, t(22)), Verdict::Retire);
  EXPECT_EQ(d.children().find(0)->state, ChildState::Stopping);
  EXPECT_EQ(d.recycled(), 0u);  // a reload is not a recycle

  EXPECT_TRUE(d.generationUp(t(23)).empty());  // nobody is told twice
  d.submit(3, t(24));
  d.submit(4, t(24));
  a = d.assign(t(25));
  ASSERT_EQ(a.size(), 1u);  // only the new idle child
  EXPECT_EQ(a[0].slot, 2);
  EXPECT_EQ(d.queued(), 1u);
}

TEST(Dispatcher, RecyclesAChildAfterMaxServed) {
  Dispatcher d(2);
  d.childStarted(0, 10, t(0), /*max_served=*/2);
  d.childStarted(1, 11, t(0));  // max_served 0: never recycled
  ASSERT_EQ(d.onReady(0, t(1)), Verdict::Ok);
  d.setPolicy(DispatchPolicy::RoundRobin);
  for (ConnectionId id = 1; id <= 2; ++id) {
    d.submit(id, t(2));
    const auto a = d.assign(t(3));
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(a[0].slot, 0);
    ASSERT_EQ(d.onTaken(0, id, t(4)), Verdict::Ok);
    EXPECT_EQ(d.onAvailable(0, id, 0, 0, t(5)), id == 2 ? Verdict::Retire : Verdict::Ok);
  }
  const ChildRecord& c = *d.children().find(0);
  EXPECT_EQ(c.state, ChildState::Stopping);
  EXPECT_TRUE(c.stop_requested);
  EXPECT_STREQ(c.stop_reason, "recycle");
  EXPECT_EQ(c.served, 2u);
  EXPECT_EQ(d.recycled(), 1u);
  EXPECT_EQ(d.usableIdle(), 0u);

  // The child without a limit serves on.
  ASSERT_EQ(d.onReady(1, t(6)), Verdict::Ok);
  for (ConnectionId id = 3; id <= 12; ++id) EXPECT_EQ(serveOne(d, id, 10), 1);
  EXPECT_EQ(d.recycled(), 1u);
}

TEST(Dispatcher, AStopRequestBeatsTheRecycleCount) {
  Dispatcher d(1);
  d.childStarted(0, 10, t(0), /*max_served=*/1);
  ASSERT_EQ(d.onReady(0, t(1)), Verdict::Ok);
  d.submit(1, t(2));
  ASSERT_EQ(d.assign(t(3)).size(), 1u);
  ASSERT_EQ(d.onTaken(0, 1, t(4)), Verdict::Ok);
  EXPECT_FALSE(d.retire(0, "ttou", t(5)));  // busy: told on Available
  EXPECT_EQ(d.onAvailable(0, 1, 0, 0, t(6)), Verdict::Retire);
  EXPECT_STREQ(d.children().find(0)->stop_reason, "ttou");
  EXPECT_EQ(d.recycled(), 0u);
}

TEST(Dispatcher, RetireByState) {
  Dispatcher d(6);
  for (SlotId s = 0; s < 4; ++s) d.childStarted(s, 10 + s, t(0));
  d.onReady(1, t(1));                 // 0: starting, 1: idle
  d.onReady(2, t(1));
  d.submit(1, t(2));
  d.setPolicy(DispatchPolicy::Mru);   // slot 2 gets the connection
  ASSERT_EQ(d.assign(t(3)).size(), 1u);
  ASSERT_EQ(d.children().find(2)->state, ChildState::Busy);
  d.onTaken(2, 1, t(4));              // 2: busy
  d.onChildLost(3, t(5));             // 3: stopping (lost); 4, 5: empty
  EXPECT_EQ(d.children().activeOf(1), 3u);

  EXPECT_TRUE(d.retire(0, "ttou", t(6)));   // starting: send Stop now
  EXPECT_TRUE(d.retire(1, "ttou", t(6)));   // idle: send Stop now
  EXPECT_FALSE(d.retire(2, "ttou", t(6)));  // busy: Verdict::Retire on Available
  EXPECT_FALSE(d.retire(2, "other", t(6))); // already told
  EXPECT_FALSE(d.retire(3, "ttou", t(6)));  // already stopping
  EXPECT_FALSE(d.retire(4, "ttou", t(6)));  // empty slot
  EXPECT_FALSE(d.retire(9, "ttou", t(6)));  // no such slot
  EXPECT_FALSE(d.retire(-1, "ttou", t(6)));
  EXPECT_EQ(d.children().find(0)->state, ChildState::Stopping);
  EXPECT_EQ(d.children().find(1)->state, ChildState::Stopping);
  EXPECT_EQ(d.children().find(2)->state, ChildState::Busy);
  EXPECT_STREQ(d.children().find(2)->stop_reason, "ttou");
  EXPECT_EQ(d.children().activeOf(1), 0u);  // nobody will take new work
  EXPECT_EQ(d.children().find(4)->state, ChildState::Empty);
  EXPECT_EQ(d.onAvailable(2, 1, 0, 0, t(7)), Verdict::Retire);
  EXPECT_EQ(d.children().find(2)->state, ChildState::Stopping);
}

TEST(Dispatcher, QueueDeadlinesAndRemoval) {
  Dispatcher d(1);
  EXPECT_FALSE(d.oldestQueuedAt());
  EXPECT_TRUE(d.expireQueued(t(1000)).empty());
  d.submit(1, t(0));
  d.submit(2, t(10));
  d.submit(3, t(20));
  d.submit(4, t(30));
  EXPECT_EQ(d.oldestQueuedAt(), t(0));
  EXPECT_EQ(d.expireQueued(t(10)), std::vector<ConnectionId>{1});  // accepted before the cutoff
  EXPECT_EQ(d.queued(), 3u);
  EXPECT_EQ(d.oldestQueuedAt(), t(10));
  EXPECT_TRUE(d.removeQueued(3));
  EXPECT_FALSE(d.removeQueued(3));
  EXPECT_FALSE(d.removeQueued(99));
  EXPECT_EQ(d.queued(), 2u);
  EXPECT_EQ(d.expireQueued(t(100)), (std::vector<ConnectionId>{2, 4}));
  EXPECT_EQ(d.queued(), 0u);
  EXPECT_FALSE(d.oldestQueuedAt());
}

TEST(Dispatcher, RedispatchedConnectionsKeepTheirAcceptTime) {
  Dispatcher d = readyPool(2);
  d.submit(1, t(1));
  d.submit(2, t(2));
  const auto a = d.assign(t(5));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].conn, 1u);
  EXPECT_EQ(a[0].queued_at, t(1));
  d.submit(3, t(6));
  // Both children die before Taken: each connection goes back to the front, so a younger one
  // (2) ends up ahead of an older one (1).
  EXPECT_EQ(d.onChildLost(a[0].slot, t(7)), 1u);
  EXPECT_EQ(d.onChildLost(a[1].slot, t(8)), 2u);
  EXPECT_EQ(d.queued(), 3u);
  EXPECT_EQ(d.redispatched(), 2u);
  EXPECT_EQ(d.oldestQueuedAt(), t(1));  // not the front's t(2)
  EXPECT_EQ(d.expireQueued(t(2)), std::vector<ConnectionId>{1});  // its deadline still counts
  // A replacement child takes the front connection with its original accept time.
  d.children().remove(a[0].slot);
  d.childStarted(a[0].slot, 200, t(9));
  ASSERT_EQ(d.onReady(a[0].slot, t(10)), Verdict::Ok);
  const auto b = d.assign(t(11));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].conn, 2u);
  EXPECT_EQ(b[0].queued_at, t(2));
  EXPECT_EQ(d.children().find(b[0].slot)->conn_queued_at, t(2));
  EXPECT_EQ(d.children().find(b[0].slot)->conn_assigned_at, t(11));
  EXPECT_EQ(d.oldestQueuedAt(), t(6));
}

TEST(Dispatcher, AvailableRecordsTheConnection) {
  Dispatcher d = readyPool(1);
  d.submit(1, t(0));
  ASSERT_EQ(d.assign(t(10)).size(), 1u);
  ASSERT_EQ(d.onTaken(0, 1, t(12)), Verdict::Ok);
  ASSERT_EQ(d.onAvailable(0, 1, 100, 2000, t(50)), Verdict::Ok);
  const ChildRecord& c = *d.children().find(0);
  EXPECT_EQ(c.served, 1u);
  EXPECT_EQ(c.bytes_in, 100u);
  EXPECT_EQ(c.bytes_out, 2000u);
  EXPECT_EQ(c.last_duration, std::chrono::milliseconds(38));
  EXPECT_EQ(c.conn_taken_at, t(12));
  EXPECT_FALSE(c.conn.has_value());
  EXPECT_EQ(c.state, ChildState::Idle);
}

}  // namespace
}  // namespace preforkd

namespace preforkd {
namespace {

// A graceful shutdown drains the queue before the busy children stop.
TEST(DispatcherDrain, BusyChildrenServeTheQueueBeforeStopping) {
  const TimePoint t0{};
  Dispatcher d(2);
  d.childStarted(0, 10, t0);
  d.childStarted(1, 11, t0);
  d.onReady(0, t0);
  d.onReady(1, t0);
  for (ConnectionId c = 1; c <= 4; ++c) d.submit(c, t0);
  const auto first = d.assign(t0);
  ASSERT_EQ(first.size(), 2u);
  for (const Assignment& a : first) ASSERT_EQ(d.onTaken(a.slot, a.conn, t0), Verdict::Ok);
  EXPECT_TRUE(d.beginDrain(t0).empty());  // both busy: told on Available
  EXPECT_EQ(d.queued(), 2u);
  // The first to finish takes connection 3 instead of stopping.
  EXPECT_EQ(d.onAvailable(first[0].slot, first[0].conn, 0, 0, t0), Verdict::Ok);
  const auto second = d.assign(t0);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].conn, 3u);
  EXPECT_TRUE(d.settleDrain(t0).empty());  // still one queued
  // The other takes connection 4; then the queue is empty and everyone stops when done.
  EXPECT_EQ(d.onAvailable(first[1].slot, first[1].conn, 0, 0, t0), Verdict::Ok);
  const auto third = d.assign(t0);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].conn, 4u);
  ASSERT_EQ(d.onTaken(second[0].slot, 3, t0), Verdict::Ok);
  ASSERT_EQ(d.onTaken(third[0].slot, 4, t0), Verdict::Ok);
  EXPECT_EQ(d.onAvailable(second[0].slot, 3, 0, 0, t0), Verdict::Retire);
  EXPECT_EQ(d.onAvailable(third[0].slot, 4, 0, 0, t0), Verdict::Retire);
  EXPECT_EQ(d.children().count(ChildState::Stopping), 2u);
}

TEST(DispatcherDrain, IdleLeftoversStopOnceTheQueueIsEmpty) {
  const TimePoint t0{};
  Dispatcher d(1);
  d.childStarted(0, 10, t0);
  d.onReady(0, t0);
  d.submit(1, t0);
  d.submit(2, t0);
  ASSERT_EQ(d.assign(t0).size(), 1u);
  ASSERT_EQ(d.onTaken(0, 1, t0), Verdict::Ok);
  d.beginDrain(t0);
  EXPECT_EQ(d.onAvailable(0, 1, 0, 0, t0), Verdict::Ok);  // stays for connection 2
  // Connection 2 expires before it is assigned: the child is left idle and stop-requested.
  EXPECT_EQ(d.expireQueued(t0 + std::chrono::seconds(1)).size(), 1u);
  EXPECT_EQ(d.settleDrain(t0), std::vector<SlotId>{0});
  EXPECT_EQ(d.children().find(0)->state, ChildState::Stopping);
}

}  // namespace
}  // namespace preforkd
