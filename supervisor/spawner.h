// Spawner: forks one worker process.
//
// Contract: spawnWorker() creates the child's channel (and, for a forked worker, its TakenSlot
// page: common/taken_slot.h), forks, and returns the child's pid with the parent's end of the
// channel and the page, which no later child inherits. In the child it (1) restores default signal
// dispositions and an empty signal mask (libevent's handlers must not run there), ignoring
// SIGINT/SIGPIPE (a terminal Ctrl-C is the supervisor's to handle), (2) moves its channel end
// to fd 3 and closes every other fd above stderr (listeners, control socket, other children's
// channels, libevent's internal fds: CLOEXEC does not help without exec), (3) builds its own
// logger and runs the worker loop, then _exit()s: it never returns into the caller.
// With a non-empty `exec_argv` step (3) is instead: execvp(exec_argv) with the channel on fd 3
// (close-on-exec cleared), SIGPIPE back to default, the environment of the supervisor minus
// the systemd variables (NOTIFY_SOCKET, LISTEN_*) plus PREFORKD_CHANNEL_FD=3,
// PREFORKD_SUPERVISOR_PID and PREFORKD_GENERATION; if exec fails the child exits 127 (a
// start-up failure, so the respawn brake applies).
// Throws std::system_error when socketpair, mmap or fork fails.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/taken_slot.h"
#include "common/unique_fd.h"
#include "worker/worker_main.h"
#include "worker/worker_settings.h"

namespace preforkd {

struct SpawnedWorker {
  pid_t pid = -1;
  UniqueFd channel;  // the supervisor's end
  TakenSlot taken;   // where the worker records Taken; empty for an exec'd worker
};

SpawnedWorker spawnWorker(const WorkerSettings& settings,
                          const std::vector<std::string>& exec_argv = {});

// Exit status of a worker whose exec failed.
inline constexpr int kWorkerExitExecFailed = 127;

}  // namespace preforkd
