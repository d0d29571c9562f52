// SlotList: an ordered list of child slots (the idle children, longest idle first) that never
// allocates after it has room for every slot.
//
// Why: the idle list changes twice per connection (a child leaves it when it gets a client and
// rejoins at the back when it is available again); std::list allocated and freed a node each
// time. This is a doubly linked list threaded through two arrays indexed by slot.
//
// Contract: resize(n) makes room for slots 0..n-1 (existing links are kept); each slot is in
// the list at most once (pushBack of a member, or erase of a non-member, is a bug the caller
// must not commit: checked with contains()). front()/back() of an empty list are kNoSlot.
// Iteration: for (SlotId s : list) in order, or next()/prev() by hand. Pure: no syscalls.
#pragma once

#include <cstddef>
#include <iterator>
#include <vector>

namespace preforkd {

// Index of a child in the child table (stable for the child's life).
using SlotId = int;

class SlotList {
 public:
  static constexpr SlotId kNoSlot = -1;

  void resize(std::size_t slots) {
    if (slots > links_.size()) links_.resize(slots);
  }
  bool empty() const noexcept { return head_ == kNoSlot; }
  std::size_t size() const noexcept { return size_; }
  SlotId front() const noexcept { return head_; }
  SlotId back() const noexcept { return tail_; }
  SlotId next(SlotId s) const noexcept { return link(s).next; }
  SlotId prev(SlotId s) const noexcept { return link(s).prev; }
  bool contains(SlotId s) const noexcept {
    return s >= 0 && static_cast<std::size_t>(s) < links_.size() && link(s).member;
  }

  void pushBack(SlotId s) noexcept {
    Link& l = link(s);
    l = Link{.prev = tail_, .next = kNoSlot, .member = true};
    if (tail_ == kNoSlot) {
      head_ = s;
    } else {
      link(tail_).next = s;
    }
    tail_ = s;
    ++size_;
  }
  void erase(SlotId s) noexcept {
    Link& l = link(s);
    if (l.prev == kNoSlot) head_ = l.next; else link(l.prev).next = l.next;
    if (l.next == kNoSlot) tail_ = l.prev; else link(l.next).prev = l.prev;
    l = Link{};
    --size_;
  }

  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = SlotId;
    using difference_type = std::ptrdiff_t;
    using pointer = const SlotId*;
    using reference = SlotId;
    Iterator() = default;
    Iterator(const SlotList* list, SlotId at) : list_(list), at_(at) {}
    SlotId operator*() const noexcept { return at_; }
    Iterator& operator++() noexcept {
      at_ = list_->next(at_);
      return *this;
    }
    Iterator operator++(int) noexcept {
      Iterator was = *this;
      ++*this;
      return was;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) noexcept { return a.at_ == b.at_; }

   private:
    const SlotList* list_ = nullptr;
    SlotId at_ = kNoSlot;
  };
  Iterator begin() const noexcept { return {this, head_}; }
  Iterator end() const noexcept { return {this, kNoSlot}; }

 private:
  struct Link {
    SlotId prev = kNoSlot;
    SlotId next = kNoSlot;
    bool member = false;
  };
  Link& link(SlotId s) noexcept { return links_[static_cast<std::size_t>(s)]; }
  const Link& link(SlotId s) const noexcept { return links_[static_cast<std::size_t>(s)]; }

  std::vector<Link> links_;
  SlotId head_ = kNoSlot;
  SlotId tail_ = kNoSlot;
  std::size_t size_ = 0;
};

}  // namespace preforkd
