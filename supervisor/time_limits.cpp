#include "supervisor/time_limits.h"

#include <csignal>

namespace preforkd {
namespace {

// Calls f(kind, deadline, signal) for each limit that applies to `c` in its current state.
// checkTimeLimits() and nextTimeLimit() share it, so the timer is armed for exactly the
// instants at which a scan finds something to do.
template <typename F>
void forEachDeadline(const ChildRecord& c, const TimeLimits& limits, F&& f) {
  if (c.state == ChildState::Empty) return;
  if (c.term_sent_at) {
    // Already told to terminate: the only next step is SIGKILL, never a second SIGTERM.
    if (!c.kill_sent) f(LimitKind::Escalation, *c.term_sent_at + limits.kill_grace, SIGKILL);
    return;
  }
  if (c.state == ChildState::Starting) {
    f(LimitKind::Startup, c.state_since + limits.startup, SIGTERM);
  }
  if (c.state == ChildState::Busy && !c.conn_taken) {
    // Busy since the assignment (markBusy): the hand-off has taken too long.
    f(LimitKind::Handoff, c.state_since + limits.handoff, SIGTERM);
  }
  if (c.state == ChildState::Busy && c.conn_taken && limits.max_session.count() > 0) {
    f(LimitKind::Session, c.conn_taken_at + limits.max_session + limits.session_grace, SIGTERM);
  }
  if (c.stop_requested && c.generation < limits.current_generation &&
      limits.drain_deadline_for_old) {
    f(LimitKind::Drain, *limits.drain_deadline_for_old, SIGTERM);
  }
}

}  // namespace

const char* toString(LimitKind kind) noexcept {
  switch (kind) {
    case LimitKind::Startup: return "startup";
    case LimitKind::Handoff: return "handoff";
    case LimitKind::Session: return "session";
    case LimitKind::Drain: return "drain";
    case LimitKind::Escalation: return "escalation";
  }
  return "?";
}

std::vector<LimitAction> checkTimeLimits(const ChildTable& table, const TimeLimits& limits,
                                         TimePoint now) {
  std::vector<LimitAction> out;
  for (const ChildRecord& c : table.slots()) {
    // One action per child: the limit that passed first (the first listed on a tie).
    std::optional<LimitAction> due;
    TimePoint due_at{};
    forEachDeadline(c, limits, [&](LimitKind kind, TimePoint at, int sig) {
      if (at > now || (due && at >= due_at)) return;
      due = LimitAction{c.slot, kind, sig};
      due_at = at;
    });
    if (due) out.push_back(*due);
  }
  return out;
}

std::optional<TimePoint> nextTimeLimit(const ChildTable& table, const TimeLimits& limits) {
  std::optional<TimePoint> next;
  for (const ChildRecord& c : table.slots()) {
    forEachDeadline(c, limits, [&](LimitKind, TimePoint at, int) {
      if (!next || at < *next) next = at;
    });
  }
  return next;
}

}  // namespace preforkd
