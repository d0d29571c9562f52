#include "worker/session_deadline.h"

#include <algorithm>

#include "common/hot_path.h"

namespace preforkd {

using std::chrono::milliseconds;

PREFORKD_HOT
SessionDeadline::SessionDeadline(Clock::time_point started, milliseconds max_session) {
  if (max_session.count() > 0) deadline_ = started + max_session;
}

PREFORKD_HOT
bool SessionDeadline::expired(Clock::time_point now) const noexcept {
  return deadline_ && now >= *deadline_;
}

PREFORKD_HOT
InputWait SessionDeadline::inputWait(milliseconds idle, Clock::time_point now) const noexcept {
  if (!deadline_) return {idle, WaitLimit::Idle};
  const milliseconds left = std::max(std::chrono::ceil<milliseconds>(*deadline_ - now),
                                     milliseconds::zero());
  // A tie goes to the session: it is the harder limit, and the one the client is told about.
  if (left <= idle) return {left, WaitLimit::Session};
  return {idle, WaitLimit::Idle};
}

PREFORKD_HOT
milliseconds SessionDeadline::writeWait(milliseconds idle, Clock::time_point now) const noexcept {
  if (!deadline_) return idle;
  const milliseconds left = std::max(std::chrono::ceil<milliseconds>(*deadline_ - now),
                                     milliseconds::zero());
  return std::min(idle, left + kSessionEndWriteGrace);
}

PREFORKD_HOT
SessionEnd SessionDeadline::classify(SessionEnd end, Clock::time_point now) const noexcept {
  return end == SessionEnd::WriteFailed && expired(now) ? SessionEnd::SessionLimit : end;
}

}  // namespace preforkd
