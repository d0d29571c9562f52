// End-to-end: privileges. Started as root with --user nobody, the supervisor and every worker
// run as nobody, the listener (bound before the drop) still serves, and the control socket,
// handed over before the drop, is removed at exit by the unprivileged supervisor. Root
// without a user is refused; a user that does not exist is named.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "harness.h"

namespace e2e {
namespace {

constexpr int kExitStartup = 71;

// "Uid:" or "Gid:" of /proc/PID/status: real, effective, saved, filesystem.
std::vector<unsigned> idsOf(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(field + ":")) continue;
    std::istringstream values(line.substr(field.size() + 1));
    std::vector<unsigned> ids;
    for (unsigned v; values >> v;) ids.push_back(v);
    return ids;
  }
  return {};
}

TEST(Privileges, SupervisorAndWorkersRunAsTheUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "dropping privileges needs root; this test runs as uid " << ::geteuid();
  const passwd* pw = ::getpwnam("nobody");
  if (pw == nullptr) GTEST_SKIP() << "no user 'nobody' on this machine";
  const unsigned uid = pw->pw_uid, gid = pw->pw_gid;
  // The control socket lives in a "runtime directory", as under systemd: the supervisor hands
  // both to the user, so that, unprivileged, it can still remove its socket at exit.
  TempDir runtime;
  ::chmod(runtime.path().c_str(), 0750);
  const std::string control = runtime.path() + "/preforkd.sock";
  ::setenv("RUNTIME_DIRECTORY", runtime.path().c_str(), 1);
  PreforkdProcess p({"--workers", "2", "--user", "nobody", "--control-socket", control});
  ::unsetenv("RUNTIME_DIRECTORY");
  ASSERT_TRUE(p.waitReady()) << p.log();
  EXPECT_NE(p.log().find("running as user nobody (" + std::to_string(uid) + ")"), std::string::npos)
      << p.log();
  const std::vector<unsigned> all_uid(4, uid), all_gid(4, gid);
  EXPECT_EQ(idsOf(p.pid(), "Uid"), all_uid) << "the supervisor";
  EXPECT_EQ(idsOf(p.pid(), "Gid"), all_gid) << "the supervisor";
  ASSERT_TRUE(p.waitPoolFull(2));
  const auto workers = p.workerPids();
  ASSERT_EQ(workers.size(), 2u);
  for (pid_t w : workers) {
    EXPECT_EQ(idsOf(w, "Uid"), all_uid) << "worker " << w;
    EXPECT_EQ(idsOf(w, "Gid"), all_gid) << "worker " << w;
  }
  // The listener was bound as root before the drop and still works.
  Banner banner;
  ASSERT_TRUE(serveOne(p.port(), &banner));
  EXPECT_EQ(idsOf(banner.pid, "Uid"), all_uid);
  struct stat st {};
  ASSERT_EQ(::stat(control.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid) << "the control socket belongs to the daemon's user";
  EXPECT_EQ((st.st_mode & 0777), 0600u);

  p.signal(SIGTERM);
  EXPECT_TRUE(p.waitExit(10s).exitedWith(0)) << p.log();
  EXPECT_NE(::lstat(control.c_str(), &st), 0) << "the unprivileged supervisor left its socket behind";
}

TEST(Privileges, RootWithoutAUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "the root policy applies when started as root";
  LaunchOptions options;
  options.allow_root_workers = false;
  PreforkdProcess p({}, options);
  const ExitStatus st = p.waitExit(5s);
  ASSERT_TRUE(st.exited) << p.log();
  EXPECT_TRUE(st.exitedWith(kExitStartup)) << st.describe() << p.log();
  EXPECT_NE(p.log().find("started as root without a user"), std::string::npos) << p.log();
  EXPECT_EQ(p.log().find("listening on"), std::string::npos) << "refused before binding";
}

TEST(Privileges, AUserThatDoesNotExistIsNamed) {
  PreforkdProcess p({"--user", "no-such-user-preforkd"});
  const ExitStatus st = p.waitExit(5s);
  ASSERT_TRUE(st.exited) << p.log();
  EXPECT_TRUE(st.exitedWith(kExitStartup)) << st.describe() << p.log();
  EXPECT_NE(p.log().find("user 'no-such-user-preforkd' does not exist"), std::string::npos) << p.log();
}

TEST(Privileges, NotRootCannotSwitch) {
  if (::geteuid() == 0) GTEST_SKIP() << "needs an unprivileged uid";
  PreforkdProcess p({"--user", "root"});
  const ExitStatus st = p.waitExit(5s);
  EXPECT_TRUE(st.exitedWith(kExitStartup)) << st.describe() << p.log();
  EXPECT_NE(p.log().find("not running as root"), std::string::npos) << p.log();
}

}  // namespace
}  // namespace e2e
