// ChildTable: what the supervisor knows about each worker, and who is idle, in O(1).
//
// Contract: pure bookkeeping (no syscalls, no clock: callers pass `now`). A child lives in a
// slot from spawn until it is reaped. States:
//   Starting --Ready--> Idle --markBusy--> Busy --Available--> Idle ...
//   any state --markStopping--> Stopping (no new work; waiting for it to exit)
// The idle set is an LRU list: markIdle appends, pickIdle takes the child idle the longest, so
// hand-offs rotate over the whole pool instead of favouring low slot numbers (the textbook's
// first-idle scan). Invariant: a child is in the idle list iff its state is Idle.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/status_protocol.h"

namespace preforkd {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using SlotId = int;

enum class ChildState { Empty, Starting, Idle, Busy, Stopping };

const char* toString(ChildState state) noexcept;

struct ChildRecord {
  SlotId slot = -1;
  pid_t pid = -1;
  ChildState state = ChildState::Empty;
  bool ever_ready = false;          // said Ready at least once (start-up succeeded)
  std::optional<ConnectionId> conn; // the connection it holds or is being handed (Busy)
  bool conn_taken = false;          // it said Taken for `conn`
  bool stop_requested = false;      // told to Stop: it finishes its client, then exits
  std::uint64_t served = 0;         // connections finished (Available)
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  TimePoint started_at{};
  TimePoint state_since{};          // when it entered its current state
};

class ChildTable {
 public:
  explicit ChildTable(std::size_t slots);

  std::size_t capacity() const noexcept { return slots_.size(); }
  std::optional<SlotId> freeSlot() const;

  // Registers a new child in an Empty slot, state Starting.
  ChildRecord& add(SlotId slot, pid_t pid, TimePoint now);
  // Empties the slot (after the child was reaped).
  void remove(SlotId slot);

  ChildRecord* find(SlotId slot);
  const ChildRecord* find(SlotId slot) const;
  ChildRecord* findByPid(pid_t pid);

  void markIdle(SlotId slot, TimePoint now);
  void markBusy(SlotId slot, ConnectionId conn, TimePoint now);
  void markStopping(SlotId slot, TimePoint now);

  // The child idle the longest, or nothing.
  std::optional<SlotId> pickIdle() const;

  std::size_t count(ChildState state) const noexcept { return counts_[static_cast<int>(state)]; }
  std::size_t live() const noexcept { return slots_.size() - count(ChildState::Empty); }
  const std::vector<ChildRecord>& slots() const noexcept { return slots_; }

 private:
  void setState(ChildRecord& child, ChildState state, TimePoint now);

  std::vector<ChildRecord> slots_;
  std::vector<std::list<SlotId>::iterator> idle_pos_;  // valid iff the slot is Idle
  std::list<SlotId> idle_lru_;                          // front = idle the longest
  std::unordered_map<pid_t, SlotId> by_pid_;
  std::size_t counts_[5] = {};
};

}  // namespace preforkd
