// End-to-end: reload through the configuration file and the control socket, and run-time
// changes (policy, pool size) through the control socket.
#include <signal.h>

#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "harness.h"

namespace e2e {
namespace {

class ConfigFile {
 public:
  explicit ConfigFile(const std::string& dir) : path_(dir + "/preforkd.toml") {}
  void write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A broken file is refused with its position and the old configuration keeps serving; a
// fixed file starts a new generation with the new settings. Both through SIGHUP and through
// the synchronous `reload` command.
TEST(ReloadConfig, ABrokenFileKeepsTheOldConfigurationAndAFixedOneApplies) {
  TempDir dir;
  ConfigFile file(dir.path());
  file.write("[pool]\nworkers = 2\n");
  PreforkdProcess p({"-c", file.path()});
  ASSERT_TRUE(p.waitReady());
  ASSERT_TRUE(p.waitPoolFull(2));

  file.write("[pool]\nworkers = 0\n");
  std::size_t cursor = 0;
  p.signal(SIGHUP);
  ASSERT_TRUE(p.waitForLog(std::regex("reload: configuration rejected, keeping the current one: "
                                      ".*preforkd.toml:2:11: pool.workers"),
                           5s, &cursor));
  const auto answer = p.control("reload", 5s);
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->starts_with("ERROR ")) << *answer;
  EXPECT_NE(answer->find("preforkd.toml:2:11"), std::string::npos) << *answer;
  auto info = p.info();
  EXPECT_EQ(infoValue(info, "generation"), 1u);
  EXPECT_EQ(infoValue(info, "reloads_failed"), 2u);
  Banner b;
  EXPECT_TRUE(serveOne(p.port(), &b)) << "still serving on the old configuration";

