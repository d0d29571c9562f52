#include "supervisor/crash_window.h"

#include <csignal>

namespace preforkd {

bool isCrashSignal(int sig) noexcept {
  switch (sig) {
    case SIGSEGV:
    case SIGBUS:
    case SIGABRT:
    case SIGILL:
    case SIGFPE:
    case SIGSYS:
    case SIGTRAP:
      return true;
    default:
      return false;
  }
}

void CrashWindow::configure(unsigned limit, std::chrono::milliseconds interval) {
  limit_ = limit;
  interval_ = interval;
  while (crashes_.size() > limit_) crashes_.pop_front();
}

bool CrashWindow::record(TimePoint now) {
  if (limit_ == 0) return false;
  crashes_.push_back(now);
  while (crashes_.size() > limit_) crashes_.pop_front();
  return recent(now) >= limit_;
}

std::size_t CrashWindow::recent(TimePoint now) const {
  std::size_t n = 0;
  for (const TimePoint at : crashes_) {
    if (at <= now && now - at <= interval_) ++n;
  }
  return n;
}

}  // namespace preforkd
