#include "supervisor/pool_settings.h"

#include <fmt/format.h>

namespace preforkd {

const char* toString(PoolMode mode) noexcept {
  switch (mode) {
    case PoolMode::Static: return "static";
    case PoolMode::Dynamic: return "dynamic";
    case PoolMode::OnDemand: return "ondemand";
  }
  return "?";
}

const char* toString(DispatchPolicy policy) noexcept {
  switch (policy) {
    case DispatchPolicy::Lru: return "lru";
    case DispatchPolicy::Mru: return "mru";
    case DispatchPolicy::RoundRobin: return "round-robin";
    case DispatchPolicy::LeastServed: return "least-served";
  }
  return "?";
}

std::optional<PoolMode> parsePoolMode(std::string_view text) {
  for (PoolMode m : {PoolMode::Static, PoolMode::Dynamic, PoolMode::OnDemand}) {
    if (text == toString(m)) return m;
  }
  return std::nullopt;
}

std::optional<DispatchPolicy> parseDispatchPolicy(std::string_view text) {
  for (DispatchPolicy p : {DispatchPolicy::Lru, DispatchPolicy::Mru, DispatchPolicy::RoundRobin,
                           DispatchPolicy::LeastServed}) {
    if (text == toString(p)) return p;
  }
  return std::nullopt;
}

std::string validatePoolSettings(const PoolSettings& p) {
  if (p.workers == 0 && p.mode != PoolMode::OnDemand) return "workers must be at least 1";
  if (p.max_children == 0) return "max-children must be at least 1";
  if (p.mode == PoolMode::Static) return {};
  if (p.mode == PoolMode::Dynamic && p.workers > p.max_children) {
    return fmt::format("workers ({}) exceeds max-children ({})", p.workers, p.max_children);
  }
  if (p.mode == PoolMode::Dynamic) {
    if (p.min_spare == 0) return "min-spare must be at least 1 in dynamic mode";
    if (p.min_spare > p.max_spare) {
      return fmt::format("min-spare ({}) exceeds max-spare ({})", p.min_spare, p.max_spare);
    }
    if (p.min_spare > p.max_children) {
      return fmt::format("min-spare ({}) exceeds max-children ({})", p.min_spare, p.max_children);
    }
    if (p.max_spawn_rate == 0) return "max-spawn-rate must be at least 1";
  }
  return {};
}

}  // namespace preforkd
