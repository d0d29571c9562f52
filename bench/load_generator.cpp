#include "bench/load_generator.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "bench/session_script.h"
#include "common/unique_fd.h"

namespace preforkd::bench {
namespace {

// Set from a signal handler: a lock-free atomic is async-signal-safe.
std::atomic<int> g_stop_requests{0};
static_assert(std::atomic<int>::is_always_lock_free);

using Nanos = std::int64_t;  // steady_clock nanoseconds

Nanos nowNs() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ErrorClass classifyErrno(int err) noexcept {
  switch (err) {
    case ECONNREFUSED: return ErrorClass::Refused;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED: return ErrorClass::Reset;
    case ETIMEDOUT: return ErrorClass::Timeout;
    default: return ErrorClass::Other;
  }
}

std::string errnoText(std::string_view what, int err) {
  return fmt::format("{}: {}", what, std::strerror(err));
}

constexpr std::size_t kReadBufferSize = 64 * 1024;
constexpr int kMaxEvents = 256;
constexpr Nanos kMaxTick = 10'000'000;        // housekeeping at least every 10 ms
constexpr Nanos kMinTick = 1'000'000;
constexpr Nanos kHardStopGrace = 2'000'000'000;  // past duration + timeout
constexpr std::uint64_t kConnectAttemptsBeforeGivingUp = 8;
constexpr std::uint32_t kEpollEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

enum class SlotState : std::uint8_t {
  Free,        // no connection, nothing to do
  Connecting,  // connect() in progress
  Running,     // working through steps (set-up or an operation)
  Idle,        // rr: connected and set up, waiting for an operation
  Resting,     // after an error: waits for the next housekeeping tick
};

// One concurrency slot: at most one connection and at most one operation at a time.
struct Slot {
  SlotState state = SlotState::Free;
  UniqueFd fd;                   // the slot's connection, if any
  std::uint32_t generation = 0;  // bumped on close, so stale epoll events are recognised
  bool in_setup = false;         // running the script's set-up steps rather than an operation
  bool op_active = false;
  bool measured = false;         // the operation (or set-up) started after the warm-up
  bool readable = false;         // an input edge has not been drained to EAGAIN yet
  bool writable = false;
  bool hangup = false;           // the peer closed or the socket failed (sticky)
  bool shut = false;             // shutdown(SHUT_WR) done
  bool reply_done = false;
  const std::vector<Step>* steps = nullptr;
  std::size_t step = 0;
  std::size_t sent = 0;
  Nanos origin = 0;    // latency origin: actual or scheduled start
  Nanos deadline = 0;  // origin + timeout
  ReplyMatcher matcher;
};

}  // namespace

std::string_view errorClassName(ErrorClass error) noexcept {
  switch (error) {
    case ErrorClass::Refused: return "refused";
    case ErrorClass::Reset: return "reset";
    case ErrorClass::Timeout: return "timeout";
    case ErrorClass::ShortRead: return "short_read";
    case ErrorClass::Mismatch: return "mismatch";
    case ErrorClass::Other: return "other";
  }
  return "?";
}

std::uint64_t BenchResult::errorTotal() const noexcept {
  std::uint64_t total = 0;
  for (std::uint64_t n : errors) total += n;
  return total;
}

class LoadGenerator::Impl {
 public:
  Impl(const BenchOptions& options, const SocketAddress& target)
      : options_(options),
        target_(target),
        script_(options),
        open_loop_(options.rate > 0),
        persistent_(script_.persistent()),
        timeout_(std::chrono::duration_cast<std::chrono::nanoseconds>(options.timeout).count()),
        tick_(std::clamp<Nanos>(timeout_ / 4, kMinTick, kMaxTick)),
        slots_(options.concurrency),
        read_buffer_(kReadBufferSize) {}

  BenchResult run();

 private:
  bool issuing(Nanos now) const noexcept {
    return !stopping_ && now < end_ &&
           (options_.requests == 0 || result_.completed < options_.requests);
  }
  bool budgetAllows(Nanos origin) const noexcept {
    return options_.requests == 0 || origin < measure_start_ ||
           result_.completed + inflight_measured_ + pending_measured_ < options_.requests;
  }
  Nanos scheduledTime(std::uint64_t i) const noexcept {
    return start_ + static_cast<Nanos>(static_cast<long double>(i) * 1e9L /
                                       static_cast<long double>(options_.rate));
  }

