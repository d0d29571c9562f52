#include "supervisor/pool_planner.h"

#include <algorithm>
#include <chrono>

#include "common/hot_path.h"

namespace preforkd {
namespace {

constexpr std::chrono::seconds kSpawnWindow{1};  // the ramp's unit: spawns per second
constexpr std::chrono::seconds kRetirePace{1};   // dynamic: at most one retirement per second

std::size_t minus(std::size_t a, std::size_t b) noexcept { return a > b ? a - b : 0; }

}  // namespace

void PoolPlanner::update(const PoolSettings& settings) {
  settings_ = settings;
  filled_ = false;  // the next plan() fills up to `workers` at once
  window_start_ = TimePoint{};
  window_budget_ = 1;
  window_spawned_ = 0;
  short_last_ = false;
}

PREFORKD_HOT
PoolDecision PoolPlanner::plan(const PoolView& view, TimePoint now) {
  switch (settings_.mode) {
    case PoolMode::Static: return planStatic(view);
    case PoolMode::Dynamic: return planDynamic(view, now);
    case PoolMode::OnDemand: return planOnDemand(view, now);
  }
  return {};
}

PoolDecision PoolPlanner::planStatic(const PoolView& view) const {
  PoolDecision d;
  d.spawn = minus(settings_.workers, view.active);
  // One per call: the caller plans again when that child is reaped.
  d.retire_idle = view.active > settings_.workers && view.idle > 0;
  return d;
}

std::optional<PoolDecision> PoolPlanner::initialFill(const PoolView& view, std::size_t shortage,
                                                     TimePoint now) {
  if (filled_) return std::nullopt;
  filled_ = true;
  window_start_ = now;  // the ramp starts after the fill
  window_budget_ = 1;
  window_spawned_ = 0;
  short_last_ = false;
  const std::size_t want = std::max(minus(settings_.workers, view.active), shortage);
  if (want == 0) return std::nullopt;
  const std::size_t headroom = minus(settings_.max_children, view.active);
  PoolDecision d;
  d.spawn = std::min(want, headroom);
  d.max_children_hit = want > headroom;
  return d;
}

PoolDecision PoolPlanner::planDynamic(const PoolView& view, TimePoint now) {
  const std::size_t have = view.idle + view.starting;
  const std::size_t need = minus(settings_.min_spare + view.queued, have);
  if (auto fill = initialFill(view, need, now)) return *fill;

  PoolDecision d;
  if (need > 0) {
    if (now >= window_start_ + kSpawnWindow) {
      // A new second. The budget doubles only if the shortage has lasted since the last
      // plan (a plan that saw none already reset it to 1).
      const std::size_t cap = std::max<std::size_t>(settings_.max_spawn_rate, 1);
      window_budget_ = short_last_ ? std::min(window_budget_ * 2, cap) : 1;
      window_start_ = now;
      window_spawned_ = 0;
    }
    short_last_ = true;
    const std::size_t headroom = minus(settings_.max_children, view.active);
    const std::size_t budget_left = minus(window_budget_, window_spawned_);
    d.spawn = std::min({need, budget_left, headroom});
    window_spawned_ += d.spawn;
    d.max_children_hit = need > headroom;
    // Held back by the ramp (not by the cap): plan again when the next second opens.
    if (need > d.spawn && headroom > d.spawn) d.recheck_at = window_start_ + kSpawnWindow;
    // Never retire while clients or the spare floor are waiting for children.
    return d;
  }

  short_last_ = false;
  window_budget_ = 1;
  if (view.idle > settings_.max_spare) {
    if (!last_retire_ || now - *last_retire_ >= kRetirePace) {
      d.retire_idle = true;
      last_retire_ = now;
    }
    const std::size_t idle_after = view.idle - (d.retire_idle ? 1 : 0);
    if (idle_after > settings_.max_spare) d.recheck_at = *last_retire_ + kRetirePace;
  }
  return d;
}

PoolDecision PoolPlanner::planOnDemand(const PoolView& view, TimePoint now) {
  // No initial fill: an ondemand pool starts empty whatever `workers` says.
  const std::size_t need = minus(view.queued, view.idle + view.starting);

  PoolDecision d;
  const std::size_t headroom = minus(settings_.max_children, view.active);
  d.spawn = std::min(need, headroom);
  d.max_children_hit = need > headroom;
  if (view.longest_idle_since) {
    const TimePoint expires = *view.longest_idle_since + settings_.ondemand_idle_timeout;
    if (now >= expires) {
      d.retire_idle = true;  // the next one's expiry is known after the caller acts
    } else {
      d.recheck_at = expires;
    }
  }
  return d;
}

}  // namespace preforkd
