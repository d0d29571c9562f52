// The worker process's main loop: receive a connection, record Taken, serve it, say Available.
//
// Contract: called in a freshly forked child by the spawner, after it has reduced the fd table
// to stdio plus `channel` and set up the child's own logger. Blocks on the channel (the
// supervisor is the only one who wakes it); exits on Stop, on channel EOF (the supervisor is
// gone) or on a channel it cannot understand. Returns the process exit status; the caller
// must _exit() with it and never return into the supervisor's code. With `taken` (a forked
// worker's page shared with the supervisor) Taken is recorded there; without it (an exec'd
// worker) it is sent as a status message, and a forked worker also waits for its clients in a
// blocking recv() woken by the supervisor's listener timeout and wake signal
// (common/client_read_wake.h), where an exec'd one polls client and channel.
#pragma once

#include "common/taken_slot.h"
#include "common/unique_fd.h"
#include "worker/worker_settings.h"

namespace preforkd {

// fd number of the channel inside every worker, forked or exec'd (docs/protocol.md).
inline constexpr int kWorkerChannelFd = 3;

// Exit statuses a worker uses (documented in docs/protocol.md).
inline constexpr int kWorkerExitOk = 0;
inline constexpr int kWorkerExitChannelError = 3;
inline constexpr int kWorkerExitSetupError = 4;

int runWorker(UniqueFd channel, const WorkerSettings& settings, TakenSlot* taken = nullptr) noexcept;

}  // namespace preforkd
