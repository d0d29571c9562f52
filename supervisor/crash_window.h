// CrashWindow: "children die from a crash signal repeatedly within an interval" (php-fpm's
// emergency_restart_threshold/interval). Only crash signals count (SIGSEGV, SIGBUS, SIGABRT,
// SIGILL, SIGFPE, SIGSYS, SIGTRAP): SIGKILL/SIGTERM come from operators, the OOM killer or
// our own time limits and say nothing about the worker's code.
//
// Contract: pure. record() returns true when this crash makes `limit` crashes within
// `interval`: the caller engages the respawn brake. limit 0 turns it off (nothing is kept).
// "Within" is inclusive: a crash exactly `interval` before `now` still counts. Every further
// crash while `limit` of them are within the interval returns true again (the brake stays
// on); the window forgets crashes only as they age out. configure() keeps the newest
// crashes that fit the new limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>

#include "supervisor/child_table.h"

namespace preforkd {

bool isCrashSignal(int sig) noexcept;

class CrashWindow {
 public:
  CrashWindow(unsigned limit, std::chrono::milliseconds interval)
      : limit_(limit), interval_(interval) {}

  void configure(unsigned limit, std::chrono::milliseconds interval);
  bool record(TimePoint now);
  std::size_t recent(TimePoint now) const;  // crashes within the interval before `now`

 private:
  unsigned limit_;
  std::chrono::milliseconds interval_;
  std::deque<TimePoint> crashes_;  // at most `limit_` kept
};

}  // namespace preforkd
