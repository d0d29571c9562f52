// AgentPeers: labels from what a balancer sends, counts, and the bounded table.
#include "supervisor/agent_peers.h"

#include <string>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

using std::chrono::seconds;
using TP = std::chrono::steady_clock::time_point;

TEST(AgentPeers, LabelFor) {
  struct Case {
    std::string received;
    const char* address;
    const char* label;
  };
  const Case cases[] = {
      {"lb1\n", "127.0.0.1:4000", "lb1"},
      {"lb1\r\n", "127.0.0.1:4000", "lb1"},
      {"  lb two  \nrest", "127.0.0.1:4000", "lb two"},
      {"", "127.0.0.1:4000", "127.0.0.1"},
      {"\n", "[::1]:4000", "[::1]"},
      {std::string("a\x01" "b\x7f" "c\xff", 6), "127.0.0.1:1", "a?b?c?"},
      {std::string(200, 'x'), "127.0.0.1:1", nullptr},
  };
  for (const Case& c : cases) {
    const std::string label = AgentPeers::labelFor(c.received, c.address);
    if (c.label == nullptr) {
      EXPECT_EQ(label, std::string(AgentPeers::kMaxLabel, 'x'));
    } else {
      EXPECT_EQ(label, c.label) << c.received;
    }
  }
}

TEST(AgentPeers, CountsPerLabelMostRecentFirst) {
  AgentPeers peers;
  const TP t0{};
  peers.record("lb1", "127.0.0.1:1", t0 + seconds(1));
  peers.record("lb2", "127.0.0.2:1", t0 + seconds(2));
  peers.record("lb1", "127.0.0.1:2", t0 + seconds(3));
  const auto rows = peers.rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].label, "lb1");
  EXPECT_EQ(rows[0].checks, 2u);
  EXPECT_EQ(rows[0].address, "127.0.0.1:2");
  EXPECT_EQ(rows[0].last_check, t0 + seconds(3));
  EXPECT_EQ(rows[1].label, "lb2");
  EXPECT_EQ(rows[1].checks, 1u);
}

TEST(AgentPeers, TableIsBoundedAndEvictsTheStalest) {
  AgentPeers peers;
  const TP t0{};
  for (std::size_t i = 0; i < AgentPeers::kMaxPeers * 3; ++i) {
    peers.record("peer" + std::to_string(i), "127.0.0.1:1", t0 + seconds(static_cast<long>(i)));
  }
  const auto rows = peers.rows();
  ASSERT_EQ(rows.size(), AgentPeers::kMaxPeers);
  EXPECT_EQ(rows.front().label, "peer" + std::to_string(AgentPeers::kMaxPeers * 3 - 1));
  EXPECT_EQ(rows.back().label, "peer" + std::to_string(AgentPeers::kMaxPeers * 2));
}

}  // namespace
}  // namespace preforkd
