// Control access levels: the pure rule, and the user/group database look-ups it relies on.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include "common/unique_fd.h"
#include "supervisor/control_access.h"

namespace preforkd {
namespace {

TEST(ControlAccess, LevelRule) {
  const auto never = [](uid_t, gid_t) { return false; };
  const auto member_1000_of_50 = [](uid_t uid, gid_t gid) { return uid == 1000 && gid == 50; };
  struct Case {
    uid_t uid;
    gid_t gid;
    AdminRule rule;
    bool in_group_fn;
    AccessLevel expected;
  };
  const std::vector<Case> cases = {
      {0, 0, {500, std::nullopt}, false, AccessLevel::Admin},            // root
      {500, 500, {500, std::nullopt}, false, AccessLevel::Admin},        // the daemon's user
      {1000, 1000, {500, std::nullopt}, false, AccessLevel::ReadOnly},   // anyone else
      {1000, 1000, {500, gid_t{50}}, true, AccessLevel::Admin},          // supplementary member
      {1000, 50, {500, gid_t{50}}, false, AccessLevel::Admin},           // primary gid
      {1001, 1001, {500, gid_t{50}}, true, AccessLevel::ReadOnly},       // not a member
      {0, 0, {0, std::nullopt}, false, AccessLevel::Admin},
  };
  for (const Case& c : cases) {
    const std::function<bool(uid_t, gid_t)> fn =
        c.in_group_fn ? std::function<bool(uid_t, gid_t)>(member_1000_of_50)
                      : std::function<bool(uid_t, gid_t)>(never);
    EXPECT_EQ(accessLevelFor(c.uid, c.gid, c.rule, fn), c.expected) << c.uid << "/" << c.gid;
  }
  EXPECT_STREQ(toString(AccessLevel::Admin), "admin");
  EXPECT_STREQ(toString(AccessLevel::ReadOnly), "read-only");
}

TEST(ControlAccess, ResolveGroup) {
  std::string error;
  EXPECT_EQ(resolveGroup("root", &error), gid_t{0}) << error;
  EXPECT_EQ(resolveGroup("4242", &error), gid_t{4242});  // a number needs no database entry
  EXPECT_FALSE(resolveGroup("no-such-group-preforkd", &error));
  EXPECT_NE(error.find("no-such-group-preforkd"), std::string::npos) << error;
  EXPECT_FALSE(resolveGroup("", &error));
}

TEST(ControlAccess, UserInGroup) {
  EXPECT_TRUE(userInGroup(0, 0));            // root's primary group
  EXPECT_FALSE(userInGroup(0, 4'000'000));   // no such group
  EXPECT_FALSE(userInGroup(3'999'999, 0));   // no such user
}

TEST(ControlAccess, PeerCredentialsOfASocketpair) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const UniqueFd a(sv[0]), b(sv[1]);
  const auto peer = peerCredentials(a.get());
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->pid, ::getpid());
  EXPECT_EQ(peer->uid, ::geteuid());
  EXPECT_EQ(peer->gid, ::getegid());
  EXPECT_FALSE(peerCredentials(-1));
}

}  // namespace
}  // namespace preforkd