  void startOperation(std::uint32_t index, Nanos origin, Nanos now);
  void startConnection(std::uint32_t index, Nanos now);
  void openSocket(std::uint32_t index);
  void onConnected(std::uint32_t index);
  void beginStep(Slot& slot);
  void advance(std::uint32_t index);
  void finishSteps(std::uint32_t index);
  void fail(std::uint32_t index, ErrorClass error, std::string detail);
  void closeSlot(Slot& slot) noexcept;
  void slotAvailable(std::uint32_t index, Nanos now);
  void wakeRestingSlot(std::uint32_t index, Nanos now);
  void onEvent(std::uint32_t index, std::uint32_t events);
  void onIdleEvent(std::uint32_t index);
  void housekeeping(Nanos now);
  void releaseDue(Nanos now);
  void dispatchPending(Nanos now);
  void expirePending(Nanos now);
  void countError(ErrorClass error, std::string detail, bool measured);
  int waitForEvents(epoll_event* events, Nanos now, Nanos wake);
  std::string stepContext(const Slot& slot) const;

  const BenchOptions options_;
  const SocketAddress target_;
  const SessionScript script_;
  const bool open_loop_;
  const bool persistent_;
  const Nanos timeout_;
  const Nanos tick_;
  std::vector<Slot> slots_;
  std::vector<char> read_buffer_;
  UniqueFd epoll_;
  bool have_epoll_pwait2_ = true;

  Nanos start_ = 0;
  Nanos measure_start_ = 0;
  Nanos end_ = 0;
  Nanos hard_stop_ = 0;
  Nanos next_tick_ = 0;
  bool stopping_ = false;

  std::uint64_t inflight_ = 0;  // operations started and not yet ended
  std::uint64_t inflight_measured_ = 0;
  std::uint64_t connect_failures_ = 0;

  // Open loop: scheduled times of released operations waiting for a slot, oldest first.
  std::deque<Nanos> pending_;
  std::uint64_t pending_measured_ = 0;
  std::uint64_t next_index_ = 0;       // the next operation to release
  std::vector<std::uint32_t> free_;    // open loop: slots that may take an operation

