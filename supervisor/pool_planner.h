// PoolPlanner: how many children to start or retire, by pool mode. The supervisor calls it
// after every event that changes the pool (a hand-off, a Ready, a reap) and from its
// maintenance tick, then forks or retires as told.
//
// Contract: pure (the caller passes `now` and a view of the current generation). Rules:
//  - static: keep `workers` active children; retire one idle child per call above it
//    (after TTOU / set workers).
//  - dynamic: start with `workers`; spawn while idle + starting < min_spare + queued, at
//    most max_children active; spawns per second ramp 1, 2, 4 ... up to max_spawn_rate while
//    the shortage lasts (Apache's prefork ramp) and fall back to 1 when it ends; retire the
//    longest-idle child when idle > max_spare, at most one per second.
//  - ondemand: spawn one child per queued connection not covered by an idle or starting
//    child, at most max_children active; idle children past ondemand_idle_timeout retire.
//  - A shortage that max_children blocks sets max_children_hit (the caller counts it and
//    logs it rate-limited).
// Details (dynamic, ondemand):
//  - dynamic: the first plan() after construction or update() is the initial fill: it spawns
//    max(workers - active, the mode's shortage) at once, capped only by max_children (not by
//    the ramp). So on a reload the caller calls update() (even with unchanged settings)
//    before planning the new generation, which then starts at full size. An ondemand pool
//    starts empty whatever `workers` says.
//  - The ramp's window is the second that starts with the first shortage plan after the
//    previous window ended; a plan that sees no shortage resets the budget to 1 at once.
//  - dynamic never retires while there is a shortage (queued clients or fewer spares than
//    min_spare), and retires only the longest-idle child, one per second.
//  - recheck_at is set only while the planner itself holds something back: a shortage the
//    ramp (not max_children) limits -> the next window; a surplus the retire pacing limits ->
//    a second after the last retirement; ondemand idle children -> when the longest-idle one
//    expires. A decision to spawn or retire changes the pool: the caller plans again after
//    the resulting event (Ready, reap), as after any other.
#pragma once

#include <cstddef>
#include <optional>

#include "supervisor/child_table.h"
#include "supervisor/pool_settings.h"

namespace preforkd {

struct PoolView {
  std::size_t active = 0;    // current generation: starting + idle + busy, not stop-requested
  std::size_t idle = 0;      // current generation, idle
  std::size_t starting = 0;  // current generation, starting
  std::size_t queued = 0;    // connections waiting for a child
  std::optional<TimePoint> longest_idle_since;  // ondemand: the longest-idle child's idle start
};

struct PoolDecision {
  std::size_t spawn = 0;           // fork this many now
  bool retire_idle = false;        // retire the longest-idle child now
  bool max_children_hit = false;   // demand exists but the cap stops it
  std::optional<TimePoint> recheck_at;  // call plan() again by then (ramp, retire pacing)

  friend bool operator==(const PoolDecision&, const PoolDecision&) = default;
};

class PoolPlanner {
 public:
  explicit PoolPlanner(PoolSettings settings) : settings_(settings) {}

  const PoolSettings& settings() const noexcept { return settings_; }
  // New settings (reload, TTIN/TTOU, set workers); the ramp restarts.
  void update(const PoolSettings& settings);

  // The target that `workers` means in this mode (static: the size; others: the start size).
  PoolDecision plan(const PoolView& view, TimePoint now);

 private:
  PoolDecision planStatic(const PoolView& view) const;
  PoolDecision planDynamic(const PoolView& view, TimePoint now);
  PoolDecision planOnDemand(const PoolView& view, TimePoint now);
  // The first plan() after construction/update(): fill up to `workers` (or the shortage).
  std::optional<PoolDecision> initialFill(const PoolView& view, std::size_t shortage,
                                          TimePoint now);

  PoolSettings settings_;
  bool filled_ = false;           // the initial fill happened
  TimePoint window_start_{};      // the current one-second spawn window
  std::size_t window_budget_ = 1; // spawns allowed in it (doubles while the shortage lasts)
  std::size_t window_spawned_ = 0;
  bool short_last_ = false;       // the last plan saw a shortage (the ramp may double)
  std::optional<TimePoint> last_retire_;
};

}  // namespace preforkd
