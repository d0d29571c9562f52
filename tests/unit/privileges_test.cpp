// Privileges: user and group look-up, the root policy, and (as root, in a forked child) the
// drop itself: groups, gid, uid, and no way back.
#include "supervisor/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

TEST(Privileges, ResolvesUsersAndGroups) {
  std::string error;
  auto root = resolveIdentity("root", "", &error);
  ASSERT_TRUE(root) << error;
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->gid, 0u);
  EXPECT_EQ(root->group, "root");

  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) GTEST_SKIP() << "no user 'nobody' on this machine";
  const uid_t nobody_uid = nobody->pw_uid;
  const gid_t nobody_gid = nobody->pw_gid;
  auto by_name = resolveIdentity("nobody", "", &error);
  ASSERT_TRUE(by_name) << error;
  EXPECT_EQ(by_name->uid, nobody_uid);
  EXPECT_EQ(by_name->gid, nobody_gid);
  auto by_number = resolveIdentity(std::to_string(nobody_uid), "", &error);
  ASSERT_TRUE(by_number) << error;
  EXPECT_EQ(by_number->user, "nobody");
  auto with_group = resolveIdentity("nobody", "root", &error);
  ASSERT_TRUE(with_group) << error;
  EXPECT_EQ(with_group->gid, 0u);
  auto group_number = resolveIdentity("nobody", "0", &error);
  ASSERT_TRUE(group_number) << error;
  EXPECT_EQ(group_number->group, "root");
}

TEST(Privileges, ClearMessagesForWhatDoesNotExist) {
  struct Case {
    const char* user;
    const char* group;
    const char* message;
  };
  const Case cases[] = {
      {"no-such-user-preforkd", "", "user 'no-such-user-preforkd' does not exist"},
      {"root", "no-such-group-preforkd", "group 'no-such-group-preforkd' does not exist"},
      {"", "root", "group 'root' needs a user as well"},
      {"4294967000", "", "user '4294967000' does not exist"},
  };
  for (const Case& c : cases) {
    std::string error;
    EXPECT_FALSE(resolveIdentity(c.user, c.group, &error));
    EXPECT_EQ(error, c.message);
  }
}

TEST(Privileges, RootPolicy) {
  const Identity worker{"www", 33, 33, "www"};
  const Identity root{"root", 0, 0, "root"};
  struct Case {
    uid_t euid;
    gid_t egid;
    std::optional<Identity> target;
    bool allow_root;
    const char* refusal;  // "" or a part of the message
  };
  const Case cases[] = {
      {0, 0, worker, false, ""},
      {0, 0, std::nullopt, false, "started as root without a user"},
      {0, 0, std::nullopt, true, ""},
      {0, 0, root, false, "user 'root' is root"},
      {0, 0, root, true, ""},
      {1000, 1000, std::nullopt, false, ""},             // an ordinary user, nothing to switch
      {33, 33, worker, false, ""},                       // already the user
      {1000, 1000, worker, false, "not running as root"},
      {33, 0, worker, false, "not running as root"},     // right uid, wrong gid
  };
  for (const Case& c : cases) {
    const std::string refusal = checkRootPolicy(c.euid, c.egid, c.target, c.allow_root);
    if (*c.refusal == '\0') {
      EXPECT_EQ(refusal, "") << c.euid;
    } else {
      EXPECT_NE(refusal.find(c.refusal), std::string::npos) << refusal;
    }
  }
}

TEST(Privileges, DropIsCompleteAndFinal) {
  if (::geteuid() != 0) GTEST_SKIP() << "dropping privileges needs root (this test runs as uid " << ::geteuid() << ")";
  std::string error;
  auto nobody = resolveIdentity("nobody", "", &error);
  if (!nobody) GTEST_SKIP() << error;
  // Give the user a supplementary group it does not otherwise have: initgroups must replace
  // root's groups with the user's, so root's extra groups must be gone afterwards.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const gid_t extra = 0;  // root's group: nobody is not a member
    ::setgroups(1, &extra);
    if (!needsDrop(*nobody)) ::_exit(10);
    if (!dropPrivileges(*nobody).empty()) ::_exit(11);
    if (::getuid() != nobody->uid || ::geteuid() != nobody->uid) ::_exit(12);
    if (::getgid() != nobody->gid || ::getegid() != nobody->gid) ::_exit(13);
    std::vector<gid_t> groups(64);
    const int n = ::getgroups(static_cast<int>(groups.size()), groups.data());
    for (int i = 0; i < n; ++i) {
      if (groups[static_cast<std::size_t>(i)] == 0) ::_exit(14);  // root's group survived
    }
    if (::setuid(0) == 0 || ::seteuid(0) == 0 || ::setgid(0) == 0) ::_exit(15);
    if (needsDrop(*nobody)) ::_exit(16);
    ::_exit(0);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << "10 needsDrop, 11 drop failed, 12 uid, 13 gid, 14 groups, "
                                   "15 root regained, 16 still needs a drop";
}

}  // namespace
}  // namespace preforkd
