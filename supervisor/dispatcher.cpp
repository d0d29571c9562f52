#include "supervisor/dispatcher.h"

#include <algorithm>

#include "common/hot_path.h"

namespace preforkd {

void Dispatcher::setGeneration(Generation generation) noexcept {
  generation_ = generation;
  allow_older_ = true;
}

std::vector<SlotId> Dispatcher::generationUp(TimePoint now) {
  allow_older_ = false;
  std::vector<SlotId> out;
  for (const ChildRecord& c : children_.slots()) {
    if (c.state == ChildState::Empty || c.generation >= generation_) continue;
    if (retire(c.slot, "reload", now)) out.push_back(c.slot);
  }
  return out;
}

PREFORKD_HOT
void Dispatcher::submit(ConnectionId conn, TimePoint now) { queue_.push_back({conn, now}); }

PREFORKD_HOT
const std::vector<Assignment>& Dispatcher::assign(TimePoint now) {
  std::vector<Assignment>& out = assigned_;
  out.clear();
  while (!queue_.empty()) {
    const auto slot = children_.pickIdle(policy_, generation_, allow_older_);
    if (!slot) break;
    const Queued q = queue_.front();
    queue_.pop_front();
    children_.markBusy(*slot, q.conn, now);
    ChildRecord& c = *children_.find(*slot);
    c.conn_queued_at = q.since;
    c.conn_assigned_at = now;
    out.push_back({*slot, q.conn, q.since});
  }
  return out;
}

PREFORKD_HOT
std::size_t Dispatcher::usableIdle() const {
  // Idle children of older generations exist only until generationUp() retires them, and
  // until then they are usable: so every idle child is usable.
  return children_.count(ChildState::Idle);
}

std::optional<TimePoint> Dispatcher::oldestQueuedAt() const {
  if (queue_.empty()) return std::nullopt;
  // Requeued connections go to the front with their original accept time, so the front is
  // the oldest, but a redispatch can put a younger one there: take the minimum.
  TimePoint oldest = queue_.front().since;
  for (const Queued& q : queue_) oldest = std::min(oldest, q.since);
  return oldest;
}

std::vector<ConnectionId> Dispatcher::expireQueued(TimePoint cutoff) {
  std::vector<ConnectionId> out;
  std::erase_if(queue_, [&](const Queued& q) {
    if (q.since >= cutoff) return false;
    out.push_back(q.conn);
    return true;
  });
  return out;
}

std::vector<ConnectionId> Dispatcher::dropQueued() {
  std::vector<ConnectionId> out;
  for (const Queued& q : queue_) out.push_back(q.conn);
  queue_.clear();
  return out;
}

bool Dispatcher::removeQueued(ConnectionId conn) {
  return std::erase_if(queue_, [&](const Queued& q) { return q.conn == conn; }) > 0;
}

void Dispatcher::childStarted(SlotId slot, pid_t pid, TimePoint now, std::uint64_t max_served) {
  children_.add(slot, pid, generation_, now).max_served = max_served;
}

Verdict Dispatcher::onReady(SlotId slot, TimePoint now) {
  ChildRecord* c = children_.find(slot);
  if (c == nullptr) return Verdict::Unexpected;
  if (c->state == ChildState::Stopping && c->stop_requested && !c->ever_ready) {
    c->ever_ready = true;  // told to Stop while starting: it will exit right away
    c->ready_at = now;
    return Verdict::Ok;
  }
  if (c->state != ChildState::Starting) return Verdict::Unexpected;
  c->ever_ready = true;
  c->ready_at = now;
  children_.markIdle(slot, now);
  return Verdict::Ok;
}

PREFORKD_HOT
Verdict Dispatcher::onTaken(SlotId slot, ConnectionId conn, TimePoint now) {
  ChildRecord* c = children_.find(slot);
  if (c == nullptr || c->state != ChildState::Busy || c->conn != conn || c->conn_taken) {
    return Verdict::Unexpected;
  }
  c->conn_taken = true;
  c->conn_taken_at = now;
  return Verdict::Ok;
}

PREFORKD_HOT
Verdict Dispatcher::onAvailable(SlotId slot, ConnectionId conn, std::uint64_t bytes_in,
                                std::uint64_t bytes_out, TimePoint now) {
  ChildRecord* c = children_.find(slot);
  // Available without Taken breaks the protocol (the caller would still hold the fd and could
  // not tell whether the client was served): ignore it, like any other stray message.
  if (c == nullptr || c->state != ChildState::Busy || c->conn != conn || !c->conn_taken) {
    return Verdict::Unexpected;
  }
  ++c->served;
  c->bytes_in += bytes_in;
  c->bytes_out += bytes_out;
  c->last_duration = now - c->conn_taken_at;
  c->conn.reset();
  c->conn_taken = false;
  if (!c->stop_requested && c->max_served != 0 && c->served >= c->max_served) {
    children_.requestStop(slot, "recycle");
    ++recycled_;
  }
  // A graceful shutdown drains the queue: a child that finishes while clients still wait
  // takes the next one before it stops.
  if (c->stop_requested && !(draining_ && !queue_.empty())) {
    children_.markStopping(slot, now);
    return Verdict::Retire;
  }
  children_.markIdle(slot, now);
  return Verdict::Ok;
}

void Dispatcher::onSendFailed(SlotId slot, TimePoint now) {
  ChildRecord* c = children_.find(slot);
  if (c == nullptr || c->state == ChildState::Empty) return;
  requeueUntaken(*c);
  children_.markStopping(slot, now);
}

std::optional<ConnectionId> Dispatcher::onChildLost(SlotId slot, TimePoint now) {
  ChildRecord* c = children_.find(slot);
  if (c == nullptr || c->state == ChildState::Empty) return std::nullopt;
  auto requeued = requeueUntaken(*c);
  children_.markStopping(slot, now);
  return requeued;
}

bool Dispatcher::retire(SlotId slot, const char* reason, TimePoint now) {
  ChildRecord* c = children_.find(slot);
  if (c == nullptr || c->state == ChildState::Empty || c->state == ChildState::Stopping ||
      c->stop_requested) {
    return false;
  }
  children_.requestStop(slot, reason);
  if (c->state == ChildState::Idle || c->state == ChildState::Starting) {
    children_.markStopping(slot, now);
    return true;
  }
  return false;  // Busy: Verdict::Retire on Available
}

std::optional<ConnectionId> Dispatcher::requeueUntaken(ChildRecord& child) {
  if (!child.conn || child.conn_taken) return std::nullopt;
  const ConnectionId conn = *child.conn;
  child.conn.reset();
  queue_.push_front({conn, child.conn_queued_at});
  ++redispatched_;
  return conn;
}

std::vector<SlotId> Dispatcher::settleDrain(TimePoint now) {
  std::vector<SlotId> out;
  if (!draining_ || !queue_.empty()) return out;
  for (const ChildRecord& c : children_.slots()) {
    if (c.state == ChildState::Idle && c.stop_requested) {
      children_.markStopping(c.slot, now);
      out.push_back(c.slot);
    }
  }
  return out;
}

std::vector<SlotId> Dispatcher::beginDrain(TimePoint now) {
  draining_ = true;
  std::vector<SlotId> out;
  for (const ChildRecord& c : children_.slots()) {
    if (c.state == ChildState::Empty) continue;
    if (retire(c.slot, "shutdown", now)) out.push_back(c.slot);
  }
  return out;
}

}  // namespace preforkd
