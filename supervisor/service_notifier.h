// ServiceNotifier: the supervisor's conversation with systemd (Type=notify), driven by its
// event loop.
//
// Contract: built once in the Supervisor's constructor on its event_base with a
// SystemdNotifier (usually fromEnvironment()) and a function that describes the pool in one
// line (formatNotifyStatus). It owns two timers on that loop: the watchdog timer pings
// WATCHDOG=1 every half WATCHDOG_USEC from the moment it is built, so pings stop when the loop
// wedges; the status timer sends STATUS= every 2 s after ready(), when the text changed. The
// supervisor calls ready() once the first generation serves (and after each reload),
// reloading() when a reload starts, stopping() when shutdown starts. With no NOTIFY_SOCKET
// every call does nothing and no timer is armed. A failed send is logged once (warn) and
// otherwise ignored: systemd being unreachable never stops the service. Callbacks never throw.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "supervisor/event_loop.h"
#include "supervisor/systemd_notify.h"

namespace preforkd {

// "4 idle, 0 busy, 0 queued, 12 served" (what `systemctl status` shows).
std::string formatNotifyStatus(std::size_t idle, std::size_t busy, std::size_t queued,
                               std::uint64_t served);

class ServiceNotifier {
 public:
  using StatusText = std::function<std::string()>;
  static constexpr std::chrono::milliseconds kStatusInterval{2000};

  ServiceNotifier(event_base* base, SystemdNotifier notifier, StatusText status,
                  std::chrono::milliseconds status_interval = kStatusInterval);
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  void ready();      // READY=1 with the current status
  void reloading();  // RELOADING=1, MONOTONIC_USEC=
  void stopping();   // STOPPING=1
  SystemdNotifier& notifier() noexcept { return notifier_; }

 private:
  static void onStatusTimer(evutil_socket_t, short, void* arg) noexcept;
  static void onWatchdogTimer(evutil_socket_t, short, void* arg) noexcept;
  void check(int err, const char* what);

  SystemdNotifier notifier_;
  StatusText status_;
  EventPtr status_timer_, watchdog_timer_;
  std::chrono::milliseconds status_interval_;
  std::string last_status_;
  bool warned_ = false;
  bool stopping_ = false;
};

}  // namespace preforkd
