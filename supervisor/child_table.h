// ChildTable: what the supervisor knows about each worker, and who is idle, in O(1).
//
// Contract: pure bookkeeping (no syscalls, no clock: callers pass `now`). A child lives in a
// slot from spawn until it is reaped. States:
//   Starting --Ready--> Idle --markBusy--> Busy --Available--> Idle ...
//   any state --markStopping--> Stopping (no new work; waiting for it to exit)
// The idle set is an LRU list (front = idle the longest): markIdle appends. pickIdle chooses
// by DispatchPolicy among the idle children of one generation: LRU (front, O(1): hand-offs
// rotate over the whole pool instead of favouring low slot numbers, the textbook's first-idle
// scan), MRU (back, O(1)), round-robin and least-served (a scan of the idle list).
// Invariant: a child is in the idle list iff its state is Idle. The table grows on demand
// (ensureCapacity); slot numbers stay stable.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/socket_address.h"
#include "common/status_protocol.h"
#include "supervisor/pool_settings.h"
#include "supervisor/slot_list.h"

namespace preforkd {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

enum class ChildState { Empty, Starting, Idle, Busy, Stopping };

const char* toString(ChildState state) noexcept;

struct ChildRecord {
  SlotId slot = -1;
  pid_t pid = -1;
  Generation generation = 1;
  ChildState state = ChildState::Empty;
  bool ever_ready = false;          // said Ready at least once (start-up succeeded)
  std::optional<ConnectionId> conn; // the connection it holds or is being handed (Busy)
  bool conn_taken = false;          // it said Taken for `conn`
  SocketAddress conn_peer{};        // `conn`'s client address (set by the caller after assign)
  TimePoint conn_queued_at{};       // when `conn` was accepted (queue wait = assigned - this)
  TimePoint conn_assigned_at{};     // when `conn` was sent (hand-off latency = taken - this)
  TimePoint conn_taken_at{};        // when it said Taken (service time = available - this)
  bool stop_requested = false;      // told to Stop: it finishes its client, then exits
  const char* stop_reason = "";     // why (static text: "shutdown", "reload", "recycle", ...)
  std::uint64_t served = 0;         // connections finished (Available)
  std::uint64_t max_served = 0;     // recycle after this many connections; 0: never
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::chrono::nanoseconds last_duration{0};  // Taken -> Available of its last connection
  TimePoint started_at{};
  TimePoint ready_at{};
  TimePoint state_since{};          // when it entered its current state
  std::optional<TimePoint> drain_by;      // an old generation's child must be gone by then
  std::optional<TimePoint> term_sent_at;  // a time limit sent SIGTERM (SIGKILL follows)
  bool kill_sent = false;
};

class ChildTable {
 public:
  explicit ChildTable(std::size_t slots);

  std::size_t capacity() const noexcept { return slots_.size(); }
  // Grows the table to at least `slots` slots (never shrinks; existing slots keep their ids).
  void ensureCapacity(std::size_t slots);
  std::optional<SlotId> freeSlot() const;

  // Registers a new child in an Empty slot, state Starting.
  ChildRecord& add(SlotId slot, pid_t pid, Generation generation, TimePoint now);
  // Empties the slot (after the child was reaped).
  void remove(SlotId slot);

  ChildRecord* find(SlotId slot);
  const ChildRecord* find(SlotId slot) const;
  ChildRecord* findByPid(pid_t pid);

  void markIdle(SlotId slot, TimePoint now);
  void markBusy(SlotId slot, ConnectionId conn, TimePoint now);
  void markStopping(SlotId slot, TimePoint now);

  // An idle child of generation `generation` chosen by `policy`, or nothing. With
  // `allow_older`, an idle child of an older generation is taken when the given one has none
  // (a reload keeps the old generation serving until the new one is up). Not const: the
  // round-robin cursor moves.
  std::optional<SlotId> pickIdle(DispatchPolicy policy, Generation generation,
                                 bool allow_older = false);
  // The child idle the longest (any generation), or nothing.
  std::optional<SlotId> longestIdle() const;
  // Number of idle children of `generation` (with `or_older`, of it and older ones).
  std::size_t idleOf(Generation generation, bool or_older = false) const;
  // Children of `generation` that will take work: Starting, Idle or Busy, not stop-requested.
  std::size_t activeOf(Generation generation) const;
  // Children of `generation` starting (not stop-requested).
  std::size_t startingOf(Generation generation) const;
  // Children of `generation` that went away unasked (Stopping, not stop-requested): lost
  // channel, send failure, Quitting on their own. They are gone once reaped.
  std::size_t unreapedOf(Generation generation) const;
  // Marks the child stop-requested (it gets no more work) for `reason` (static text); the
  // caller moves it to Stopping when it is idle or starting. Idempotent.
  void requestStop(SlotId slot, const char* reason);

  std::size_t count(ChildState state) const noexcept { return counts_[static_cast<int>(state)]; }
  std::size_t live() const noexcept { return slots_.size() - count(ChildState::Empty); }
  const std::vector<ChildRecord>& slots() const noexcept { return slots_; }

 private:
  void setState(ChildRecord& child, ChildState state, TimePoint now);

  std::vector<ChildRecord> slots_;
  SlotList idle_lru_;  // the Idle children, front = idle the longest
  std::unordered_map<pid_t, SlotId> by_pid_;
  SlotId rr_cursor_ = -1;  // round-robin: the slot picked last
  struct GenerationCounts {
    std::size_t active = 0, idle = 0, starting = 0, unreaped = 0;
  };
  // Which per-generation counts a child is in.
  struct Counted {
    bool active = false, idle = false, starting = false, unreaped = false;
    friend bool operator==(const Counted&, const Counted&) = default;
  };
  static Counted countedAs(const ChildRecord& child) noexcept;
  void recount(Generation generation, Counted before, Counted after);
  std::map<Generation, GenerationCounts> by_generation_;  // generations with live children
  std::size_t counts_[5] = {};
};

}  // namespace preforkd
