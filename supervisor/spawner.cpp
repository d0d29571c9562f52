#include "supervisor/spawner.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <csignal>
#include <system_error>

#include "common/fd_passing.h"
#include "common/logging.h"
#include "worker/worker_main.h"

namespace preforkd {
namespace {

// Everything exec needs, built before fork so the child only makes simple calls.
struct ExecPlan {
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

ExecPlan planExec(const std::vector<std::string>& exec_argv, const WorkerSettings& settings) {
  ExecPlan plan;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view var(*e);
    // systemd's protocols are the supervisor's alone; our own variables are set below.
    if (var.starts_with("NOTIFY_SOCKET=") || var.starts_with("LISTEN_PID=") ||
        var.starts_with("LISTEN_FDS=") || var.starts_with("LISTEN_FDNAMES=") ||
        var.starts_with("PREFORKD_")) {
      continue;
    }
    plan.env_storage.emplace_back(var);
  }
  plan.env_storage.push_back("PREFORKD_CHANNEL_FD=" + std::to_string(kWorkerChannelFd));
  plan.env_storage.push_back("PREFORKD_SUPERVISOR_PID=" + std::to_string(::getpid()));
  plan.env_storage.push_back("PREFORKD_GENERATION=" + std::to_string(settings.generation));
  for (std::string& v : plan.env_storage) plan.envp.push_back(v.data());
  plan.envp.push_back(nullptr);
  for (const std::string& a : exec_argv) plan.argv.push_back(const_cast<char*>(a.c_str()));
  plan.argv.push_back(nullptr);
  return plan;
}

// Runs in the child between fork and the worker loop. Only async-signal-safe-ish, simple
// calls until the fd table is clean.
[[noreturn]] void becomeWorker(int channel_fd, const WorkerSettings& settings,
                               const ExecPlan* exec, TakenSlot* taken) {
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

  if (exec != nullptr) {
    // dup2 clears close-on-exec, but not when the channel already was fd 3.
    ::fcntl(kWorkerChannelFd, F_SETFD, 0);
    ::sigaction(SIGPIPE, &dfl, nullptr);  // a foreign program expects the default
    ::execvpe(exec->argv[0], exec->argv.data(), exec->envp.data());
    const int err = errno;
    char msg[256];
    const int n = std::snprintf(msg, sizeof msg, "preforkd: cannot exec worker %s: %s\n",
                                exec->argv[0], std::strerror(err));
    if (n > 0) [[maybe_unused]] auto w = ::write(2, msg, static_cast<std::size_t>(n));
    ::_exit(kWorkerExitExecFailed);
  }

  // Only the supervisor speaks to systemd: nothing a worker runs may find the socket.
  ::unsetenv("NOTIFY_SOCKET");
  relabelLogging("worker", settings.log_level);
  const int status = runWorker(UniqueFd(kWorkerChannelFd), settings, taken);
  ::_exit(status);
}

}  // namespace

SpawnedWorker spawnWorker(const WorkerSettings& settings,
                          const std::vector<std::string>& exec_argv) {
  std::optional<ExecPlan> plan;
  if (!exec_argv.empty()) plan = planExec(exec_argv, settings);
  TakenSlot taken;
  if (!plan) taken = TakenSlot::create();
  FdPair pair = makeChannelPair();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    becomeWorker(pair.second.release(), settings, plan ? &*plan : nullptr, taken ? &taken : nullptr);
  }
  // Only this child may share the page: children forked later must not inherit it.
  // (No throw here: the child runs already. Failing needs a kernel without MADV_DONTFORK.)
  if (taken) {
    if (const int err = taken.keepFromLaterForks(); err != 0) {
      spdlog::warn("madvise(MADV_DONTFORK) on worker {}'s taken slot: {}", pid, std::strerror(err));
    }
  }
  // The supervisor's end is drained from the event loop, so it must never block; the
  // worker's end stays blocking (the worker simply waits for its next command).
  const int flags = ::fcntl(pair.first.get(), F_GETFL);
  if (flags < 0 || ::fcntl(pair.first.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::generic_category(), "fcntl(O_NONBLOCK) on a channel");
  }
  return SpawnedWorker{pid, std::move(pair.first), std::move(taken)};  // pair.second closes here
}

}  // namespace preforkd
