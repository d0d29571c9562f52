// RespawnBrake: exponential back-off for children that die before they ever said Ready.
//
// Contract: pure. A broken worker (bad config, crash at start) must not make the supervisor
// fork in a tight loop. Each consecutive start-up failure doubles the delay before the next
// spawn, from `initial` up to `cap`; one healthy start (Ready) releases the brake. While the
// brake is on, the supervisor spawns one probe child at a time and reports itself throttled.
#pragma once

#include <algorithm>
#include <chrono>

namespace preforkd {

class RespawnBrake {
 public:
  using ms = std::chrono::milliseconds;
  explicit RespawnBrake(ms initial = ms(100), ms cap = ms(10'000)) : initial_(initial), cap_(cap) {}

  void onStartFailure() noexcept { ++failures_; }
  void onHealthyStart() noexcept { failures_ = 0; }

  bool throttled() const noexcept { return failures_ > 0; }
  unsigned failures() const noexcept { return failures_; }
  // Delay before the next spawn: 0 while healthy, then initial, 2*initial, ... capped.
  ms delay() const noexcept {
    if (failures_ == 0) return ms(0);
    const unsigned shift = std::min(failures_ - 1, 20u);
    return std::min(cap_, ms(initial_.count() << shift));
  }

 private:
  ms initial_;
  ms cap_;
  unsigned failures_ = 0;
};

}  // namespace preforkd
