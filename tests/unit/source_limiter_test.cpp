// SourceLimiter: per-address caps keyed by IP only, IPv4-mapped IPv6 as IPv4, bounded memory.
#include "supervisor/source_limiter.h"

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

SocketAddress addr(const std::string& text) {
  std::string error;
  const auto a = parseHostPort(text, &error);
  EXPECT_TRUE(a.has_value()) << error;
  return a.value_or(SocketAddress{});
}

SocketAddress unixPeer() {
  SocketAddress a;
  a.storage.ss_family = AF_UNIX;
  a.length = sizeof(sa_family_t);
  return a;
}

enum class Op { Acquire, Release };

struct Action {
  Action(Op op_, std::string peer_, bool ok_ = true) : op(op_), peer(std::move(peer_)), ok(ok_) {}
  Op op;
  std::string peer;  // "unix" for a unix-domain peer
  bool ok;           // Acquire: the expected answer
};

struct Expectation {
  std::string peer;
  std::size_t count;
};

struct LimiterCase {
  const char* name;
  std::size_t limit;
  std::vector<Action> actions;
  std::vector<Expectation> counts;  // after all actions
  std::size_t sources;              // after all actions
  // gtest prints the case by name instead of its bytes.
  friend void PrintTo(const LimiterCase& c, std::ostream* os) { *os << c.name; }
};

class SourceLimiterScript : public ::testing::TestWithParam<LimiterCase> {};

TEST_P(SourceLimiterScript, Counts) {
  const LimiterCase& c = GetParam();
  SourceLimiter limiter(c.limit);
  auto peer = [](const std::string& p) { return p == "unix" ? unixPeer() : addr(p); };
  for (std::size_t i = 0; i < c.actions.size(); ++i) {
    const Action& a = c.actions[i];
    if (a.op == Op::Acquire) {
      EXPECT_EQ(limiter.tryAcquire(peer(a.peer)), a.ok) << "action " << i << " " << a.peer;
    } else {
      limiter.release(peer(a.peer));
    }
  }
  for (const Expectation& e : c.counts) EXPECT_EQ(limiter.count(peer(e.peer)), e.count) << e.peer;
  EXPECT_EQ(limiter.sources(), c.sources);
}

const Op A = Op::Acquire;
const Op R = Op::Release;

INSTANTIATE_TEST_SUITE_P(
    Cases, SourceLimiterScript,
    ::testing::Values(
        LimiterCase{"cap_per_address",
                    2,
                    {{A, "10.0.0.1:1000"}, {A, "10.0.0.1:1001"}, {A, "10.0.0.1:1002", false},
                     {A, "10.0.0.2:1000"}},
                    {{"10.0.0.1:9", 2}, {"10.0.0.2:9", 1}, {"10.0.0.3:9", 0}},
                    2},
        LimiterCase{"port_is_ignored",
                    1,
                    {{A, "192.0.2.7:40000"}, {A, "192.0.2.7:40001", false}},
                    {{"192.0.2.7:1", 1}},
                    1},
        LimiterCase{"release_frees_a_place",
                    1,
                    {{A, "10.0.0.1:1"}, {A, "10.0.0.1:2", false}, {R, "10.0.0.1:1"},
                     {A, "10.0.0.1:3"}},
                    {{"10.0.0.1:1", 1}},
                    1},
        LimiterCase{"entry_erased_at_zero",
                    3,
                    {{A, "10.0.0.1:1"}, {A, "10.0.0.1:2"}, {R, "10.0.0.1:1"}, {R, "10.0.0.1:2"}},
                    {{"10.0.0.1:1", 0}},
                    0},
        LimiterCase{"release_of_unknown_is_a_no_op",
                    2,
                    {{R, "10.0.0.9:1"}, {A, "10.0.0.1:1"}, {R, "10.0.0.9:1"}, {R, "[::1]:1"}},
                    {{"10.0.0.1:1", 1}, {"10.0.0.9:1", 0}},
                    1},
        LimiterCase{"v4_mapped_v6_counts_as_v4",
                    2,
                    {{A, "127.0.0.1:1"}, {A, "[::ffff:127.0.0.1]:2"}, {A, "127.0.0.1:3", false},
                     {A, "[::ffff:127.0.0.1]:4", false}},
                    {{"127.0.0.1:0", 2}, {"[::ffff:127.0.0.1]:0", 2}},
                    1},
        LimiterCase{"v6_addresses_are_distinct_from_v4",
                    1,
                    // ::7f00:1 has the same last four bytes as 127.0.0.1 but is not mapped.
                    {{A, "127.0.0.1:1"}, {A, "[::7f00:1]:1"}, {A, "[::1]:1"},
                     {A, "[2001:db8::1]:1"}, {A, "[2001:db8::1]:2", false}},
                    {{"127.0.0.1:1", 1}, {"[::7f00:1]:1", 1}, {"[::1]:1", 1}},
                    4},
        LimiterCase{"limit_zero_tracks_nothing",
                    0,
                    {{A, "10.0.0.1:1"}, {A, "10.0.0.1:2"}, {A, "10.0.0.1:3"}, {R, "10.0.0.1:1"}},
                    {{"10.0.0.1:1", 0}},
                    0},
        LimiterCase{"unix_peers_are_not_limited",
                    1,
                    {{A, "unix"}, {A, "unix"}, {R, "unix"}},
                    {{"unix", 0}},
                    0}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(SourceLimiter, LoweringTheLimitKeepsHeldConnections) {
  SourceLimiter limiter(3);
  const SocketAddress p = addr("10.1.1.1:5");
  ASSERT_TRUE(limiter.tryAcquire(p));
  ASSERT_TRUE(limiter.tryAcquire(p));
  limiter.setLimit(1);
  EXPECT_EQ(limiter.limit(), 1u);
  EXPECT_FALSE(limiter.tryAcquire(p));  // 2 held, cap 1
  limiter.release(p);
  EXPECT_FALSE(limiter.tryAcquire(p));  // 1 held, cap 1
  limiter.release(p);
  EXPECT_TRUE(limiter.tryAcquire(p));
}

TEST(SourceLimiter, TurningTheCapOffStillDrainsHeldEntries) {
  SourceLimiter limiter(2);
  const SocketAddress p = addr("10.1.1.1:5");
  ASSERT_TRUE(limiter.tryAcquire(p));
  limiter.setLimit(0);
  EXPECT_TRUE(limiter.tryAcquire(p));  // not counted
  EXPECT_EQ(limiter.count(p), 1u);
  limiter.release(p);
  EXPECT_EQ(limiter.sources(), 0u);  // nothing left behind
}

}  // namespace
}  // namespace preforkd
