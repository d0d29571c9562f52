// The worker process's main loop: receive a connection, say Taken, serve it, say Available.
//
// Contract: called in a freshly forked child by the spawner, after it has reduced the fd table
// to stdio plus `channel` and set up the child's own logger. Blocks on the channel (the
// supervisor is the only one who wakes it); exits on Stop, on channel EOF (the supervisor is
// gone) or on a channel it cannot understand. Returns the process exit status; the caller
// must _exit() with it and never return into the supervisor's code.
#pragma once

#include "common/unique_fd.h"
#include "worker/worker_settings.h"

namespace preforkd {

// fd number of the channel inside every worker, forked or exec'd (docs/protocol.md).
inline constexpr int kWorkerChannelFd = 3;

// Exit statuses a worker uses (documented in docs/protocol.md).
inline constexpr int kWorkerExitOk = 0;
inline constexpr int kWorkerExitChannelError = 3;
inline constexpr int kWorkerExitSetupError = 4;

int runWorker(UniqueFd channel, const WorkerSettings& settings) noexcept;

}  // namespace preforkd
