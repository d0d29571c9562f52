#include "supervisor/spawner.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <system_error>

#include "common/fd_passing.h"
#include "common/logging.h"
#include "worker/worker_main.h"

namespace preforkd {
namespace {

// Runs in the child between fork and the worker loop. Only async-signal-safe-ish, simple
// calls until the fd table is clean.
[[noreturn]] void becomeWorker(int channel_fd, const WorkerSettings& settings) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGCHLD, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT}) ::sigaction(sig, &dfl, nullptr);
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGINT, &ign, nullptr);
  ::sigaction(SIGPIPE, &ign, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (channel_fd != kWorkerChannelFd) {
    if (::dup2(channel_fd, kWorkerChannelFd) < 0) ::_exit(kWorkerExitSetupError);
  }
  // Keep 0, 1, 2 and the channel; close everything else the supervisor had open.
  if (::syscall(SYS_close_range, kWorkerChannelFd + 1, ~0U, 0) != 0) ::_exit(kWorkerExitSetupError);

  setupLogging("worker", settings.log_level);
  const int status = runWorker(UniqueFd(kWorkerChannelFd), settings);
  ::_exit(status);
}

}  // namespace

SpawnedWorker spawnWorker(const WorkerSettings& settings) {
  FdPair pair = makeChannelPair();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) becomeWorker(pair.second.release(), settings);
  // The supervisor's end is drained from the event loop, so it must never block; the
  // worker's end stays blocking (the worker simply waits for its next command).
  const int flags = ::fcntl(pair.first.get(), F_GETFL);
  if (flags < 0 || ::fcntl(pair.first.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::generic_category(), "fcntl(O_NONBLOCK) on a channel");
  }
  return SpawnedWorker{pid, std::move(pair.first)};  // pair.second closes here
}

}  // namespace preforkd
