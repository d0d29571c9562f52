// Dispatcher: the hand-off policy. Which child gets which connection, when to accept, and
// what each status message or child exit means.
//
// Contract: pure (no syscalls; the caller passes `now` and performs the actions it returns).
// Connections are ids here; the caller keeps the fds. Rules:
//  - A child is Busy from the moment a connection is assigned to it (before the send).
//  - Only Available returns it to Idle; Taken only lets the caller drop its copy of the fd.
//  - A connection assigned to a child that fails or dies before Taken goes back to the FRONT
//    of the queue (it has waited longest) and is counted as redispatched: nothing is lost.
//  - Accept only while an idle child is free for it (idle > queued); otherwise the kernel
//    backlog holds new clients.
//  - Status messages are untrusted: anything that does not fit the child's state is reported
//    Unexpected (the caller logs and counts it) and changes nothing.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "supervisor/child_table.h"

namespace preforkd {

struct Assignment {
  SlotId slot;
  ConnectionId conn;
};

enum class Verdict { Ok, Unexpected };

class Dispatcher {
 public:
  explicit Dispatcher(std::size_t max_children) : children_(max_children) {}

  ChildTable& children() noexcept { return children_; }
  const ChildTable& children() const noexcept { return children_; }

  // --- connections ---
  void submit(ConnectionId conn);  // a newly accepted connection joins the back of the queue
  // Pairs queued connections with idle children (least recently used first) and marks those
  // children Busy. The caller sends each one and reports a failure with onSendFailed().
  std::vector<Assignment> assign(TimePoint now);
  bool wantsAccept() const noexcept;
  std::size_t queued() const noexcept { return queue_.size(); }
  // Removes and returns every queued connection (shutdown deadline).
  std::vector<ConnectionId> dropQueued();

  // --- children ---
  void childStarted(SlotId slot, pid_t pid, TimePoint now);
  Verdict onReady(SlotId slot, TimePoint now);
  Verdict onTaken(SlotId slot, ConnectionId conn);
  Verdict onAvailable(SlotId slot, ConnectionId conn, std::uint64_t bytes_in,
                      std::uint64_t bytes_out, TimePoint now);
  // The send to the child failed: the connection is requeued, the child is Stopping.
  void onSendFailed(SlotId slot, TimePoint now);
  // The child's channel closed or the child was reaped: it gets no more work; an assigned but
  // un-taken connection is requeued (and returned). Idempotent.
  std::optional<ConnectionId> onChildLost(SlotId slot, TimePoint now);

  // --- draining (shutdown) ---
  // Stops handing out work: every live child is marked stop-requested (idle and starting ones
  // become Stopping now, busy ones when they report Available). Returns the children to send
  // Stop to. Call assign() first so queued connections still reach idle children.
  std::vector<SlotId> beginDrain(TimePoint now);

  std::uint64_t redispatched() const noexcept { return redispatched_; }

 private:
  std::optional<ConnectionId> requeueUntaken(ChildRecord& child);

  ChildTable children_;
  std::deque<ConnectionId> queue_;
  bool draining_ = false;
  std::uint64_t redispatched_ = 0;
};

}  // namespace preforkd
