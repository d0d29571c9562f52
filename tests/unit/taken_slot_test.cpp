// TakenSlot on real processes: what a forked worker records, its supervisor reads; a worker
// forked later cannot reach an earlier worker's slot.
#include "common/taken_slot.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

using Clock = TakenSlot::Clock;

// Runs `body` in a forked child and returns its wait status.
template <typename F>
int inChild(F body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  return status;
}

TEST(TakenSlot, AFreshSlotSaysNothingTaken) {
  TakenSlot slot = TakenSlot::create();
  ASSERT_TRUE(slot);
  EXPECT_FALSE(slot.taken(1));
  EXPECT_FALSE(slot.taken(0));  // 0 is never a connection id, even on a zeroed page
}

TEST(TakenSlot, ReadsTheRecordedConnectionAndTimeOnly) {
  TakenSlot slot = TakenSlot::create();
  const Clock::time_point at = Clock::now();
  slot.record(41, at);
  ASSERT_TRUE(slot.taken(41));
  EXPECT_EQ(*slot.taken(41), at);
  EXPECT_FALSE(slot.taken(40));
  EXPECT_FALSE(slot.taken(42));
  // The next connection replaces the record.
  slot.record(42, at + std::chrono::seconds(1));
  EXPECT_FALSE(slot.taken(41));
  EXPECT_EQ(*slot.taken(42), at + std::chrono::seconds(1));
}

TEST(TakenSlot, TheWorkerSeesWhenTheSupervisorReleasedItsCopy) {
  TakenSlot slot = TakenSlot::create();
  EXPECT_TRUE(slot.supervisorHolds(5));
  slot.recordReleased(5);
  EXPECT_FALSE(slot.supervisorHolds(5));
  EXPECT_TRUE(slot.supervisorHolds(6));  // the next connection starts held again
  const int status = inChild([&] { ::_exit(slot.supervisorHolds(5) ? 1 : 0); });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  TakenSlot empty;
  EXPECT_FALSE(empty.supervisorHolds(5));  // no slot: nobody to wait for
}

TEST(TakenSlot, AForkedChildsRecordIsSeenByTheParent) {
  TakenSlot slot = TakenSlot::create();
  const Clock::time_point before = Clock::now();
  const int status = inChild([&] { slot.record(7, Clock::now()); });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_TRUE(slot.taken(7));
  EXPECT_GE(*slot.taken(7), before);  // the child's clock is the parent's (CLOCK_MONOTONIC)
  EXPECT_LE(*slot.taken(7), Clock::now());
}

TEST(TakenSlot, AChildForkedAfterKeepFromLaterForksCannotReachIt) {
  TakenSlot first = TakenSlot::create();
  void* page = const_cast<void*>(first.address());
  const int before = inChild([&] { ::_exit(::madvise(page, 4096, MADV_NORMAL) == 0 ? 0 : 1); });
  EXPECT_TRUE(WIFEXITED(before) && WEXITSTATUS(before) == 0) << before;
  ASSERT_EQ(first.keepFromLaterForks(), 0);
  // The page is not mapped in the later child (madvise on an unmapped range fails with
  // ENOMEM), so it cannot forge a record; a child forked before keepFromLaterForks() can.
  const int status = inChild([&] {
    ::_exit(::madvise(page, 4096, MADV_NORMAL) == -1 && errno == ENOMEM ? 0 : 1);
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // The parent keeps its own mapping.
  first.record(10, Clock::now());
  EXPECT_TRUE(first.taken(10));
}

TEST(TakenSlot, MovedFromAndEmptySlotsAreInert) {
  TakenSlot a = TakenSlot::create();
  a.record(3, Clock::now());
  TakenSlot b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_FALSE(a.taken(3));
  a.record(4, Clock::now());  // no-op, no crash
  EXPECT_TRUE(b.taken(3));
  TakenSlot empty;
  EXPECT_FALSE(empty);
  EXPECT_NE(empty.keepFromLaterForks(), 0);
  b = std::move(empty);  // unmaps b's page
  EXPECT_FALSE(b);
}

}  // namespace
}  // namespace preforkd