  BenchResult result_;
};

void LoadGenerator::Impl::countError(ErrorClass error, std::string detail, bool measured) {
  if (!measured) return;
  const auto i = static_cast<std::size_t>(error);
  ++result_.errors[i];
  if (result_.first_error[i].empty()) result_.first_error[i] = std::move(detail);
}

std::string LoadGenerator::Impl::stepContext(const Slot& slot) const {
  if (slot.state == SlotState::Connecting) return "while connecting";
  return fmt::format("{} step {} of {}, {} reply bytes received",
                     slot.in_setup ? "set-up" : "request", slot.step + 1, slot.steps->size(),
                     slot.matcher.received());
}

void LoadGenerator::Impl::closeSlot(Slot& slot) noexcept {
  slot.fd.reset();
  ++slot.generation;
  slot.readable = slot.writable = slot.hangup = slot.shut = false;
}

void LoadGenerator::Impl::fail(std::uint32_t index, ErrorClass error, std::string detail) {
  Slot& slot = slots_[index];
  if (slot.state == SlotState::Connecting) {
    ++connect_failures_;
    if (result_.first_connect_error.empty()) result_.first_connect_error = detail;
  }
  countError(error, std::move(detail), slot.measured);
  if (slot.op_active) {
    slot.op_active = false;
    --inflight_;
    if (slot.measured) --inflight_measured_;
  }
  closeSlot(slot);
  slot.state = SlotState::Resting;
}

void LoadGenerator::Impl::beginStep(Slot& slot) {
  slot.sent = 0;
  slot.reply_done = false;
  if (slot.step >= slot.steps->size()) return;
  const Step& step = (*slot.steps)[slot.step];
  slot.matcher.begin(step);
  // The previous reply was consumed exactly, and our next request must be sent before any
  // reply can come, so there is nothing to read: skip the recv() that would say EAGAIN. Data
  // or a FIN arriving later raises a new edge; one that arrived earlier left `hangup` set.
  if (!step.send.empty() && !slot.hangup) slot.readable = false;
}

void LoadGenerator::Impl::openSocket(std::uint32_t index) {
  Slot& slot = slots_[index];
  slot.state = SlotState::Connecting;
  slot.fd.reset(::socket(target_.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!slot.fd) {
    const int err = errno;
    return fail(index, classifyErrno(err), errnoText("socket", err));
  }
  const int one = 1;
  ::setsockopt(slot.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const int rc = ::connect(slot.fd.get(), target_.get(), target_.length);
  if (rc != 0 && errno != EINPROGRESS) {
    const int err = errno;
    return fail(index, classifyErrno(err), errnoText("connect", err));
  }
  epoll_event ev{};
  ev.events = kEpollEvents;
  ev.data.u64 = (std::uint64_t{slot.generation} << 32) | index;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, slot.fd.get(), &ev) != 0) {
    const int err = errno;
    return fail(index, ErrorClass::Other, errnoText("epoll_ctl", err));
  }
  if (rc == 0) {
    slot.writable = true;
    onConnected(index);
  }
}

void LoadGenerator::Impl::onConnected(std::uint32_t index) {
  Slot& slot = slots_[index];
  result_.connected_ever = true;
  if (slot.measured) ++result_.connections;
  slot.state = SlotState::Running;
  advance(index);
}

void LoadGenerator::Impl::startOperation(std::uint32_t index, Nanos origin, Nanos now) {
  Slot& slot = slots_[index];
  slot.op_active = true;
  slot.in_setup = false;
  slot.origin = origin;
  slot.deadline = origin + timeout_;
  slot.measured = origin >= measure_start_;
  ++inflight_;
  if (slot.measured) {
    ++inflight_measured_;
    if (open_loop_ && now - origin > std::chrono::nanoseconds(kBehindSlack).count()) {
      ++result_.behind_schedule;
    }
  }
  slot.steps = &script_.request();
  slot.step = 0;
  beginStep(slot);
  if (persistent_) {
    slot.state = SlotState::Running;
    advance(index);
  } else {
    openSocket(index);
  }
}

void LoadGenerator::Impl::startConnection(std::uint32_t index, Nanos now) {
  Slot& slot = slots_[index];
  slot.in_setup = true;
  slot.origin = now;
  slot.deadline = now + timeout_;
  slot.measured = now >= measure_start_;
  slot.steps = &script_.setup();
  slot.step = 0;
  beginStep(slot);
  openSocket(index);
}

void LoadGenerator::Impl::advance(std::uint32_t index) {
  Slot& slot = slots_[index];
  char* const buf = read_buffer_.data();
  for (;;) {
    if (slot.step >= slot.steps->size()) return finishSteps(index);
    const Step& step = (*slot.steps)[slot.step];

    while (slot.sent < step.send.size() && slot.writable) {
      const ssize_t n = ::send(slot.fd.get(), step.send.data() + slot.sent,
                               step.send.size() - slot.sent, MSG_NOSIGNAL);
      if (n > 0) {
        slot.sent += static_cast<std::size_t>(n);
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        slot.writable = false;
      } else if (const int err = errno; err != EINTR) {
        return fail(index, classifyErrno(err),
                    fmt::format("{} ({})", errnoText("send", err), stepContext(slot)));
      }
    }
    const bool sent_all = slot.sent == step.send.size();
    if (sent_all && step.shutdown_write && !slot.shut) {
      ::shutdown(slot.fd.get(), SHUT_WR);
      slot.shut = true;
    }

    while (!slot.reply_done && slot.readable) {
      const ssize_t n = ::recv(slot.fd.get(), buf, read_buffer_.size(), 0);
      if (n > 0) {
        const auto size = static_cast<std::size_t>(n);
        const ReplyMatcher::FeedResult r = slot.matcher.feed(buf, size);
        if (r.status == ReplyMatcher::Status::Mismatch) {
          return fail(index, ErrorClass::Mismatch,
                      fmt::format("{} ({})", slot.matcher.mismatchDetail(), stepContext(slot)));
        }
        if (r.status == ReplyMatcher::Status::Done) {
          slot.reply_done = true;
          if (r.consumed < size) {
            return fail(index, ErrorClass::Mismatch,
                        fmt::format("unexpected bytes after the reply: \"{}\" ({})",
                                    escapeBytes({buf + r.consumed, size - r.consumed}),
                                    stepContext(slot)));
          }
        }
      } else if (n == 0) {
        if (slot.matcher.onEof() == ReplyMatcher::Status::Done) {
          slot.reply_done = true;
        } else {
          return fail(index, ErrorClass::ShortRead,
                      fmt::format("EOF before the full reply ({})", stepContext(slot)));
        }
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        slot.readable = false;
      } else if (const int err = errno; err != EINTR) {
        return fail(index, classifyErrno(err),
                    fmt::format("{} ({})", errnoText("recv", err), stepContext(slot)));
      }
    }
    if (!sent_all || !slot.reply_done) return;  // wait for the next edge
    ++slot.step;
    beginStep(slot);
  }
}

void LoadGenerator::Impl::finishSteps(std::uint32_t index) {
  Slot& slot = slots_[index];
  const Nanos now = nowNs();
  if (slot.in_setup) {
    slot.in_setup = false;
    slot.state = SlotState::Idle;
    return slotAvailable(index, now);
  }
  slot.op_active = false;
  --inflight_;
  if (slot.measured) {
    --inflight_measured_;
    ++result_.completed;
    result_.latency_ns.record(static_cast<std::uint64_t>(std::max<Nanos>(0, now - slot.origin)));
  }
  if (persistent_) {
    slot.state = SlotState::Idle;
  } else {
    closeSlot(slot);
    slot.state = SlotState::Free;
  }
  slotAvailable(index, now);
}

// The slot can take an operation: Free (crr, churn) or Idle (rr).
void LoadGenerator::Impl::slotAvailable(std::uint32_t index, Nanos now) {
  if (open_loop_) {
    free_.push_back(index);
  } else if (issuing(now) && budgetAllows(now)) {
    startOperation(index, now, now);
  }
}

void LoadGenerator::Impl::wakeRestingSlot(std::uint32_t index, Nanos now) {
  slots_[index].state = SlotState::Free;
  if (!persistent_) return slotAvailable(index, now);
  // Reconnect while operations may still come: new ones, or (open loop) queued ones to drain.
  if (issuing(now) || !pending_.empty()) startConnection(index, now);
}

void LoadGenerator::Impl::onIdleEvent(std::uint32_t index) {
  Slot& slot = slots_[index];
  if (!slot.readable) return;
  char* const buf = read_buffer_.data();
  const ssize_t n = ::recv(slot.fd.get(), buf, read_buffer_.size(), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    if (errno != EINTR) slot.readable = false;
    return;
  }
  // The server closed (or wrote to) a connection no operation was using: not an operation's
  // error. Drop it; the slot reconnects at the next tick, and if the server is gone for good,
  // that reconnection is what reports it.
  closeSlot(slot);
  slot.state = SlotState::Resting;
}

void LoadGenerator::Impl::onEvent(std::uint32_t index, std::uint32_t events) {
  Slot& slot = slots_[index];
  constexpr std::uint32_t kTrouble = EPOLLRDHUP | EPOLLHUP | EPOLLERR;
  if (events & (EPOLLIN | kTrouble)) slot.readable = true;
  if (events & kTrouble) slot.hangup = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) slot.writable = true;
  switch (slot.state) {
    case SlotState::Connecting:
      if (events & (EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(slot.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return fail(index, classifyErrno(err), errnoText("connect", err));
      }
      // Connected; a peer that closed at once is found by the first recv().
      if (events & (EPOLLOUT | EPOLLHUP)) onConnected(index);
      return;
    case SlotState::Running: return advance(index);
    case SlotState::Idle: return onIdleEvent(index);
    case SlotState::Free:
    case SlotState::Resting: return;
  }
}

void LoadGenerator::Impl::housekeeping(Nanos now) {
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].state == SlotState::Resting) wakeRestingSlot(i, now);
  }
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if ((slot.state == SlotState::Connecting || slot.state == SlotState::Running) &&
        now >= slot.deadline) {
      fail(i, ErrorClass::Timeout,
           fmt::format("no complete {} within {} ms ({})", slot.in_setup ? "set-up" : "reply",
                       options_.timeout.count(), stepContext(slot)));
    }
  }
  expirePending(now);
  next_tick_ = now + tick_;
}

