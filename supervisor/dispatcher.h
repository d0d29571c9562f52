// Dispatcher: the hand-off policy. Which child gets which connection, when to accept, and
// what each status message or child exit means.
//
// Contract: pure (no syscalls; the caller passes `now` and performs the actions it returns).
// Connections are ids here; the caller keeps the fds. Rules:
//  - A child is Busy from the moment a connection is assigned to it (before the send).
//  - Only Available returns it to Idle; Taken only lets the caller drop its copy of the fd.
//  - A connection assigned to a child that fails or dies before Taken goes back to the FRONT
//    of the queue (it has waited longest, and keeps its accept time) and is counted as
//    redispatched: nothing is lost.
//  - New connections go to idle children of the current generation, chosen by the policy;
//    while a new generation is not yet up (setGeneration .. generationUp), idle children of
//    older generations still serve, so a reload never leaves clients waiting for forks.
//  - A child told to stop (shutdown, reload, recycle, retire) gets no more work: idle and
//    starting ones become Stopping at once, busy ones when they report Available, and the
//    caller is told (Verdict::Retire) to send it Stop then.
//  - While draining (graceful shutdown), a stop-requested child that reports Available while
//    connections are still queued serves the next one first: the queue drains.
//  - Status messages are untrusted: anything that does not fit the child's state is reported
//    Unexpected (the caller logs and counts it) and changes nothing.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "supervisor/child_table.h"
#include "supervisor/pool_settings.h"

namespace preforkd {

struct Assignment {
  SlotId slot;
  ConnectionId conn;
  TimePoint queued_at;  // when the connection was submitted (accepted)
};

enum class Verdict {
  Ok,
  Unexpected,  // ignored (log and count)
  Retire,      // Available: the child is now Stopping (stop requested or recycle limit); send Stop
};

class Dispatcher {
 public:
  explicit Dispatcher(std::size_t slots) : children_(slots) {}

  ChildTable& children() noexcept { return children_; }
  const ChildTable& children() const noexcept { return children_; }

  // --- policy and generation ---
  void setPolicy(DispatchPolicy policy) noexcept { policy_ = policy; }
  DispatchPolicy policy() const noexcept { return policy_; }
  Generation generation() const noexcept { return generation_; }
  // A reload: children started from now on belong to `generation` (> the current one). Older
  // idle children keep serving until generationUp().
  void setGeneration(Generation generation) noexcept;
  // The current generation is up: every live child of an older generation is told to stop
  // (idle/starting ones now: returned, send them Stop; busy ones on Available).
  std::vector<SlotId> generationUp(TimePoint now);
  bool generationIsUp() const noexcept { return !allow_older_; }

  // --- connections ---
  void submit(ConnectionId conn, TimePoint now);  // joins the back of the queue
  // Pairs queued connections with idle children and marks those children Busy. The caller
  // sends each one and reports a failure with onSendFailed().
  // The result is valid until the next assign() (its storage is reused: no allocation per
  // connection).
  const std::vector<Assignment>& assign(TimePoint now);
  std::size_t queued() const noexcept { return queue_.size(); }
  // Idle children that assign() may use right now.
  std::size_t usableIdle() const;
  std::optional<TimePoint> oldestQueuedAt() const;
  // Removes and returns queued connections accepted before `cutoff` (their deadline passed).
  std::vector<ConnectionId> expireQueued(TimePoint cutoff);
  // Removes and returns every queued connection (shutdown deadline).
  std::vector<ConnectionId> dropQueued();
  // Removes one queued connection (an operator killed it); false if it is not queued.
  bool removeQueued(ConnectionId conn);

  // --- children ---
  void childStarted(SlotId slot, pid_t pid, TimePoint now, std::uint64_t max_served = 0);
  Verdict onReady(SlotId slot, TimePoint now);
  Verdict onTaken(SlotId slot, ConnectionId conn, TimePoint now);
  Verdict onAvailable(SlotId slot, ConnectionId conn, std::uint64_t bytes_in,
                      std::uint64_t bytes_out, TimePoint now);
  // The send to the child failed: the connection is requeued, the child is Stopping.
  void onSendFailed(SlotId slot, TimePoint now);
  // The child's channel closed or the child was reaped: it gets no more work; an assigned but
  // un-taken connection is requeued (and returned). Idempotent.
  std::optional<ConnectionId> onChildLost(SlotId slot, TimePoint now);
  // Tells one child to stop for `reason` (static text). Returns true when the caller should
  // send Stop now (it was idle or starting); a busy child gets Verdict::Retire on Available.
  // False, and nothing changes, if the child is absent or already stopping.
  bool retire(SlotId slot, const char* reason, TimePoint now);

  // --- draining (shutdown) ---
  // Stops handing out work: every live child is told to stop (reason "shutdown"). Returns
  // the children to send Stop to now (idle and starting ones). Call assign() first so queued
  // connections still reach idle children.
  std::vector<SlotId> beginDrain(TimePoint now);
  bool draining() const noexcept { return draining_; }
  // While draining, once the queue is empty: the stop-requested children left idle by the
  // queue drain become Stopping (returned: send them Stop).
  std::vector<SlotId> settleDrain(TimePoint now);

  std::uint64_t redispatched() const noexcept { return redispatched_; }
  void clearCounters() noexcept { redispatched_ = recycled_ = 0; }
  std::uint64_t recycled() const noexcept { return recycled_; }  // retired by max_served

 private:
  struct Queued {
    ConnectionId conn;
    TimePoint since;
  };
  std::optional<ConnectionId> requeueUntaken(ChildRecord& child);

  ChildTable children_;
  std::deque<Queued> queue_;
  std::vector<Assignment> assigned_;  // assign()'s result, reused
  DispatchPolicy policy_ = DispatchPolicy::Lru;
  Generation generation_ = 1;
  bool allow_older_ = false;
  bool draining_ = false;
  std::uint64_t redispatched_ = 0;
  std::uint64_t recycled_ = 0;
};

}  // namespace preforkd