  file.write("[pool]\nworkers = 3\npolicy = \"mru\"\n");
  const auto ok = p.control("reload", 10s);
  ASSERT_TRUE(ok);
  EXPECT_FALSE(ok->starts_with("ERROR")) << *ok;
  // The answer came once generation 2 was up.
  EXPECT_TRUE(p.waitForLog(std::regex("reload: generation 2 is up \\(3 workers ready\\)"), 1s, &cursor));
  ASSERT_TRUE(p.waitPoolFull(3));
  info = p.info();
  EXPECT_EQ(infoValue(info, "generation"), 2u);
  EXPECT_EQ(info["policy"], "mru");
  EXPECT_EQ(infoValue(info, "reloads"), 1u);
}

TEST(RuntimeControl, SetPolicyAndSetWorkers) {
  PreforkdProcess p({"--workers", "3"});
  ASSERT_TRUE(p.waitReady());
  ASSERT_TRUE(p.waitPoolFull(3));
  const auto set = p.control("set policy mru");
  ASSERT_TRUE(set);
  EXPECT_FALSE(set->starts_with("ERROR")) << *set;
  std::set<pid_t> used;
  for (int i = 0; i < 4; ++i) {
    Banner b;
    ASSERT_TRUE(serveOne(p.port(), &b));
    ASSERT_TRUE(p.waitCompleted(static_cast<std::uint64_t>(i + 1)));
    used.insert(b.pid);
  }
  EXPECT_EQ(used.size(), 1u) << "mru after 'set policy mru'";
  EXPECT_TRUE(p.control("set policy sideways")->starts_with("ERROR"));

  ASSERT_FALSE(p.control("set workers 5")->starts_with("ERROR"));
  ASSERT_TRUE(p.waitPoolFull(5));
  ASSERT_FALSE(p.control("set workers 1")->starts_with("ERROR"));
  ASSERT_TRUE(p.waitPoolFull(1));
  EXPECT_EQ(p.info()["workers_configured"], "1");
}

TEST(RuntimeControl, DrainAndKillWorkerAndKillConn) {
  PreforkdProcess p({"--workers", "2", "--kill-grace", "500ms"});
  ASSERT_TRUE(p.waitReady());
  ASSERT_TRUE(p.waitPoolFull(2));
  // A busy worker told to drain finishes its client, then is replaced.
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  const auto banner = parseBanner(c.readLine(3s).value_or(""));
  ASSERT_TRUE(banner);
  ASSERT_FALSE(p.control("worker drain " + std::to_string(banner->pid))->starts_with("ERROR"));
  ASSERT_TRUE(c.send("still served\r\n"));
  EXPECT_EQ(c.readLine(), "still served");
  ASSERT_TRUE(c.send("quit\r\n"));
  EXPECT_EQ(c.readLine(), "Goodbye.");
  EXPECT_TRUE(eventually([&] { return !processExists(banner->pid) || parentPid(banner->pid) != p.pid(); }, 3s));
  ASSERT_TRUE(p.waitPoolFull(2));

  // conn kill: the worker serving it is terminated; its client sees the connection end.
  Client d;
  ASSERT_TRUE(d.connect(p.port()));
  const auto b2 = parseBanner(d.readLine(3s).value_or(""));
  ASSERT_TRUE(b2);
  ASSERT_FALSE(p.control("conn kill " + std::to_string(b2->conn))->starts_with("ERROR"));
  const auto rest = d.readAll(3s);
  EXPECT_TRUE(rest.eof || rest.error != 0);
  EXPECT_TRUE(p.control("conn kill 999999")->starts_with("ERROR"));
  EXPECT_TRUE(p.control("worker kill 999999")->starts_with("ERROR"));
  ASSERT_TRUE(p.waitPoolFull(2));
}

// A client accepted while forked workers served (its socket inherited the listeners' 1 s read
// timeout, common/client_read_wake.h) but handed out after a reload switched to an exec'd
// program gets a socket without the timeout: the naive blocking-echo test worker keeps
// serving it after more than a second of silence.
TEST(ReloadConfig, ClientsQueuedAcrossASwitchToExecdWorkersLoseTheReadTimeout) {
  TempDir dir;
  ConfigFile file(dir.path());
  file.write("[pool]\nworkers = 1\n[overload]\nqueue = 4\n");
  PreforkdProcess p({"-c", file.path()});
  ASSERT_TRUE(p.waitReady());
  Client a;
  Banner ab;
  ASSERT_TRUE(a.connect(p.port()));
  ASSERT_TRUE(readBanner(a, &ab));  // the only forked worker is busy with `a`
  Client b;
  ASSERT_TRUE(b.connect(p.port()));
  ASSERT_TRUE(eventually([&] { return p.infoNumber("conns_queued") == 1; }, 5s))
      << "b must wait in the supervisor's queue, accepted under the forked workers' listeners";

  file.write(std::string("[pool]\nworkers = 1\n[overload]\nqueue = 4\n[worker]\nexec = [\"") +
             PREFORKD_TEST_WORKER_BINARY + "\", \"blocking-echo\"]\n");
  std::size_t cursor = 0;
  p.signal(SIGHUP);
  ASSERT_TRUE(p.waitForLog(std::regex("reload: starting generation 2"), 5s, &cursor)) << p.log();
  // The new generation's exec'd worker takes `b` from the queue.
  ASSERT_TRUE(b.send("first\r\n"));
  EXPECT_EQ(b.readLine(5s), "first") << p.log();
  std::this_thread::sleep_for(1500ms);  // the silence is what is tested
  ASSERT_TRUE(b.send("after the silence\r\n"));
  EXPECT_EQ(b.readLine(3s), "after the silence") << p.log();
  EXPECT_EQ(p.log().find("recv from the client"), std::string::npos) << p.log();

  b.shutdownWrite();
  EXPECT_TRUE(b.readAll(3s).eof);
  ASSERT_TRUE(a.send("quit\r\n"));
  EXPECT_EQ(a.readLine(3s), "Goodbye.");
  EXPECT_TRUE(a.readAll(3s).eof);
  p.signal(SIGTERM);
  EXPECT_TRUE(p.waitExit(10s).exitedWith(0)) << p.log();
}

}  // namespace
}  // namespace e2e
