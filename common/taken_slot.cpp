#include "common/taken_slot.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <new>
#include <system_error>
#include <utility>

#include "common/hot_path.h"

namespace preforkd {

struct TakenSlot::Page {
  std::atomic<std::int64_t> taken_ns;  // time_since_epoch of the take, in nanoseconds
  std::atomic<ConnectionId> conn;      // written last (release)
  std::atomic<ConnectionId> released;  // the supervisor closed its copy of this one
};

// Shared between two processes: the atomics must not need a lock living in one of them.
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(std::atomic<ConnectionId>::is_always_lock_free);
static_assert(sizeof(std::atomic<ConnectionId>) == sizeof(ConnectionId));

namespace {
constexpr std::size_t kPageSize = 4096;  // one page; the record needs 16 bytes
}

TakenSlot TakenSlot::create() {
  void* p = ::mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
  // A fresh anonymous mapping is zero-filled: every field starts at 0 ("nothing taken").
  return TakenSlot(new (p) Page{});
}

TakenSlot::TakenSlot(TakenSlot&& other) noexcept : page_(std::exchange(other.page_, nullptr)) {}

TakenSlot& TakenSlot::operator=(TakenSlot&& other) noexcept {
  if (this != &other) {
    this->~TakenSlot();
    page_ = std::exchange(other.page_, nullptr);
  }
  return *this;
}

TakenSlot::~TakenSlot() {
  if (page_ != nullptr) ::munmap(page_, kPageSize);
  page_ = nullptr;
}

int TakenSlot::keepFromLaterForks() noexcept {
  if (page_ == nullptr) return EINVAL;
  return ::madvise(page_, kPageSize, MADV_DONTFORK) == 0 ? 0 : errno;
}

PREFORKD_HOT
void TakenSlot::record(ConnectionId conn, Clock::time_point at) noexcept {
  if (page_ == nullptr) return;
  page_->taken_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count(),
                        std::memory_order_relaxed);
  page_->conn.store(conn, std::memory_order_release);
}

PREFORKD_HOT
bool TakenSlot::supervisorHolds(ConnectionId conn) const noexcept {
  return page_ != nullptr && page_->released.load(std::memory_order_acquire) != conn;
}

PREFORKD_HOT
void TakenSlot::recordReleased(ConnectionId conn) noexcept {
  if (page_ != nullptr) page_->released.store(conn, std::memory_order_release);
}

PREFORKD_HOT
std::optional<TakenSlot::Clock::time_point> TakenSlot::taken(ConnectionId conn) const noexcept {
  if (page_ == nullptr || conn == 0) return std::nullopt;
  if (page_->conn.load(std::memory_order_acquire) != conn) return std::nullopt;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::nanoseconds(page_->taken_ns.load(std::memory_order_relaxed))));
}

}  // namespace preforkd
