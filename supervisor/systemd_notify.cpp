#include "supervisor/systemd_notify.h"

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace preforkd {
namespace {

std::optional<std::uint64_t> positiveNumber(const char* text) {
  if (text == nullptr) return std::nullopt;
  const std::string_view s(text);
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v == 0) return std::nullopt;
  return v;
}

// STATUS= must stay on one line: a newline would start another assignment.
std::string oneLine(std::string_view text) {
  std::string out(text);
  for (char& ch : out) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  return out;
}

}  // namespace

std::optional<std::chrono::microseconds> parseWatchdog(const char* usec, const char* pid, pid_t self) {
  const auto timeout = positiveNumber(usec);
  if (!timeout) return std::nullopt;
  if (pid != nullptr) {
    // The variables were meant for another process (e.g. inherited from our parent).
    const auto for_pid = positiveNumber(pid);
    if (!for_pid || static_cast<pid_t>(*for_pid) != self) return std::nullopt;
  }
  return std::chrono::microseconds(*timeout);
}

std::uint64_t monotonicMicroseconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

SystemdNotifier::SystemdNotifier(std::string_view socket_path,
                                 std::optional<std::chrono::microseconds> watchdog) {
  if (socket_path.empty()) return;
  // "@name" is an abstract socket: the name starts with a NUL byte, and the address length
  // counts exactly the bytes of the name (no terminating NUL).
  const bool abstract = socket_path.front() == '@';
  if (!abstract && socket_path.front() != '/') {
    error_ = fmt::format("NOTIFY_SOCKET={}: neither an absolute path nor @abstract", socket_path);
    return;
  }
  if (socket_path.size() >= sizeof addr_.sun_path) {
    error_ = fmt::format("NOTIFY_SOCKET={}: too long for a Unix socket address", socket_path);
    return;
  }
  addr_.sun_family = AF_UNIX;
  std::memcpy(addr_.sun_path, socket_path.data(), socket_path.size());
  if (abstract) addr_.sun_path[0] = '\0';
  addr_len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path.size() +
                                     (abstract ? 0 : 1));
  fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd_) {
    error_ = fmt::format("socket(AF_UNIX, SOCK_DGRAM): {}", std::strerror(errno));
    return;
  }
  watchdog_ = watchdog;
}

SystemdNotifier SystemdNotifier::fromEnvironment() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  return SystemdNotifier(path ? path : "",
                         parseWatchdog(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"),
                                       ::getpid()));
}

std::optional<std::chrono::microseconds> SystemdNotifier::watchdogPingInterval() const noexcept {
  if (!watchdog_) return std::nullopt;
  return *watchdog_ / 2;
}

int SystemdNotifier::send(std::string_view message) {
  if (!fd_) return 0;
  // MSG_DONTWAIT: a full receive queue (systemd busy) loses a message instead of stalling
  // the supervisor's loop. MSG_NOSIGNAL: no SIGPIPE, ever.
  for (;;) {
    const ssize_t n = ::sendto(fd_.get(), message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                               reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
    if (n >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

int SystemdNotifier::ready(std::string_view status) {
  if (status.empty()) return send("READY=1");
  return send("READY=1\nSTATUS=" + oneLine(status));
}

int SystemdNotifier::reloading() {
  // systemd >= 253 needs MONOTONIC_USEC with RELOADING=1 to match the reload to its request;
  // 252 ignores it.
  return send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", monotonicMicroseconds()));
}

int SystemdNotifier::stopping(std::string_view status) {
  if (status.empty()) return send("STOPPING=1");
  return send("STOPPING=1\nSTATUS=" + oneLine(status));
}

int SystemdNotifier::status(std::string_view text) { return send("STATUS=" + oneLine(text)); }

int SystemdNotifier::mainPid(pid_t pid) { return send(fmt::format("MAINPID={}", pid)); }

int SystemdNotifier::ping() { return send("WATCHDOG=1"); }

}  // namespace preforkd
