#include "supervisor/upgrade.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <system_error>

#include "common/fd_passing.h"
#include "supervisor/inherited_listeners.h"

namespace preforkd {
namespace {

std::optional<long> envNumber(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  long value = 0;
  const std::string_view s(text);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

}  // namespace

UpgradeChild startUpgrade(const std::string& exe, const std::vector<std::string>& argv,
                          const std::vector<int>& listener_fds,
                          const std::vector<std::string>& listener_names,
                          Generation first_generation) {
  const int n = static_cast<int>(listener_fds.size());
  const int channel_target = kListenFdsStart + n;
  // Build everything before fork: the child only makes simple system calls.
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view var(*e);
    if (var.starts_with("LISTEN_PID=") || var.starts_with("LISTEN_FDS=") ||
        var.starts_with("LISTEN_FDNAMES=") || var.starts_with("PREFORKD_UPGRADE_FD=") ||
        var.starts_with("PREFORKD_FIRST_GENERATION=") ||
        // The watchdog names our pid; unset, it applies to the successor too.
        var.starts_with("WATCHDOG_PID=")) {
      continue;
    }
    env.emplace_back(var);
  }
  std::string names = "LISTEN_FDNAMES=";
  for (int i = 0; i < n; ++i) {
    const auto k = static_cast<std::size_t>(i);
    names += i == 0 ? "" : ":";
    names += k < listener_names.size() ? listener_names[k] : "listen";
  }
  env.push_back(names);
  env.push_back("LISTEN_FDS=" + std::to_string(n));
  env.push_back("PREFORKD_UPGRADE_FD=" + std::to_string(channel_target));
  env.push_back("PREFORKD_FIRST_GENERATION=" + std::to_string(first_generation));
  env.emplace_back();  // LISTEN_PID: the child's own pid, filled in after fork
  std::vector<char*> envp;
  for (std::string& v : env) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char listen_pid[40] = "LISTEN_PID=";

  FdPair pair = makeChannelPair();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    // Child: default signal dispositions, empty mask (libevent's handlers and blocked signals
    // must not leak into the new supervisor).
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Move every fd we pass above the target range first, then into place: a source fd may
    // itself sit inside 3 .. 3+n.
    const int high = channel_target + 1 + 64;
    std::vector<int> moved;
    for (int fd : listener_fds) moved.push_back(::fcntl(fd, F_DUPFD, high));
    const int channel_moved = ::fcntl(pair.second.get(), F_DUPFD, high);
    for (int i = 0; i < n; ++i) {
      if (moved[static_cast<std::size_t>(i)] < 0 ||
          ::dup2(moved[static_cast<std::size_t>(i)], kListenFdsStart + i) < 0) {
        ::_exit(kUpgradeExecFailed);
      }
    }
    if (channel_moved < 0 || ::dup2(channel_moved, channel_target) < 0) ::_exit(kUpgradeExecFailed);
    ::syscall(SYS_close_range, channel_target + 1, ~0U, 0);
    std::snprintf(listen_pid + 11, sizeof listen_pid - 11, "%d", static_cast<int>(::getpid()));
    envp[envp.size() - 2] = listen_pid;
    ::execve(exe.c_str(), args.data(), envp.data());
    const int err = errno;
    char msg[512];
    const int len = std::snprintf(msg, sizeof msg, "preforkd: hot upgrade: cannot exec %s: %s\n",
                                  exe.c_str(), std::strerror(err));
    if (len > 0) [[maybe_unused]] auto w = ::write(2, msg, static_cast<std::size_t>(len));
    ::_exit(kUpgradeExecFailed);
  }
  const int flags = ::fcntl(pair.first.get(), F_GETFL);
  if (flags < 0 || ::fcntl(pair.first.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::generic_category(), "fcntl(O_NONBLOCK) on the upgrade channel");
  }
  return UpgradeChild{pid, std::move(pair.first)};
}

UniqueFd takeUpgradeChannel() {
  const auto fd = envNumber("PREFORKD_UPGRADE_FD");
  ::unsetenv("PREFORKD_UPGRADE_FD");
  if (!fd || *fd < 3) return {};
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(static_cast<int>(*fd), SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      type != SOCK_SEQPACKET) {
    return {};
  }
  UniqueFd channel(static_cast<int>(*fd));
  ::fcntl(channel.get(), F_SETFD, FD_CLOEXEC);
  const int flags = ::fcntl(channel.get(), F_GETFL);
  if (flags >= 0) ::fcntl(channel.get(), F_SETFL, flags | O_NONBLOCK);
  return channel;
}

Generation takeFirstGeneration() {
  const auto g = envNumber("PREFORKD_FIRST_GENERATION");
  ::unsetenv("PREFORKD_FIRST_GENERATION");
  return g && *g > 0 ? static_cast<Generation>(*g) : 1;
}

std::string currentExecutable() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string path(buf, static_cast<std::size_t>(n));
  // Replaced since we started: the path still names the (new) file.
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
  return path;
}

}  // namespace preforkd
