// Pool settings: how many children, how they are chosen, and the bounds on their lives.
//
// Contract: plain values, validated by the CLI (and later the config file) before the
// supervisor sees them; the enums have pure text conversions used by flags, stats and logs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace preforkd {

using Generation = std::uint64_t;

// The most children one generation may have (the flags' and keys' upper bound).
inline constexpr std::size_t kMaxChildrenLimit = 4096;

enum class PoolMode {
  Static,    // exactly `workers` children
  Dynamic,   // start `workers`, keep idle children between min_spare and max_spare
  OnDemand,  // no idle children kept: fork per demand, idle children exit after a timeout
};

enum class DispatchPolicy {
  Lru,          // the child idle the longest (default: spreads work evenly)
  Mru,          // the child idle the shortest (keeps caches warm, lets dynamic pools shrink)
  RoundRobin,   // the next idle slot after the last one picked
  LeastServed,  // the idle child that has served the fewest connections
};

const char* toString(PoolMode mode) noexcept;
const char* toString(DispatchPolicy policy) noexcept;
std::optional<PoolMode> parsePoolMode(std::string_view text);              // static|dynamic|ondemand
std::optional<DispatchPolicy> parseDispatchPolicy(std::string_view text);  // lru|mru|round-robin|least-served

struct PoolSettings {
  PoolMode mode = PoolMode::Static;
  std::size_t workers = 4;        // static: the pool size; dynamic: children at start
  std::size_t min_spare = 2;      // dynamic: spawn while fewer idle children than this
  std::size_t max_spare = 8;      // dynamic: retire the longest-idle child above this
  std::size_t max_children = 64;  // dynamic, ondemand: hard cap on one generation's children
  std::size_t max_spawn_rate = 32;  // dynamic: the 1, 2, 4... spawns-per-second ramp stops here
  std::chrono::milliseconds ondemand_idle_timeout{10'000};  // ondemand: idle child exits after
  DispatchPolicy policy = DispatchPolicy::Lru;
};

// "" when the settings are consistent, otherwise what is wrong (in flag/key terms).
std::string validatePoolSettings(const PoolSettings& pool);

// Per-child lifetime limits and the supervisor's enforcement of them (TERM, then KILL after
// kill_grace). Zero durations/counts mean "no limit" where noted.
struct LifecycleSettings {
  std::uint64_t max_connections_per_child = 0;  // 0: never recycle
  std::uint64_t recycle_jitter = 0;             // each child's limit gets + random [0, jitter]
  std::chrono::milliseconds session_grace{10'000};     // backstop: busy > max_session + grace
  std::chrono::milliseconds handoff_timeout{5'000};    // sent a connection, no Taken
  std::chrono::milliseconds startup_timeout{30'000};   // forked, no Ready
  std::chrono::milliseconds kill_grace{2'000};         // after SIGTERM, before SIGKILL
  unsigned crash_limit = 5;                            // crash-signal deaths within ...
  std::chrono::milliseconds crash_interval{60'000};    // ... this long throttle respawns; 0 limit: off
  std::chrono::milliseconds respawn_backoff_max{10'000};  // cap of the exponential back-off
  std::chrono::milliseconds reload_timeout{60'000};    // an old generation's drain deadline
  std::chrono::milliseconds shutdown_timeout{10'000};  // SIGTERM: busy children finish within
  std::chrono::milliseconds upgrade_timeout{30'000};   // SIGUSR2: the new binary must be ready
};

// What the supervisor does when every child is busy.
struct OverloadSettings {
  std::size_t queue_size = 0;  // 0: no user-space queue (listeners pause; the backlog holds)
  std::chrono::milliseconds queue_timeout{10'000};  // a queued client's deadline
  std::string busy_message = "421 preforkd: all workers are busy, try again later";
  std::size_t max_per_source = 0;  // concurrent connections per client address; 0: no cap
  std::string per_source_message = "421 preforkd: too many connections from your address";
};

}  // namespace preforkd
