#include "supervisor/child_table.h"

#include <cstdlib>

#include <spdlog/spdlog.h>

#include "common/hot_path.h"

namespace preforkd {
namespace {

// A broken invariant of our own is a bug: log and abort rather than limp on.
[[noreturn]] void bug(const char* what, SlotId slot) {
  spdlog::critical("child table invariant broken: {} (slot {})", what, slot);
  std::abort();
}

}  // namespace

const char* toString(ChildState state) noexcept {
  switch (state) {
    case ChildState::Empty: return "empty";
    case ChildState::Starting: return "starting";
    case ChildState::Idle: return "idle";
    case ChildState::Busy: return "busy";
    case ChildState::Stopping: return "stopping";
  }
  return "?";
}

ChildTable::ChildTable(std::size_t slots) : slots_(slots) {
  idle_lru_.resize(slots);
  for (std::size_t i = 0; i < slots; ++i) slots_[i].slot = static_cast<SlotId>(i);
  counts_[static_cast<int>(ChildState::Empty)] = slots;
}

std::optional<SlotId> ChildTable::freeSlot() const {
  for (const ChildRecord& c : slots_) {
    if (c.state == ChildState::Empty) return c.slot;
  }
  return std::nullopt;
}

void ChildTable::ensureCapacity(std::size_t slots) {
  const std::size_t old = slots_.size();
  if (slots <= old) return;
  slots_.resize(slots);
  idle_lru_.resize(slots);
  for (std::size_t i = old; i < slots; ++i) slots_[i].slot = static_cast<SlotId>(i);
  counts_[static_cast<int>(ChildState::Empty)] += slots - old;
}

ChildRecord& ChildTable::add(SlotId slot, pid_t pid, Generation generation, TimePoint now) {
  ChildRecord* c = find(slot);
  if (c == nullptr || c->state != ChildState::Empty) bug("add into a used slot", slot);
  *c = ChildRecord{};
  c->slot = slot;
  c->pid = pid;
  c->generation = generation;
  c->started_at = now;
  by_pid_[pid] = slot;
  setState(*c, ChildState::Starting, now);
  return *c;
}

void ChildTable::remove(SlotId slot) {
  ChildRecord* c = find(slot);
  if (c == nullptr || c->state == ChildState::Empty) bug("remove of an empty slot", slot);
  // Only this slot's mapping: should a pid ever be registered again before the old record
  // is removed, the newer child must stay findable.
  if (const auto it = by_pid_.find(c->pid); it != by_pid_.end() && it->second == slot) {
    by_pid_.erase(it);
  }
  setState(*c, ChildState::Empty, c->state_since);
  c->pid = -1;
  c->conn.reset();
}

PREFORKD_HOT
ChildRecord* ChildTable::find(SlotId slot) {
  if (slot < 0 || static_cast<std::size_t>(slot) >= slots_.size()) return nullptr;
  return &slots_[static_cast<std::size_t>(slot)];
}

PREFORKD_HOT
const ChildRecord* ChildTable::find(SlotId slot) const {
  return const_cast<ChildTable*>(this)->find(slot);
}

ChildRecord* ChildTable::findByPid(pid_t pid) {
  const auto it = by_pid_.find(pid);
  return it == by_pid_.end() ? nullptr : find(it->second);
}

PREFORKD_HOT
void ChildTable::markIdle(SlotId slot, TimePoint now) {
  ChildRecord* c = find(slot);
  if (c == nullptr || c->state == ChildState::Empty) bug("markIdle of an empty slot", slot);
  c->conn.reset();
  c->conn_taken = false;
  setState(*c, ChildState::Idle, now);
}

PREFORKD_HOT
void ChildTable::markBusy(SlotId slot, ConnectionId conn, TimePoint now) {
  ChildRecord* c = find(slot);
  if (c == nullptr || c->state != ChildState::Idle) bug("markBusy of a child that is not idle", slot);
  c->conn = conn;
  c->conn_taken = false;
  setState(*c, ChildState::Busy, now);
}

void ChildTable::markStopping(SlotId slot, TimePoint now) {
  ChildRecord* c = find(slot);
  if (c == nullptr || c->state == ChildState::Empty) bug("markStopping of an empty slot", slot);
  if (c->state != ChildState::Stopping) setState(*c, ChildState::Stopping, now);
}

PREFORKD_HOT
std::optional<SlotId> ChildTable::pickIdle(DispatchPolicy policy, Generation generation,
                                           bool allow_older) {
  // Steady state: every idle child is of the current generation, so LRU and MRU are O(1).
  // Round-robin and least-served scan the idle list (bounded by the pool size).
  auto eligible = [&](SlotId s, bool older) {
    const Generation g = slots_[static_cast<std::size_t>(s)].generation;
    return older ? g < generation : g == generation;
  };
  for (bool older : {false, true}) {
    if (older && !allow_older) break;
    std::optional<SlotId> best;
    switch (policy) {
      case DispatchPolicy::Lru:
        for (SlotId s : idle_lru_) {
          if (eligible(s, older)) return s;
        }
        break;
      case DispatchPolicy::Mru:
        for (SlotId s = idle_lru_.back(); s != SlotList::kNoSlot; s = idle_lru_.prev(s)) {
          if (eligible(s, older)) return s;
        }
        break;
      case DispatchPolicy::RoundRobin: {
        // The first eligible idle slot after the cursor, wrapping around.
        std::optional<SlotId> first_after, first_any;
        for (SlotId s : idle_lru_) {
          if (!eligible(s, older)) continue;
          if (s > rr_cursor_ && (!first_after || s < *first_after)) first_after = s;
          if (!first_any || s < *first_any) first_any = s;
        }
        best = first_after ? first_after : first_any;
        if (best) rr_cursor_ = *best;
        break;
      }
      case DispatchPolicy::LeastServed:
        // Ties go to the child idle the longest (list order).
        for (SlotId s : idle_lru_) {
          if (!eligible(s, older)) continue;
          if (!best || slots_[static_cast<std::size_t>(s)].served <
                           slots_[static_cast<std::size_t>(*best)].served) {
            best = s;
          }
        }
        break;
    }
    if (best) return best;
  }
  return std::nullopt;
}

PREFORKD_HOT
std::optional<SlotId> ChildTable::longestIdle() const {
  if (idle_lru_.empty()) return std::nullopt;
  return idle_lru_.front();
}

PREFORKD_HOT
std::size_t ChildTable::idleOf(Generation generation, bool or_older) const {
  std::size_t n = 0;
  for (const auto& [g, counts] : by_generation_) {
    if (g == generation || (or_older && g < generation)) n += counts.idle;
  }
  return n;
}

PREFORKD_HOT
std::size_t ChildTable::activeOf(Generation generation) const {
  const auto it = by_generation_.find(generation);
  return it == by_generation_.end() ? 0 : it->second.active;
}

PREFORKD_HOT
std::size_t ChildTable::startingOf(Generation generation) const {
  const auto it = by_generation_.find(generation);
  return it == by_generation_.end() ? 0 : it->second.starting;
}

PREFORKD_HOT
std::size_t ChildTable::unreapedOf(Generation generation) const {
  const auto it = by_generation_.find(generation);
  return it == by_generation_.end() ? 0 : it->second.unreaped;
}

void ChildTable::requestStop(SlotId slot, const char* reason) {
  ChildRecord* c = find(slot);
  if (c == nullptr || c->state == ChildState::Empty) bug("requestStop of an empty slot", slot);
  if (c->stop_requested) return;
  const Counted before = countedAs(*c);
  c->stop_requested = true;
  c->stop_reason = reason;
  recount(c->generation, before, countedAs(*c));
}

// Per-generation counts, kept in step with every state and stop-request change so the
// planner's questions are O(1) (it asks after every hand-off).
PREFORKD_HOT
ChildTable::Counted ChildTable::countedAs(const ChildRecord& c) noexcept {
  return Counted{
      .active = !c.stop_requested && (c.state == ChildState::Starting ||
                                      c.state == ChildState::Idle || c.state == ChildState::Busy),
      .idle = c.state == ChildState::Idle,
      .starting = c.state == ChildState::Starting && !c.stop_requested,
      .unreaped = c.state == ChildState::Stopping && !c.stop_requested,
  };
}

// One map lookup for the whole change (this runs twice per connection).
PREFORKD_HOT
void ChildTable::recount(Generation generation, Counted before, Counted after) {
  if (before == after) return;
  GenerationCounts& g = by_generation_[generation];
  const auto apply = [](std::size_t& n, bool was, bool is) {
    if (was != is) n = is ? n + 1 : n - 1;
  };
  apply(g.active, before.active, after.active);
  apply(g.idle, before.idle, after.idle);
  apply(g.starting, before.starting, after.starting);
  apply(g.unreaped, before.unreaped, after.unreaped);
  if (g.active == 0 && g.idle == 0 && g.starting == 0 && g.unreaped == 0) {
    by_generation_.erase(generation);
  }
}

PREFORKD_HOT
void ChildTable::setState(ChildRecord& child, ChildState state, TimePoint now) {
  if (child.state == ChildState::Idle) idle_lru_.erase(child.slot);
  const Counted before = countedAs(child);
  --counts_[static_cast<int>(child.state)];
  child.state = state;
  child.state_since = now;
  ++counts_[static_cast<int>(state)];
  recount(child.generation, before, countedAs(child));
  if (state == ChildState::Idle) idle_lru_.pushBack(child.slot);
}

}  // namespace preforkd
