#include "supervisor/service_notifier.h"

#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace preforkd {

std::string formatNotifyStatus(std::size_t idle, std::size_t busy, std::size_t queued,
                               std::uint64_t served) {
  return fmt::format("{} idle, {} busy, {} queued, {} served", idle, busy, queued, served);
}

ServiceNotifier::ServiceNotifier(event_base* base, SystemdNotifier notifier, StatusText status,
                                 std::chrono::milliseconds status_interval)
    : notifier_(std::move(notifier)), status_(std::move(status)), status_interval_(status_interval) {
  if (!notifier_.error().empty()) spdlog::warn("systemd notification disabled: {}", notifier_.error());
  if (!notifier_.enabled()) return;
  status_timer_.reset(event_new(base, -1, EV_PERSIST, &onStatusTimer, this));
  if (const auto interval = notifier_.watchdogPingInterval()) {
    watchdog_timer_.reset(event_new(base, -1, EV_PERSIST, &onWatchdogTimer, this));
    const auto ms = std::max(std::chrono::milliseconds(1),
                             std::chrono::duration_cast<std::chrono::milliseconds>(*interval));
    const timeval tv = toTimeval(ms);
    if (!watchdog_timer_ || event_add(watchdog_timer_.get(), &tv) != 0) {
      spdlog::error("cannot arm the systemd watchdog timer");
    } else {
      spdlog::info("systemd watchdog: pinging every {} ms", ms.count());
    }
    check(notifier_.ping(), "WATCHDOG=1");
  }
}

void ServiceNotifier::ready() {
  if (!notifier_.enabled()) return;
  last_status_ = status_();
  check(notifier_.ready(last_status_), "READY=1");
  if (status_timer_ && !evtimer_pending(status_timer_.get(), nullptr)) {
    const timeval tv = toTimeval(status_interval_);
    event_add(status_timer_.get(), &tv);
  }
}

void ServiceNotifier::reloading() { check(notifier_.reloading(), "RELOADING=1"); }

void ServiceNotifier::stopping() {
  if (!notifier_.enabled()) return;
  stopping_ = true;
  last_status_ = "stopping: " + status_();
  check(notifier_.stopping(last_status_), "STOPPING=1");
}

void ServiceNotifier::check(int err, const char* what) {
  if (err == 0 || warned_) return;
  warned_ = true;  // once: systemd gone away must not flood the log every 2 s
  spdlog::warn("systemd notification {} failed: {} (further failures are not logged)", what,
               std::strerror(err));
}

void ServiceNotifier::onStatusTimer(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<ServiceNotifier*>(arg);
  try {
    std::string text = self->status_();
    if (self->stopping_) text = "stopping: " + text;
    if (text == self->last_status_) return;
    self->last_status_ = std::move(text);
    self->check(self->notifier_.status(self->last_status_), "STATUS=");
  } catch (const std::exception& e) {
    spdlog::error("systemd status update failed: {}", e.what());
  }
}

void ServiceNotifier::onWatchdogTimer(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<ServiceNotifier*>(arg);
  self->check(self->notifier_.ping(), "WATCHDOG=1");
}

}  // namespace preforkd
