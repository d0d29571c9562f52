// Client read wake-ups: how a forked worker can wait for its client in a plain blocking recv()
// and still notice a Stop, a hung-up channel and its idle timeout in bounded time.
//
// Why: a worker waiting for the next request of a persistent connection used to poll() the
// client and its channel together, then recv(): three system calls per round trip where the
// textbook child needs two (read, write). The channel only matters for the rare Stop and for
// the supervisor's death, so a forked worker now blocks in recv() on the client alone:
//   - the supervisor sets SO_RCVTIMEO = kClientReadWake on every service listener before it
//     accepts; Linux copies the option into each accepted socket, so no worker pays a
//     setsockopt per connection and every blocking read returns within the period (EAGAIN),
//     when the worker looks at its channel (hang-up, Stop) and its idle deadline;
//   - after sending Stop to a busy forked worker, the supervisor sends it kWakeSignal; the
//     worker's handler (installed without SA_RESTART) only sets a flag, and the interrupted
//     recv() returns EINTR, so the Stop is seen at once. A signal landing between the flag
//     check and the recv() is seen at the next wake-up: at most kClientReadWake later;
//   - the worker's death-of-parent signal (PR_SET_PDEATHSIG) ends it if the supervisor dies.
// kWakeSignal is ignored by default, so a stray one (a terminal resize) harms no process, and
// a process that never installed the handler just keeps sleeping.
//
// Exec'd workers (any program, `--worker-exec`) keep the poll() of client and channel: with
// worker_exec set the supervisor clears SO_RCVTIMEO on its listeners and sends no signal,
// so a foreign program's blocking reads behave as it expects. A client accepted under the
// other setting (before a reload switched the kind of worker, or handed over by a hot
// upgrade) gets the timeout its worker expects set on its socket at hand-off.
#pragma once

#include <csignal>
#include <chrono>

namespace preforkd {

inline constexpr std::chrono::milliseconds kClientReadWake{1000};
inline constexpr int kWakeSignal = SIGWINCH;

// Sets SO_RCVTIMEO on `fd` (zero: no timeout); false with errno set if it failed. The
// supervisor sets it on listeners (and on a client whose inherited value is wrong), a worker
// on its client when an idle deadline is nearer than the period.
bool setReadTimeout(int fd, std::chrono::milliseconds period) noexcept;

}  // namespace preforkd
