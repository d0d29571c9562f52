// Spawner: forks one worker process.
//
// Contract: spawnWorker() creates the child's channel, forks, and returns the child's pid
// with the parent's end of the channel. In the child it (1) restores default signal
// dispositions and an empty signal mask (libevent's handlers must not run there), ignoring
// SIGINT/SIGPIPE (a terminal Ctrl-C is the supervisor's to handle), (2) moves its channel end
// to fd 3 and closes every other fd above stderr (listeners, control socket, other children's
// channels, libevent's internal fds: CLOEXEC does not help without exec), (3) builds its own
// logger and runs the worker loop, then _exit()s: it never returns into the caller.
// Throws std::system_error when socketpair or fork fails.
#pragma once

#include <sys/types.h>

#include "common/unique_fd.h"
#include "worker/worker_settings.h"

namespace preforkd {

// fd number of the channel inside every worker (documented in docs/protocol.md).
inline constexpr int kWorkerChannelFd = 3;

struct SpawnedWorker {
  pid_t pid = -1;
  UniqueFd channel;  // the supervisor's end
};

SpawnedWorker spawnWorker(const WorkerSettings& settings);

}  // namespace preforkd
