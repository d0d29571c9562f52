// SlotList: the allocation-free idle list. Table-driven: each case is a sequence of
// operations and the order the list must then hold, forwards and backwards.
#include "supervisor/slot_list.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

struct Op {
  char what;  // 'p' pushBack, 'e' erase
  SlotId slot;
};

struct Case {
  std::string name;
  std::vector<Op> ops;
  std::vector<SlotId> expected;
};

std::vector<SlotId> forwards(const SlotList& l) {
  std::vector<SlotId> out;
  for (SlotId s : l) out.push_back(s);
  return out;
}

std::vector<SlotId> backwards(const SlotList& l) {
  std::vector<SlotId> out;
  for (SlotId s = l.back(); s != SlotList::kNoSlot; s = l.prev(s)) out.insert(out.begin(), s);
  return out;
}

TEST(SlotList, OperationsKeepTheOrder) {
  const std::vector<Case> cases = {
      {"empty", {}, {}},
      {"one", {{'p', 3}}, {3}},
      {"in push order", {{'p', 2}, {'p', 0}, {'p', 5}}, {2, 0, 5}},
      {"erase the front", {{'p', 2}, {'p', 0}, {'p', 5}, {'e', 2}}, {0, 5}},
      {"erase the back", {{'p', 2}, {'p', 0}, {'p', 5}, {'e', 5}}, {2, 0}},
      {"erase the middle", {{'p', 2}, {'p', 0}, {'p', 5}, {'e', 0}}, {2, 5}},
      {"erase the only one", {{'p', 4}, {'e', 4}}, {}},
      {"rejoin at the back (LRU)", {{'p', 1}, {'p', 2}, {'p', 3}, {'e', 1}, {'p', 1}}, {2, 3, 1}},
      {"empty then refill", {{'p', 1}, {'p', 2}, {'e', 1}, {'e', 2}, {'p', 2}, {'p', 1}}, {2, 1}},
  };
  for (const Case& c : cases) {
    SlotList l;
    l.resize(6);
    for (const Op& op : c.ops) {
      if (op.what == 'p') {
        ASSERT_FALSE(l.contains(op.slot)) << c.name;
        l.pushBack(op.slot);
      } else {
        ASSERT_TRUE(l.contains(op.slot)) << c.name;
        l.erase(op.slot);
      }
    }
    EXPECT_EQ(forwards(l), c.expected) << c.name;
    EXPECT_EQ(backwards(l), c.expected) << c.name;
    EXPECT_EQ(l.size(), c.expected.size()) << c.name;
    EXPECT_EQ(l.empty(), c.expected.empty()) << c.name;
    EXPECT_EQ(l.front(), c.expected.empty() ? SlotList::kNoSlot : c.expected.front()) << c.name;
    EXPECT_EQ(l.back(), c.expected.empty() ? SlotList::kNoSlot : c.expected.back()) << c.name;
    for (SlotId s = 0; s < 6; ++s) {
      EXPECT_EQ(l.contains(s), std::find(c.expected.begin(), c.expected.end(), s) != c.expected.end())
          << c.name << " slot " << s;
    }
  }
}

TEST(SlotList, GrowingKeepsTheMembers) {
  SlotList l;
  l.resize(2);
  l.pushBack(1);
  l.pushBack(0);
  l.resize(100);  // the pool grew
  l.pushBack(99);
  EXPECT_EQ(forwards(l), (std::vector<SlotId>{1, 0, 99}));
  EXPECT_FALSE(l.contains(100)) << "outside the table is not a member";
  EXPECT_FALSE(l.contains(-1));
}

}  // namespace
}  // namespace preforkd