// Queued operations whose whole timeout passed while they waited for a slot are timeouts
// without ever being sent.
void LoadGenerator::Impl::expirePending(Nanos now) {
  while (!pending_.empty() && pending_.front() + timeout_ <= now) {
    const bool measured = pending_.front() >= measure_start_;
    pending_.pop_front();
    if (measured) {
      --pending_measured_;
      ++result_.behind_schedule;
      countError(ErrorClass::Timeout,
                 fmt::format("waited {} ms for a free slot (-c {}) and was never sent",
                             options_.timeout.count(), options_.concurrency),
                 true);
    }
  }
}

void LoadGenerator::Impl::releaseDue(Nanos now) {
  if (stopping_) return;
  for (;;) {
    const Nanos t = scheduledTime(next_index_);
    if (t > now || t >= end_) return;
    if (options_.requests != 0 && t >= measure_start_ &&
        result_.completed >= options_.requests) {
      return;
    }
    ++next_index_;
    if (!budgetAllows(t)) continue;  // enough measured operations are already under way
    pending_.push_back(t);
    if (t >= measure_start_) ++pending_measured_;
  }
}

void LoadGenerator::Impl::dispatchPending(Nanos now) {
  if (free_.empty()) return;
  expirePending(now);
  while (!pending_.empty() && !free_.empty()) {
    const std::uint32_t index = free_.back();
    free_.pop_back();
    const SlotState state = slots_[index].state;
    if (state != (persistent_ ? SlotState::Idle : SlotState::Free)) continue;  // stale entry
    const Nanos t = pending_.front();
    pending_.pop_front();
    if (t >= measure_start_) --pending_measured_;
    startOperation(index, t, now);
  }
}

