#include "supervisor/dispatcher.h"

namespace preforkd {

void Dispatcher::submit(ConnectionId conn) { queue_.push_back(conn); }

std::vector<Assignment> Dispatcher::assign(TimePoint now) {
  std::vector<Assignment> out;
  while (!queue_.empty()) {
    const auto slot = children_.pickIdle();
    if (!slot) break;
    const ConnectionId conn = queue_.front();
    queue_.pop_front();
    children_.markBusy(*slot, conn, now);
    out.push_back({*slot, conn});
  }
  return out;
}

bool Dispatcher::wantsAccept() const noexcept {
  return !draining_ && children_.count(ChildState::Idle) > queue_.size();
}

std::vector<ConnectionId> Dispatcher::dropQueued() {
  std::vector<ConnectionId> out(queue_.begin(), queue_.end());
  queue_.clear();
  return out;
}

void Dispatcher::childStarted(SlotId slot, pid_t pid, TimePoint now) {
  children_.add(slot, pid, now);
}

Verdict Dispatcher::onReady(SlotId slot, TimePoint now) {
  ChildRecord* c = children_.find(slot);
  if (c == nullptr) return Verdict::Unexpected;
  if (c->state == ChildState::Stopping && c->stop_requested && !c->ever_ready) {
    c->ever_ready = true;  // told to Stop while starting: it will exit right away
    return Verdict::Ok;
  }
  if (c->state != ChildState::Starting) return Verdict::Unexpected;
  c->ever_ready = true;
  children_.markIdle(slot, now);
  return Verdict::Ok;
}

Verdict Dispatcher::onTaken(SlotId slot, ConnectionId conn) {
  ChildRecord* c = children_.find(slot);
  if (c == nullptr || c->state != ChildState::Busy || c->conn != conn || c->conn_taken) {
    return Verdict::Unexpected;
  }
  c->conn_taken = true;
  return Verdict::Ok;
}

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
  c->conn.reset();
  c->conn_taken = false;
  if (c->stop_requested) {
    children_.markStopping(slot, now);
  } else {
    children_.markIdle(slot, now);
  }
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

std::optional<ConnectionId> Dispatcher::requeueUntaken(ChildRecord& child) {
  if (!child.conn || child.conn_taken) return std::nullopt;
  const ConnectionId conn = *child.conn;
  child.conn.reset();
  queue_.push_front(conn);
  ++redispatched_;
  return conn;
}

std::vector<SlotId> Dispatcher::beginDrain(TimePoint now) {
  draining_ = true;
  std::vector<SlotId> out;
  for (const ChildRecord& c : children_.slots()) {
    if (c.state == ChildState::Empty || c.stop_requested) continue;
    ChildRecord& child = *children_.find(c.slot);
    child.stop_requested = true;
    if (child.state == ChildState::Idle || child.state == ChildState::Starting) {
      children_.markStopping(c.slot, now);
    }
    out.push_back(c.slot);
  }
  return out;
}

}  // namespace preforkd
