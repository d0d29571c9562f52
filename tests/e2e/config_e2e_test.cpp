// End-to-end: the configuration file through the real binary. -t and -T, every kind of bad
// file (file:line:col, exit 78, nothing started), precedence, and a server that really runs
// on what the file says.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "harness.h"

namespace e2e {
namespace {

constexpr int kExitConfig = 78;
constexpr int kExitUsage = 64;

class ConfigFile {
 public:
  explicit ConfigFile(const std::string& text) : path_(dir_.path() + "/preforkd.toml") {
    write(text);
  }
  void write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }
  const std::string& path() const { return path_; }

 private:
  TempDir dir_;
  std::string path_;
};

CommandResult preforkd(std::vector<std::string> args) {
  args.insert(args.begin(), PREFORKD_BINARY);
  return runCommand(args, 10s);
}

bool exitedWith(const CommandResult& r, int code) {
  return !r.timed_out && WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == code;
}

TEST(ConfigFile, CheckConfigSaysOk) {
  ConfigFile f("[pool]\nworkers = 2\n[process]\nallow_root_workers = true\n");
  const CommandResult r = preforkd({"-t", "-c", f.path()});
  EXPECT_TRUE(exitedWith(r, 0)) << r.output;
  EXPECT_EQ(r.output, "configuration OK\n");
}

struct BadFile {
  const char* what;
  const char* text;
  std::vector<std::string> flags;
  std::string expected;  // "FILE" stands for the path
};

TEST(ConfigFile, EveryKindOfBadFileExits78AtItsPosition) {
  const BadFile cases[] = {
      {"syntax error", "[pool]\nworkers = 4\n[worker\n", {}, "FILE:3:8: "},
      {"wrong type", "[pool]\nworkers = \"four\"\n", {},
       "FILE:2:11: pool.workers: expected an integer, got a string"},
      {"out of range", "[server]\nbacklog = 0\n", {},
       "FILE:2:11: server.backlog: must be between 1 and 65535, got 0"},
      {"unknown key with --strict", "[worker]\nservise = \"echo\"\n", {"--strict"},
       "FILE:2:1: unknown key 'worker.servise'"},
      {"bad duration", "[limits]\nkill_grace = \"2 fortnights\"\n", {},
       "FILE:2:14: limits.kill_grace: '2 fortnights' is not a duration"},
      {"min_spare > max_spare", "[pool]\nmode = \"dynamic\"\nmin_spare = 6\nmax_spare = 4\n", {},
       "FILE:3:13: pool.min_spare: min-spare (6) exceeds max-spare (4)"},
      {"bad address", "[server]\nlisten = [\"127.0.0.1:99999\"]\n", {}, "FILE:2:11: server.listen: "},
  };
  for (const BadFile& bad : cases) {
    SCOPED_TRACE(bad.what);
    ConfigFile f(bad.text);
    std::string expected = bad.expected;
    expected.replace(0, 4, f.path());
    for (bool check : {true, false}) {
      // -t reports it; a real start refuses with the same message and status.
      std::vector<std::string> args{"-c", f.path()};
      if (check) args.insert(args.begin(), "-t");
      args.insert(args.end(), bad.flags.begin(), bad.flags.end());
      PreforkdProcess p(args);
      const ExitStatus st = p.waitExit(5s);
      ASSERT_TRUE(st.exited) << p.log();
      EXPECT_TRUE(st.exitedWith(kExitConfig)) << st.describe() << "\n" << p.log();
      EXPECT_NE(p.log().find(expected), std::string::npos) << "stderr:\n" << p.log() << "want: " << expected;
      EXPECT_EQ(p.stdoutText().find("configuration OK"), std::string::npos);
      EXPECT_EQ(p.log().find("started worker"), std::string::npos) << "no worker may start";
      struct stat sb {};
      EXPECT_NE(::lstat(p.controlPath().c_str(), &sb), 0) << "no control socket may be created";
    }
  }
}

TEST(ConfigFile, UnknownKeysWarnButRun) {
  ConfigFile f("[pool]\nworkers = 2\nwrokers = 3\n");
  PreforkdProcess p({"-c", f.path()});
  ASSERT_TRUE(p.waitReady());
  EXPECT_NE(p.log().find(f.path() + ":3:1: warning: unknown key 'pool.wrokers'"), std::string::npos)
      << p.log();
  EXPECT_TRUE(p.waitPoolFull(2));
}

TEST(ConfigFile, TheServerRunsOnWhatTheFileSays) {
  // The harness adds --idle-timeout and friends as flags; the file sets the rest.
  ConfigFile f(
      "[pool]\nworkers = 3\n"
      "[worker]\nservice = \"shell\"\n"
      "[overload]\nbusy_message = \"421 from the file\"\n");
  PreforkdProcess p({"-c", f.path(), "--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  EXPECT_TRUE(p.waitPoolFull(2)) << "the flag overrides the file's workers = 3";
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  const auto banner = c.readLine();
  ASSERT_TRUE(banner);
  EXPECT_NE(banner->find("shell service"), std::string::npos) << *banner;
}

TEST(ConfigFile, DumpConfigIsTheEffectiveConfigurationAndParsesBack) {
  ConfigFile f("[pool]\nworkers = 5\npolicy = \"mru\"\n[log]\nlevel = \"warn\"\n");
  const CommandResult dump = preforkd({"-T", "-c", f.path(), "--policy", "round-robin"});
  ASSERT_TRUE(exitedWith(dump, 0)) << dump.output;
  EXPECT_NE(dump.output.find("\nworkers = 5\n"), std::string::npos) << dump.output;
  EXPECT_NE(dump.output.find("\npolicy = \"round-robin\"\n"), std::string::npos) << dump.output;
  EXPECT_NE(dump.output.find("\nlevel = \"warn\"\n"), std::string::npos) << dump.output;
  ConfigFile again(dump.output);
  const CommandResult second = preforkd({"-T", "--strict", "-c", again.path()});
  ASSERT_TRUE(exitedWith(second, 0)) << second.output;
  EXPECT_EQ(second.output, dump.output);
}

TEST(ConfigFile, TheShippedExample) {
  const std::string example = PREFORKD_SOURCE_DIR "/systemd/preforkd.toml";
  // It names the user the Debian package creates; on a machine without it, -t says so at the
  // line of the key.
  const bool has_user = runCommand({"/usr/bin/getent", "passwd", "preforkd"}, 5s).wait_status == 0;
  const CommandResult r = preforkd({"-t", "--strict", "-c", example});
  if (has_user) {
    EXPECT_TRUE(exitedWith(r, ::geteuid() == 0 ? 0 : kExitConfig)) << r.output;
  } else {
    EXPECT_TRUE(exitedWith(r, kExitConfig)) << r.output;
    EXPECT_TRUE(std::regex_search(r.output, std::regex(example + R"(:\d+:8: process.user: user 'preforkd' does not exist)")))
        << r.output;
  }
  if (::geteuid() == 0) {
    const CommandResult ok = preforkd({"-t", "--strict", "-c", example, "--user", "nobody"});
    EXPECT_TRUE(exitedWith(ok, 0)) << ok.output;
    EXPECT_EQ(ok.output, "configuration OK\n");
  }
}

TEST(ConfigFile, ABadFlagIsStill64) {
  ConfigFile f("[pool]\nworkers = 2\n");
  PreforkdProcess p({"-c", f.path(), "--workers", "0"});
  const ExitStatus st = p.waitExit(5s);
  EXPECT_TRUE(st.exitedWith(kExitUsage)) << st.describe() << "\n" << p.log();
}

}  // namespace
}  // namespace e2e
