// Admission: when to arm the listeners, and queue versus busy line for one more client.
#include "supervisor/admission.h"

#include <ostream>
#include <string>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

struct AdmissionCase {
  const char* name;
  AdmissionView view;
  bool accept;
  Admission admission;
  // gtest prints the case by name instead of its bytes.
  friend void PrintTo(const AdmissionCase& c, std::ostream* os) { *os << c.name; }
};

AdmissionView view(std::size_t idle, std::size_t starting, std::size_t headroom,
                   std::size_t queued, std::size_t queue_capacity, bool draining = false,
                   bool paused = false) {
  AdmissionView v;
  v.draining = draining;
  v.paused = paused;
  v.usable_idle = idle;
  v.starting = starting;
  v.spawn_headroom = headroom;
  v.queued = queued;
  v.queue_capacity = queue_capacity;
  return v;
}

class AdmissionCases : public ::testing::TestWithParam<AdmissionCase> {};

TEST_P(AdmissionCases, Decide) {
  const AdmissionCase& c = GetParam();
  EXPECT_EQ(shouldAccept(c.view), c.accept);
  EXPECT_EQ(admit(c.view), c.admission) << toString(admit(c.view));
}

constexpr auto Q = Admission::Queue;
constexpr auto Full = Admission::RejectQueueFull;

INSTANTIATE_TEST_SUITE_P(
    NoQueue, AdmissionCases,
    ::testing::Values(
        AdmissionCase{"nobody_to_serve", view(0, 0, 0, 0, 0), false, Full},
        AdmissionCase{"an_idle_child", view(1, 0, 0, 0, 0), true, Q},
        AdmissionCase{"idle_child_spoken_for", view(1, 0, 0, 1, 0), false, Full},
        AdmissionCase{"starting_children_count", view(0, 2, 0, 1, 0), true, Q},
        AdmissionCase{"spawn_headroom_counts", view(0, 0, 3, 2, 0), true, Q},
        AdmissionCase{"all_capacity_spoken_for", view(1, 1, 1, 3, 0), false, Full},
        AdmissionCase{"draining", view(4, 0, 0, 0, 0, true), false, Q},
        AdmissionCase{"paused", view(4, 0, 0, 0, 0, false, true), false, Q}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    WithQueue, AdmissionCases,
    ::testing::Values(
        // With a queue the listeners stay armed so overflow clients hear a busy line.
        AdmissionCase{"nobody_to_serve_queues", view(0, 0, 0, 0, 2), true, Q},
        AdmissionCase{"queue_has_room", view(1, 0, 0, 2, 2), true, Q},
        AdmissionCase{"queue_full", view(1, 0, 0, 3, 2), true, Full},
        AdmissionCase{"capacity_adds_to_the_queue", view(1, 1, 1, 4, 2), true, Q},
        AdmissionCase{"capacity_and_queue_full", view(1, 1, 1, 5, 2), true, Full},
        AdmissionCase{"far_over", view(0, 0, 0, 100, 2), true, Full},
        AdmissionCase{"draining_with_queue", view(0, 0, 0, 0, 5, true), false, Q},
        AdmissionCase{"paused_with_queue", view(0, 0, 0, 9, 5, false, true), false, Full}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Admission, AcceptLoopWithoutQueueStopsAtCapacity) {
  // Two idle children and one starting: three clients are accepted, then the listener is
  // disarmed and the kernel backlog holds the rest.
  AdmissionView v = view(2, 1, 0, 0, 0);
  int accepted = 0;
  while (shouldAccept(v) && accepted < 100) {
    EXPECT_EQ(admit(v), Admission::Queue);
    ++v.queued;
    ++accepted;
  }
  EXPECT_EQ(accepted, 3);
}

TEST(Admission, AcceptLoopWithQueueTurnsOverflowAway) {
  AdmissionView v = view(1, 0, 0, 0, 2);
  int queued = 0;
  int rejected = 0;
  for (int i = 0; i < 10 && shouldAccept(v); ++i) {
    if (admit(v) == Admission::Queue) {
      ++v.queued;
      ++queued;
    } else {
      ++rejected;
    }
  }
  EXPECT_EQ(queued, 3);  // one for the idle child, two in the queue
  EXPECT_EQ(rejected, 7);
}

}  // namespace
}  // namespace preforkd
