// SessionDeadline: when a session must end (--max-session after the connection was taken), and
// how long each wait inside the session may last so that no wait outlives the deadline.
//
// Contract: pure arithmetic on steady_clock time points; the caller passes `now`, so it is
// unit-tested without sleeping. A max_session of 0 means "no limit": every wait is then the
// idle timeout, exactly as before. readClientInput() (worker/service.h) cuts each wait for
// client input at the deadline and ends the session there, however busy the client is; writes
// may run past the deadline by at most kSessionEndWriteGrace, enough for a last line to a client
// that reads. The supervisor kills a worker that overstays max_session by its own grace
// (--session-grace), so the worker must never rely on that backstop.
#pragma once

#include <chrono>
#include <optional>

#include "worker/session.h"

namespace preforkd {

// What cut a wait for client input short.
enum class WaitLimit { Idle, Session };

struct InputWait {
  std::chrono::milliseconds timeout;  // for ClientConnection::readSome
  WaitLimit limit;                    // what a timeout of this wait means
  friend bool operator==(const InputWait&, const InputWait&) = default;
};

class SessionDeadline {
 public:
  using Clock = std::chrono::steady_clock;

  // How long past the deadline a write may still wait (a goodbye line, the reply in flight).
  static constexpr std::chrono::milliseconds kSessionEndWriteGrace{500};

  SessionDeadline() = default;  // no limit
  SessionDeadline(Clock::time_point started, std::chrono::milliseconds max_session);

  bool limited() const noexcept { return deadline_.has_value(); }
  // True from the deadline on.
  bool expired(Clock::time_point now) const noexcept;
  // The idle timeout, cut at the deadline (rounded up to whole milliseconds, so a wait never
  // ends before the deadline). Meaningless once expired(): check that first.
  InputWait inputWait(std::chrono::milliseconds idle, Clock::time_point now) const noexcept;
  // The write timeout: the idle timeout, but no later than the deadline plus the grace.
  std::chrono::milliseconds writeWait(std::chrono::milliseconds idle,
                                      Clock::time_point now) const noexcept;
  // A write that failed once the deadline had passed was cut by the deadline (or the client
  // went away while over its time): either way the session ended because of its limit.
  SessionEnd classify(SessionEnd end, Clock::time_point now) const noexcept;

 private:
  std::optional<Clock::time_point> deadline_;
};

}  // namespace preforkd
