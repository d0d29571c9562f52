// TakenSlot: one page of memory shared by the supervisor and ONE forked worker, where the
// worker records "I took connection N at time T" instead of sending a Taken message.
//
// Why: Taken exists so the supervisor knows, if the worker dies, whether the client was
// already in the worker's hands (count it lost) or can still go to another worker (requeue
// it: zero-loss hand-off). As a message it costs a send in the worker and a wake-up, a receive
// and two context switches in the supervisor for every connection. The supervisor only needs
// the answer later: when the worker reports Available, when it dies, at the maintenance tick
// (time limits, `show workers`) and when it wants to drop its copy of the client fd. So a
// forked worker writes the answer into this page (no syscall) and the supervisor reads it
// when it needs it. Exec'd workers cannot inherit the page and keep sending Taken.
//
// The supervisor writes back when it has closed its copy of the client (recordReleased), so
// a worker that ends a session while the supervisor still holds a copy knows to send its FIN
// with shutdown() instead of leaving it to the supervisor's close.
//
// Contract: create() maps the page (MAP_SHARED|MAP_ANONYMOUS) before fork; after the fork the
// parent calls keepFromLaterForks() (MADV_DONTFORK) so only this worker ever shares it: a
// worker cannot see or forge another worker's slot. The worker calls record() after it has
// received the connection and before it touches the client; record() is a release store of
// the connection id after the time, taken() an acquire load, so a reader that sees the id
// also sees its time. Ids are never 0 (the supervisor counts from 1), so a fresh page reads
// "nothing taken". Move-only; the destructor unmaps.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "common/status_protocol.h"

namespace preforkd {

class TakenSlot {
 public:
  using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC: the same in every process

  TakenSlot() noexcept = default;
  // Maps a fresh zeroed page. Throws std::system_error when mmap fails.
  static TakenSlot create();
  TakenSlot(const TakenSlot&) = delete;
  TakenSlot& operator=(const TakenSlot&) = delete;
  TakenSlot(TakenSlot&& other) noexcept;
  TakenSlot& operator=(TakenSlot&& other) noexcept;
  ~TakenSlot();

  explicit operator bool() const noexcept { return page_ != nullptr; }
  // Where the page is mapped (tests check what a later child can reach).
  const void* address() const noexcept { return page_; }

  // Parent, right after fork: later children do not inherit this page. Returns errno or 0.
  int keepFromLaterForks() noexcept;

  // Worker side.
  void record(ConnectionId conn, Clock::time_point at) noexcept;
  // Worker side: whether the supervisor may still hold its copy of `conn`'s client.
  bool supervisorHolds(ConnectionId conn) const noexcept;
  // Supervisor side: when `conn` was taken, or nothing if the worker has not recorded it
  // (yet). Never blocks.
  std::optional<Clock::time_point> taken(ConnectionId conn) const noexcept;
  // Supervisor side: its copy of `conn`'s client is closed.
  void recordReleased(ConnectionId conn) noexcept;

 private:
  struct Page;
  explicit TakenSlot(Page* page) noexcept : page_(page) {}
  Page* page_ = nullptr;
};

}  // namespace preforkd
