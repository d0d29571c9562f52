// PoolPlanner: static sizing, the dynamic ramp and spare bounds, ondemand spawning and idle
// expiry, as scripted sequences of (view, now) -> decision.
#include "supervisor/pool_planner.h"

#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace preforkd {

// Readable failures for EXPECT_EQ on decisions.
void PrintTo(const PoolDecision& d, std::ostream* os) {
  *os << "{spawn=" << d.spawn << " retire_idle=" << d.retire_idle
      << " max_children_hit=" << d.max_children_hit << " recheck_at=";
  if (d.recheck_at) {
    *os << std::chrono::duration_cast<std::chrono::milliseconds>(
               d.recheck_at->time_since_epoch()).count() << "ms";
  } else {
    *os << "none";
  }
  *os << "}";
}

namespace {

using std::chrono::milliseconds;

TimePoint t(int ms) { return TimePoint{} + milliseconds(ms); }

PoolSettings staticPool(std::size_t workers, std::size_t max_children = 64) {
  PoolSettings s;
  s.mode = PoolMode::Static;
  s.workers = workers;
  s.max_children = max_children;
  return s;
}

PoolSettings dynamicPool(std::size_t workers, std::size_t min_spare, std::size_t max_spare,
                         std::size_t max_children, std::size_t max_spawn_rate) {
  PoolSettings s;
  s.mode = PoolMode::Dynamic;
  s.workers = workers;
  s.min_spare = min_spare;
  s.max_spare = max_spare;
  s.max_children = max_children;
  s.max_spawn_rate = max_spawn_rate;
  return s;
}

PoolSettings onDemandPool(std::size_t workers, std::size_t max_children, int idle_timeout_ms) {
  PoolSettings s;
  s.mode = PoolMode::OnDemand;
  s.workers = workers;
  s.max_children = max_children;
  s.ondemand_idle_timeout = milliseconds(idle_timeout_ms);
  return s;
}

PoolView view(std::size_t active, std::size_t idle, std::size_t starting, std::size_t queued,
              std::optional<int> longest_idle_since_ms = std::nullopt) {
  PoolView v;
  v.active = active;
  v.idle = idle;
  v.starting = starting;
  v.queued = queued;
  if (longest_idle_since_ms) v.longest_idle_since = t(*longest_idle_since_ms);
  return v;
}

// An expected decision; constructors rather than an aggregate so cases can stop early.
struct D {
  D(std::size_t spawn_ = 0, bool retire_ = false, bool hit_ = false,
    std::optional<int> recheck_ms_ = std::nullopt)
      : spawn(spawn_), retire(retire_), hit(hit_), recheck_ms(recheck_ms_) {}
  std::size_t spawn;
  bool retire;
  bool hit;
  std::optional<int> recheck_ms;
};

PoolDecision decision(const D& d) {
  PoolDecision out;
  out.spawn = d.spawn;
  out.retire_idle = d.retire;
  out.max_children_hit = d.hit;
  if (d.recheck_ms) out.recheck_at = t(*d.recheck_ms);
  return out;
}

struct Step {
  Step(int now, PoolView v, D d, std::optional<PoolSettings> update = std::nullopt)
      : now_ms(now), view(v), expect(d), update_before(update) {}
  int now_ms;
  PoolView view;
  D expect;
  std::optional<PoolSettings> update_before;  // update() the planner before this step
};

struct PlannerCase {
  const char* name;
  PoolSettings settings;
  std::vector<Step> steps;
  // gtest prints the case by name instead of its bytes.
  friend void PrintTo(const PlannerCase& c, std::ostream* os) { *os << c.name; }
};

class PoolPlannerScript : public ::testing::TestWithParam<PlannerCase> {};

TEST_P(PoolPlannerScript, Decisions) {
  const PlannerCase& c = GetParam();
  PoolPlanner planner(c.settings);
  for (std::size_t i = 0; i < c.steps.size(); ++i) {
    const Step& s = c.steps[i];
    if (s.update_before) planner.update(*s.update_before);
    EXPECT_EQ(planner.plan(s.view, t(s.now_ms)), decision(s.expect))
        << "step " << i << " at " << s.now_ms << "ms";
  }
}

// Dynamic pool used by the ramp cases: start 2, keep 2 spare, room for 100, ramp to 8.
const PoolSettings kRamp = dynamicPool(2, 2, 100, 100, 8);

INSTANTIATE_TEST_SUITE_P(
    Static, PoolPlannerScript,
    ::testing::Values(
        PlannerCase{"static_fills_to_workers", staticPool(4),
                    {{0, view(0, 0, 0, 0), {4}},
                     {1, view(4, 0, 4, 0), {}},
                     {2, view(4, 4, 0, 0), {}}}},
        PlannerCase{"static_refills_after_exits", staticPool(4),
                    {{0, view(4, 4, 0, 0), {}}, {1, view(2, 1, 0, 0), {2}}}},
        PlannerCase{"static_ignores_queue_and_spares", staticPool(2),
                    {{0, view(2, 0, 0, 50), {}}}},
        PlannerCase{"static_is_not_capped_by_max_children", staticPool(8, 4),
                    {{0, view(0, 0, 0, 0), {8}}}},
        PlannerCase{"static_shrinks_one_idle_child_per_call", staticPool(2),
                    {{0, view(4, 3, 0, 0), {0, true}},
                     {1, view(4, 3, 0, 0), {0, true}},  // no pacing in static mode
                     {2, view(3, 2, 0, 0), {0, true}},
                     {3, view(2, 1, 0, 0), {}}}},
        PlannerCase{"static_above_size_but_all_busy_waits", staticPool(2),
                    {{0, view(4, 0, 0, 0), {}}}},
        PlannerCase{"static_update_changes_the_size", staticPool(2),
                    {{0, view(2, 2, 0, 0), {}},
                     {1, view(2, 2, 0, 0), {1}, staticPool(3)},
                     {2, view(3, 3, 0, 0), {0, true}, staticPool(2)}}}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Dynamic, PoolPlannerScript,
    ::testing::Values(
        PlannerCase{"initial_fill_is_not_rate_limited", dynamicPool(5, 2, 8, 64, 32),
                    {{0, view(0, 0, 0, 0), {5}},
                     {1, view(5, 0, 5, 0), {}},
                     {2, view(5, 5, 0, 0), {}}}},
        PlannerCase{"initial_fill_covers_min_spare_and_queue", dynamicPool(1, 3, 8, 64, 32),
                    {{0, view(0, 0, 0, 2), {5}}}},
        PlannerCase{"initial_fill_is_capped_by_max_children", dynamicPool(5, 2, 8, 3, 32),
                    {{0, view(0, 0, 0, 0), {3, false, true}}}},
        PlannerCase{"ramp_doubles_each_second_of_shortage", kRamp,
                    {{0, view(0, 0, 0, 0), {2}},
                     {10, view(2, 2, 0, 0), {}},
                     // All busy, 10 clients queued: 12 wanted (2 spares + 10).
                     {100, view(2, 0, 0, 10), {1, false, false, 1000}},
                     {200, view(3, 0, 1, 10), {0, false, false, 1000}},  // budget spent
                     {1000, view(3, 0, 1, 10), {2, false, false, 2000}},
                     {2000, view(5, 0, 3, 10), {4, false, false, 3000}},
                     {3000, view(9, 0, 7, 10), {5}},  // budget 8, 5 wanted
                     {3100, view(14, 0, 12, 10), {}},
                     // A new shortage after one ended starts again at 1.
                     {4100, view(14, 0, 12, 20), {1, false, false, 5100}}}},
        PlannerCase{"ramp_stops_at_max_spawn_rate", dynamicPool(1, 1, 100, 100, 2),
                    {{0, view(0, 0, 0, 0), {1}},
                     {0, view(1, 0, 0, 20), {1, false, false, 1000}},
                     {1000, view(2, 0, 1, 20), {2, false, false, 2000}},
                     {2000, view(4, 0, 3, 20), {2, false, false, 3000}},
                     {3000, view(6, 0, 5, 20), {2, false, false, 4000}}}},
        PlannerCase{"shortage_ending_resets_the_ramp_within_a_window", kRamp,
                    {{0, view(0, 0, 0, 0), {2}},
                     {0, view(2, 0, 0, 10), {1, false, false, 1000}},
                     {1000, view(3, 0, 1, 10), {2, false, false, 2000}},
                     {1500, view(5, 5, 0, 0), {}},  // spares back: budget 1
                     // Same window, 2 already spawned in it: nothing until it ends.
                     {1600, view(5, 0, 0, 3), {0, false, false, 2000}},
                     // The shortage lasted from 1600 into the next second: 1 doubles to 2.
                     {2000, view(5, 0, 0, 3), {2, false, false, 3000}},
                     {2100, view(7, 0, 2, 3), {0, false, false, 3000}}}},
        PlannerCase{"max_children_blocks_the_shortage", dynamicPool(2, 2, 8, 4, 8),
                    {{0, view(0, 0, 0, 0), {2}},
                     {10, view(4, 0, 0, 3), {0, false, true}},
                     {20, view(3, 0, 0, 5), {1, false, true}}}},
        PlannerCase{"spares_above_max_retire_one_per_second", dynamicPool(2, 1, 2, 64, 8),
                    {{0, view(0, 0, 0, 0), {2}},
                     {100, view(5, 5, 0, 0), {0, true, false, 1100}},
                     {200, view(4, 4, 0, 0), {0, false, false, 1100}},
                     {1100, view(4, 4, 0, 0), {0, true, false, 2100}},
                     {2100, view(3, 3, 0, 0), {0, true}},
                     {2200, view(3, 3, 0, 0), {0, false, false, 3100}},
                     {3100, view(2, 2, 0, 0), {}}}},
        PlannerCase{"never_retires_while_clients_wait", dynamicPool(2, 1, 2, 64, 8),
                    {{0, view(0, 0, 0, 0), {2}},
                     {100, view(8, 3, 0, 5), {1, false, false, 1000}}}},
        PlannerCase{"update_refills_and_restarts_the_ramp", kRamp,
                    {{0, view(0, 0, 0, 0), {2}},
                     {0, view(2, 0, 0, 10), {1, false, false, 1000}},
                     {1000, view(3, 0, 1, 10), {2, false, false, 2000}},
                     // Reload with workers 8: fill at once, then the ramp starts at 1.
                     {1100, view(0, 0, 0, 0), {8}, dynamicPool(8, 2, 100, 100, 8)},
                     {1200, view(8, 0, 0, 10), {1, false, false, 2100}}}}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    OnDemand, PoolPlannerScript,
    ::testing::Values(
        PlannerCase{"starts_empty_with_zero_workers", onDemandPool(0, 4, 10'000),
                    {{0, view(0, 0, 0, 0), {}}}},
        PlannerCase{"ignores_workers_at_start", onDemandPool(2, 4, 10'000),
                    {{0, view(0, 0, 0, 0), {}}, {1, view(0, 0, 0, 1), {1}}}},
        PlannerCase{"one_child_per_uncovered_client", onDemandPool(0, 4, 10'000),
                    {{0, view(0, 0, 0, 3), {3}},
                     {1, view(3, 0, 3, 3), {}},
                     {2, view(3, 1, 0, 2), {1}},
                     {3, view(3, 0, 0, 0), {}}}},
        PlannerCase{"capped_by_max_children", onDemandPool(0, 4, 10'000),
                    {{0, view(0, 0, 0, 0), {}},
                     {1, view(3, 0, 0, 3), {1, false, true}},
                     {2, view(4, 0, 0, 6), {0, false, true}}}},
        PlannerCase{"idle_children_expire", onDemandPool(0, 4, 10'000),
                    {{0, view(0, 0, 0, 0), {}},
                     {5000, view(2, 2, 0, 0, 1000), {0, false, false, 11'000}},
                     {10'999, view(2, 2, 0, 0, 1000), {0, false, false, 11'000}},
                     {11'000, view(2, 2, 0, 0, 1000), {0, true}},
                     {11'001, view(1, 1, 0, 0, 4000), {0, false, false, 14'000}},
                     {20'000, view(1, 1, 0, 0, 4000), {0, true}},
                     {20'001, view(0, 0, 0, 0), {}}}},
        PlannerCase{"no_ramp_in_ondemand", onDemandPool(0, 64, 10'000),
                    {{0, view(0, 0, 0, 0), {}},
                     {1, view(0, 0, 0, 40), {40}}}}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(PoolPlanner, UpdateReplacesTheSettings) {
  PoolPlanner planner(staticPool(2));
  planner.update(dynamicPool(3, 1, 5, 10, 4));
  EXPECT_EQ(planner.settings().mode, PoolMode::Dynamic);
  EXPECT_EQ(planner.settings().workers, 3u);
  EXPECT_EQ(planner.plan(view(0, 0, 0, 0), t(0)).spawn, 3u);
}

}  // namespace
}  // namespace preforkd
