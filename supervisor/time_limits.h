// Time limits: which children have overstayed, and what to do about it.
//
// Contract: pure. checkTimeLimits() scans the child table and returns one action per child
// that needs a signal now; the caller sends it, logs the action's reason with the child and
// its client, and records term_sent_at / kill_sent on the record (so the next scan escalates
// instead of repeating). Limits:
//  - startup:  Starting longer than startup_timeout                    -> SIGTERM
//  - hand-off: Busy, not Taken, longer than handoff_timeout            -> SIGTERM
//  - session:  Busy and Taken longer than max_session + session_grace  -> SIGTERM
//              (max_session 0: no limit; the worker enforces max_session itself)
//  - drain:    stop requested longer than its deadline (reload/shutdown) -> SIGTERM
//  - escalation: SIGTERM sent kill_grace ago and still alive           -> SIGKILL
// nextTimeLimit() is the earliest instant any of these can fire (to arm one timer).
// Details: a limit fires when `now` reaches its deadline (>=), so a timer armed for
// nextTimeLimit() always finds the action. Empty slots are ignored. Startup and hand-off
// count from state_since (entering Starting / the assignment), the session from
// conn_taken_at. A child with term_sent_at gets no second SIGTERM: only SIGKILL kill_grace
// later, and nothing once kill_sent. When several limits have passed, the action names the
// one that passed first. Drain covers stop-requested children of generations older than
// current_generation; for shutdown, pass current_generation = the dispatcher's generation
// + 1 so every child counts as old. (A current-generation child that was retired or
// recycled has no deadline here.) toString() gives a stable token: "startup", "handoff",
// "session", "drain", "escalation".
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "supervisor/child_table.h"
#include "supervisor/pool_settings.h"

namespace preforkd {

enum class LimitKind { Startup, Handoff, Session, Drain, Escalation };

const char* toString(LimitKind kind) noexcept;

struct LimitAction {
  SlotId slot;
  LimitKind kind;
  int signal;  // SIGTERM or SIGKILL

  friend bool operator==(const LimitAction&, const LimitAction&) = default;
};

struct TimeLimits {
  std::chrono::milliseconds startup{30'000};
  std::chrono::milliseconds handoff{5'000};
  std::chrono::milliseconds max_session{0};  // 0: no session limit
  std::chrono::milliseconds session_grace{10'000};
  std::chrono::milliseconds kill_grace{2'000};
  // Stop-requested children must be gone by then (reload drain / shutdown); none: no limit.
  std::optional<TimePoint> drain_deadline_for_old;   // children of generations < current
  Generation current_generation = 1;
};

std::vector<LimitAction> checkTimeLimits(const ChildTable& table, const TimeLimits& limits,
                                         TimePoint now);
std::optional<TimePoint> nextTimeLimit(const ChildTable& table, const TimeLimits& limits);

}  // namespace preforkd
