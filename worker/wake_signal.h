// WakeSignal: the worker's side of kWakeSignal (see common/client_read_wake.h).
//
// Contract: installWakeSignal() sets a handler for kWakeSignal without SA_RESTART, so a
// blocking system call the signal interrupts fails with EINTR; the handler only sets a flag
// (no other work in a signal handler). takeWake() returns whether the signal arrived since the
// last call and clears the flag. Process-wide: call installWakeSignal() once, in the worker.
#pragma once

namespace preforkd {

// Returns false (with errno set) if sigaction failed.
bool installWakeSignal() noexcept;
bool takeWake() noexcept;

}  // namespace preforkd
