// SystemdNotifier: the sd_notify(3) protocol, written by hand (it is small and stable, and
// avoids linking libsystemd).
//
// Contract: fromEnvironment() reads $NOTIFY_SOCKET ("/path" or "@abstract"), $WATCHDOG_USEC
// and $WATCHDOG_PID; without NOTIFY_SOCKET the notifier is disabled and every call is a no-op
// that succeeds. Each message is one datagram (SOCK_DGRAM | SOCK_CLOEXEC, MSG_NOSIGNAL |
// MSG_DONTWAIT): a send never blocks and never raises SIGPIPE; it returns 0 or the errno, and
// the caller decides whether to log. The socket is close-on-exec and the spawner closes it in
// forked workers, which never notify: only the supervisor's event loop calls this (so a wedged
// loop stops the watchdog pings, which is the point of the watchdog). The environment is left
// as it is, so a new binary started for a hot upgrade can still notify (it sends MAINPID=).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace preforkd {

class SystemdNotifier {
 public:
  SystemdNotifier() = default;  // disabled
  // `socket_path` as in $NOTIFY_SOCKET; an empty or unusable path gives a disabled notifier
  // (error() says why). `watchdog`: the watchdog timeout, when systemd asked for pings.
  explicit SystemdNotifier(std::string_view socket_path,
                           std::optional<std::chrono::microseconds> watchdog = std::nullopt);
  static SystemdNotifier fromEnvironment();

  bool enabled() const noexcept { return fd_.valid(); }
  const std::string& error() const noexcept { return error_; }

  int ready(std::string_view status = {});   // READY=1 (+ STATUS=)
  int reloading();                           // RELOADING=1 + MONOTONIC_USEC=now
  int stopping(std::string_view status = {});  // STOPPING=1 (+ STATUS=)
  int status(std::string_view text);         // STATUS=text (one line)
  int mainPid(pid_t pid);                    // MAINPID=pid (hot upgrade)
  int ping();                                // WATCHDOG=1
  // Any newline-separated assignments, e.g. "READY=1\nSTATUS=serving".
  int send(std::string_view message);

  // The watchdog timeout systemd asked for, and the interval to ping at (half of it).
  std::optional<std::chrono::microseconds> watchdogTimeout() const noexcept { return watchdog_; }
  std::optional<std::chrono::microseconds> watchdogPingInterval() const noexcept;

 private:
  UniqueFd fd_;
  sockaddr_un addr_{};
  socklen_t addr_len_ = 0;
  std::optional<std::chrono::microseconds> watchdog_;
  std::string error_;
};

// $WATCHDOG_USEC / $WATCHDOG_PID as sd_watchdog_enabled(3) reads them: the timeout when
// `usec` is a positive number and `pid` is unset or names `self`; nothing otherwise.
std::optional<std::chrono::microseconds> parseWatchdog(const char* usec, const char* pid, pid_t self);

// CLOCK_MONOTONIC in microseconds (for MONOTONIC_USEC=).
std::uint64_t monotonicMicroseconds();

}  // namespace preforkd