int LoadGenerator::Impl::waitForEvents(epoll_event* events, Nanos now, Nanos wake) {
  const Nanos wait = std::max<Nanos>(0, wake - now);
  if (have_epoll_pwait2_) {
    const timespec ts{.tv_sec = static_cast<time_t>(wait / 1'000'000'000),
                      .tv_nsec = static_cast<long>(wait % 1'000'000'000)};
    const int n = ::epoll_pwait2(epoll_.get(), events, kMaxEvents, &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    have_epoll_pwait2_ = false;  // kernel older than 5.11: millisecond timeouts
  }
  const Nanos ms = std::min<Nanos>((wait + 999'999) / 1'000'000, 1000);  // rounded up
  return ::epoll_wait(epoll_.get(), events, kMaxEvents, static_cast<int>(ms));
}

BenchResult LoadGenerator::Impl::run() {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  g_stop_requests.store(0);

  start_ = nowNs();
  measure_start_ = start_ + options_.warmup.count();
  end_ = measure_start_ + options_.duration.count();
  hard_stop_ = end_ + timeout_ + kHardStopGrace;
  next_tick_ = start_ + tick_;

  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (persistent_) {
      startConnection(i, start_);
    } else if (open_loop_) {
      free_.push_back(i);
    } else {
      startOperation(i, start_, start_);
    }
  }

  std::vector<epoll_event> events(kMaxEvents);
  bool gave_up = false;
  Nanos now = nowNs();
  for (;;) {
    now = nowNs();
    const int stops = g_stop_requests.load(std::memory_order_relaxed);
    if (stops > 0 && !stopping_) {
      stopping_ = true;
      result_.interrupted = true;
      pending_.clear();  // released but never sent: not counted at all
      pending_measured_ = 0;
    }
    if (stops > 1 || now >= hard_stop_) break;
    if (now >= next_tick_) housekeeping(now);
    if (open_loop_) {
      releaseDue(now);
      dispatchPending(now);
    }
    if (!result_.connected_ever &&
        connect_failures_ >= std::min<std::uint64_t>(options_.concurrency,
                                                     kConnectAttemptsBeforeGivingUp)) {
      gave_up = true;
      break;
    }
    if (!issuing(now) && inflight_ == 0 && pending_.empty()) break;

    Nanos wake = std::min(next_tick_, hard_stop_);
    if (issuing(now)) {
      wake = std::min(wake, end_);
      if (open_loop_ && !free_.empty()) wake = std::min(wake, scheduledTime(next_index_));
    }
    const int n = waitForEvents(events.data(), now, wake);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const std::uint64_t data = events[static_cast<std::size_t>(i)].data.u64;
      const auto index = static_cast<std::uint32_t>(data & 0xffffffffu);
      const auto generation = static_cast<std::uint32_t>(data >> 32);
      if (index >= slots_.size() || slots_[index].generation != generation) continue;
      onEvent(index, events[static_cast<std::size_t>(i)].events);
    }
  }

  result_.abandoned = gave_up ? 0 : inflight_measured_ + pending_measured_;
  const Nanos measured_end = std::max(now, measure_start_);
  result_.elapsed = std::chrono::nanoseconds(measured_end - measure_start_);
  for (Slot& slot : slots_) closeSlot(slot);
  return std::move(result_);
}

LoadGenerator::LoadGenerator(const BenchOptions& options, const SocketAddress& target)
    : impl_(std::make_unique<Impl>(options, target)) {}

LoadGenerator::~LoadGenerator() = default;

BenchResult LoadGenerator::run() { return impl_->run(); }

void LoadGenerator::requestStop() noexcept {
  g_stop_requests.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace preforkd::bench
