// End-to-end: the pool lifecycle. Pool modes, dispatch policies, recycling, the overload
// queue, the per-source cap, resizing by signal, reload generations, hot upgrade, chaos and
// fd exhaustion, all against the real binary on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

#include "harness.h"
#include "load_driver.h"

namespace e2e {
namespace {

testing::AssertionResult openSession(Client& c, int port, Banner* b = nullptr,
                                     const std::string& host = "127.0.0.1") {
  if (auto r = c.connect(port, host); !r) return r;
  const auto line = c.readLine(5s);
  if (!line) return testing::AssertionFailure() << "no banner; got '" << c.pending() << "'";
  const auto banner = parseBanner(*line);
  if (!banner) return testing::AssertionFailure() << "not a banner: '" << *line << "'";
  if (b != nullptr) *b = *banner;
  return testing::AssertionSuccess();
}

testing::AssertionResult closeSession(Client& c) {
  if (auto r = c.send("quit\r\n"); !r) return r;
  const auto bye = c.readLine(5s);
  if (bye != "Goodbye.") return testing::AssertionFailure() << "no Goodbye";
  if (!c.readAll(5s).eof) return testing::AssertionFailure() << "no EOF after Goodbye";
  c.close();
  return testing::AssertionSuccess();
}

// utime + stime of `pid` in clock ticks, or -1.
long cpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = all.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

// ---------------------------------------------------------------- pool modes

TEST(PoolModes, DynamicGrowsUnderLoadAndShrinksWhenIdle) {
  PreforkdProcess p({"--pool", "dynamic", "--workers", "2", "--min-spare", "1", "--max-spare",
                     "2", "--max-children", "6"});
  ASSERT_TRUE(p.waitReady());
  ASSERT_TRUE(p.waitPoolFull(2));
  // Hold five sessions: the pool must grow to keep a spare idle child (up to the cap of 6).
  std::vector<Client> held(5);
  for (Client& c : held) ASSERT_TRUE(openSession(c, p.port()));
  ASSERT_TRUE(p.waitInfo(
      [](const auto& i) { return infoValue(i, "workers_busy") == 5 && infoValue(i, "workers_idle") >= 1; }, 10s,
      "5 busy and at least one spare"));
  EXPECT_LE(p.infoNumber("workers_total"), 6u);
  // A sixth and seventh client: the cap (6) stops growth; the seventh waits in the backlog.
  Client sixth;
  ASSERT_TRUE(openSession(sixth, p.port()));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "workers_busy") == 6; }, 5s, "6 busy"));
  EXPECT_EQ(p.infoNumber("workers_total"), 6u);
  // All quit: idle children above max spare (2) are retired, one per second.
  for (Client& c : held) ASSERT_TRUE(closeSession(c));
  ASSERT_TRUE(closeSession(sixth));
  ASSERT_TRUE(p.waitInfo(
      [](const auto& i) { return infoValue(i, "workers_total") == 2 && infoValue(i, "workers_idle") == 2; },
      15s, "shrunk back to max spare"));
  EXPECT_GE(countMatches(p.log(), std::regex("retiring idle worker \\d+ \\(dynamic pool\\)")), 4u);
  // And still serves.
  Banner b;
  EXPECT_TRUE(serveOne(p.port(), &b));
}

TEST(PoolModes, OndemandForksPerConnectionAndIdleChildrenExit) {
  PreforkdProcess p({"--pool", "ondemand", "--max-children", "3", "--ondemand-idle-timeout",
                     "500ms"});
  ASSERT_TRUE(p.waitReady());
  EXPECT_EQ(p.infoNumber("workers_total"), 0u) << "ondemand keeps no idle children";
  Client a, b;
  ASSERT_TRUE(openSession(a, p.port()));
  ASSERT_TRUE(openSession(b, p.port()));
  EXPECT_EQ(p.infoNumber("workers_busy"), 2u);
  ASSERT_TRUE(closeSession(a));
  ASSERT_TRUE(closeSession(b));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "workers_total") == 0; }, 5s,
                         "idle ondemand children exited"));
  EXPECT_TRUE(p.waitForLog(std::regex("retiring idle worker \\d+ \\(ondemand pool\\)"), 1s));
  Banner again;
  EXPECT_TRUE(serveOne(p.port(), &again)) << "a new connection forks a new child";
}

// ---------------------------------------------------------------- policies

TEST(Policies, MruReusesTheSameChildAndRoundRobinCycles) {
  {
    PreforkdProcess p({"--workers", "3", "--policy", "mru"});
    ASSERT_TRUE(p.waitReady());
    ASSERT_TRUE(p.waitPoolFull(3));
    std::set<pid_t> used;
    for (int i = 0; i < 5; ++i) {
      Banner b;
      ASSERT_TRUE(serveOne(p.port(), &b));
      ASSERT_TRUE(p.waitCompleted(static_cast<std::uint64_t>(i + 1)));
      used.insert(b.pid);
    }
    EXPECT_EQ(used.size(), 1u) << "mru hands every sequential client to the same child";
  }
  {
    PreforkdProcess p({"--workers", "3", "--policy", "round-robin"});
    ASSERT_TRUE(p.waitReady());
    ASSERT_TRUE(p.waitPoolFull(3));
    std::vector<pid_t> order;
    for (int i = 0; i < 6; ++i) {
      Banner b;
      ASSERT_TRUE(serveOne(p.port(), &b));
      ASSERT_TRUE(p.waitCompleted(static_cast<std::uint64_t>(i + 1)));
      order.push_back(b.pid);
    }
    EXPECT_EQ(std::set<pid_t>(order.begin(), order.begin() + 3).size(), 3u);
    EXPECT_EQ(std::vector<pid_t>(order.begin(), order.begin() + 3),
              std::vector<pid_t>(order.begin() + 3, order.end()))
        << "round-robin repeats the same cycle";
  }
}

// ---------------------------------------------------------------- recycling

TEST(Recycling, ChildrenRecycleAfterTheirLimitAndNoClientIsRefused) {
  PreforkdProcess p({"--workers", "2", "--max-connections-per-child", "5", "--recycle-jitter", "2"});
  ASSERT_TRUE(p.waitReady());
  std::set<pid_t> served_by;
  for (int i = 0; i < 30; ++i) {
    Banner b;
    ASSERT_TRUE(serveOne(p.port(), &b)) << "connection " << i;
    served_by.insert(b.pid);
  }
  ASSERT_TRUE(p.waitCompleted(30));
  // Each child serves 5..7 connections: 30 connections need at least 5 children.
  EXPECT_GE(served_by.size(), 5u);
  const std::size_t recycles = countMatches(p.log(), std::regex("served \\d+ connections: recycling it"));
  EXPECT_GE(recycles, 3u);
  const std::string log = p.log();
  static const std::regex served_re("served (\\d+) connections: recycling it");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), served_re);
       it != std::sregex_iterator(); ++it) {
    const int n = std::stoi((*it)[1]);
    EXPECT_GE(n, 5);
    EXPECT_LE(n, 7);
  }
  ASSERT_TRUE(p.waitPoolFull(2)) << "capacity restored after every recycle";
}

// ---------------------------------------------------------------- overload

TEST(Overload, QueueOverflowAndExpiryGetTheBusyLine) {
  PreforkdProcess p({"--workers", "1", "--queue", "1", "--queue-timeout", "700ms",
                     "--busy-message", "421 busy, try later"});
  ASSERT_TRUE(p.waitReady());
  Client holder;
  ASSERT_TRUE(openSession(holder, p.port()));
  // The second waits in the queue; the third overflows it at once.
  Client queued, overflow;
  ASSERT_TRUE(queued.connect(p.port()));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "conns_queued") == 1; }, 3s, "one queued"));
  ASSERT_TRUE(overflow.connect(p.port()));
  EXPECT_EQ(overflow.readLine(3s), "421 busy, try later");
  EXPECT_TRUE(overflow.readAll(2s).eof);
  // The queued one's deadline passes while the worker is still busy.
  const auto start = SteadyClock::now();
  EXPECT_EQ(queued.readLine(3s), "421 busy, try later");
  EXPECT_TRUE(queued.readAll(2s).eof);
  EXPECT_GE(SteadyClock::now() - start, 300ms);
  ASSERT_TRUE(closeSession(holder));
  // Once the worker is free again, new clients are served.
  Banner b;
  EXPECT_TRUE(serveOne(p.port(), &b));
  EXPECT_TRUE(p.waitForLog(std::regex("queue full: refused"), 1s));
  EXPECT_TRUE(p.waitForLog(std::regex("ms for a worker: refused"), 1s));
}

TEST(Overload, QueuedClientIsServedWhenAWorkerFrees) {
  PreforkdProcess p({"--workers", "1", "--queue", "4", "--queue-timeout", "10s"});
  ASSERT_TRUE(p.waitReady());
  Client holder, waiting;
  ASSERT_TRUE(openSession(holder, p.port()));
  ASSERT_TRUE(waiting.connect(p.port()));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "conns_queued") == 1; }, 3s, "queued"));
  EXPECT_FALSE(waiting.readable(200ms)) << "nothing is said to a queued client";
  ASSERT_TRUE(closeSession(holder));
  const auto banner = waiting.readLine(3s);
  ASSERT_TRUE(banner && parseBanner(*banner)) << "queued client served after the worker freed";
  EXPECT_TRUE(closeSession(waiting));
}

TEST(Overload, GracefulShutdownServesTheQueueFirst) {
  PreforkdProcess p({"--workers", "1", "--queue", "4", "--queue-timeout", "10s",
                     "--shutdown-timeout", "10s"});
  ASSERT_TRUE(p.waitReady());
  Client holder;
  ASSERT_TRUE(openSession(holder, p.port()));
  std::vector<Client> waiting(2);
  for (Client& c : waiting) ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "conns_queued") == 2; }, 3s, "2 queued"));
  p.signal(SIGTERM);
  ASSERT_TRUE(p.waitForLog(std::regex("SIGTERM: shutting down"), 2s));
  ASSERT_TRUE(closeSession(holder));
  for (Client& c : waiting) {
    const auto banner = c.readLine(3s);
    ASSERT_TRUE(banner && parseBanner(*banner)) << "a queued client is served during the drain";
    ASSERT_TRUE(closeSession(c));
  }
  const ExitStatus st = p.waitExit(5s);
  EXPECT_TRUE(st.exitedWith(0)) << st.describe();
  EXPECT_TRUE(p.waitForLog(std::regex("stopped: 3 connections accepted, 3 served, 0 redispatched, 0 dropped"), 2s));
}

TEST(Overload, PerSourceCapRefusesOnlyThatAddress) {
  PreforkdProcess p({"--workers", "3", "--max-per-source", "1", "--per-source-message",
                     "421 one at a time"});
  ASSERT_TRUE(p.waitReady());
  Client first, second, other;
  ASSERT_TRUE(openSession(first, p.port(), nullptr, "127.0.0.1"));
  ASSERT_TRUE(second.connect(p.port(), "127.0.0.1"));
  EXPECT_EQ(second.readLine(3s), "421 one at a time");
  EXPECT_TRUE(second.readAll(2s).eof);
  // Another address is not affected (bind 127.0.0.2 as the source).
  {
    preforkd::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(fd.valid());
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000002);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), sizeof src), 0)
        << std::strerror(errno);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_addr.s_addr = htonl(0x7f000001);
    dst.sin_port = htons(static_cast<std::uint16_t>(p.port()));
    ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst), 0);
    std::string got;
    char buf[256];
    while (got.find("\r\n") == std::string::npos) {
      pollfd pfd{fd.get(), POLLIN, 0};
      ASSERT_EQ(::poll(&pfd, 1, 3000), 1) << "no banner for 127.0.0.2";
      const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
      ASSERT_GT(n, 0);
      got.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_TRUE(parseBanner(got.substr(0, got.find("\r\n")))) << "127.0.0.2 is served: " << got;
  }
  ASSERT_TRUE(closeSession(first));
  // Both sessions ended (the supervisor has their Available): the address's count went back
  // down, so it may connect again.
  ASSERT_TRUE(p.waitCompleted(2));
  Banner b;
  EXPECT_TRUE(serveOne(p.port(), &b));
  EXPECT_TRUE(p.waitForLog(std::regex("over the per-source cap of 1: refused"), 1s));
}

// ---------------------------------------------------------------- resizing by signal

TEST(Resizing, TtinAndTtouChangeTheStaticPool) {
  PreforkdProcess p({"--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  ASSERT_TRUE(p.waitPoolFull(2));
  p.signal(SIGTTIN);
  ASSERT_TRUE(p.waitPoolFull(3));
  // One at a time: signals of one kind sent together may be delivered once.
  p.signal(SIGTTOU);
  ASSERT_TRUE(p.waitPoolFull(2));
  p.signal(SIGTTOU);
  ASSERT_TRUE(p.waitPoolFull(1));
  p.signal(SIGTTOU);  // never below one
  EXPECT_TRUE(p.waitForLog(std::regex("SIGTTOU: 1 workers"), 2s));
  Banner b;
  EXPECT_TRUE(serveOne(p.port(), &b));
  EXPECT_EQ(p.infoNumber("workers_total"), 1u);
}

// ---------------------------------------------------------------- reload

TEST(Reload, NewGenerationTakesOverAndSessionsInProgressFinish) {
  PreforkdProcess p({"--workers", "2", "--reload-timeout", "10s"});
  ASSERT_TRUE(p.waitReady());
  Client old_session;
  Banner ob;
  ASSERT_TRUE(openSession(old_session, p.port(), &ob));
  std::size_t cursor = 0;
  p.signal(SIGHUP);
  ASSERT_TRUE(p.waitForLog(std::regex("reload: generation 2 is up"), 5s, &cursor));
  // The old session is untouched and still served by its (old) worker.
  ASSERT_TRUE(old_session.send("still here\r\n"));
  EXPECT_EQ(old_session.readLine(), "still here");
  // New clients go to the new generation only.
  for (int i = 0; i < 4; ++i) {
    Banner b;
    ASSERT_TRUE(serveOne(p.port(), &b));
    EXPECT_NE(b.pid, ob.pid);
  }
  EXPECT_TRUE(processExists(ob.pid));
  ASSERT_TRUE(closeSession(old_session));
  // Its worker, of generation 1, now exits.
  EXPECT_TRUE(eventually([&] { return !processExists(ob.pid) || parentPid(ob.pid) != p.pid(); }, 3s));
  ASSERT_TRUE(p.waitPoolFull(2));
}

TEST(Reload, TwentyReloadsUnderLoadRefuseNothing) {
  PreforkdProcess p({"--workers", "4", "--reload-timeout", "3s", "--kill-grace", "500ms"});
  ASSERT_TRUE(p.waitReady());
  LoadDriver load(p.port(), 4);
  load.start();
  std::size_t cursor = 0;
  for (int g = 2; g <= 21; ++g) {
    p.signal(SIGHUP);
    ASSERT_TRUE(p.waitForLog(std::regex("reload: generation " + std::to_string(g) + " is up"), 10s, &cursor))
        << "generation " << g;
  }
  // Keep the load on a little past the last reload.
  const std::uint64_t before = load.ok();
  ASSERT_TRUE(eventually([&] { return load.ok() >= before + 20; }, 10s));
  load.stop();
  EXPECT_EQ(load.refused(), 0u) << load.summary();
  EXPECT_EQ(load.cut(), 0u) << load.summary();
  EXPECT_EQ(load.failed(), 0u) << load.summary();
  EXPECT_GT(load.ok(), 100u) << load.summary();
  // Only generation 21 remains once the drains are over.
  ASSERT_TRUE(p.waitPoolFull(4, 10s));
  const std::string log = p.log();
  EXPECT_EQ(countMatches(log, std::regex("drain time limit")), 0u)
      << "no old child needed killing: every one finished in time";
  std::set<pid_t> alive;
  for (pid_t w : p.workerPids()) alive.insert(w);
  EXPECT_EQ(alive.size(), 4u);
  std::cout << "[reload] 20 reloads, " << load.summary() << "\n";
}

// ---------------------------------------------------------------- chaos

TEST(Chaos, RandomKillsLoseOnlyTheKilledSessions) {
  PreforkdProcess p({"--workers", "4", "--log-level", "info"});
  ASSERT_TRUE(p.waitReady());
  LoadDriver load(p.port(), 4);
  load.start();
  std::mt19937 rng(12345);
  int kills = 0;
  const auto end = SteadyClock::now() + 20s;
  while (SteadyClock::now() < end) {
    const auto pids = p.workerPids();
    if (!pids.empty()) {
      const pid_t victim = pids[rng() % pids.size()];
      if (::kill(victim, SIGKILL) == 0) ++kills;
    }
    std::this_thread::sleep_for(100ms);  // the scenario's pace, not synchronisation
  }
  load.stop();
  ASSERT_TRUE(p.waitPoolFull(4, 10s));
  const auto info = p.info();
  EXPECT_EQ(load.refused(), 0u) << load.summary();
  EXPECT_EQ(load.failed(), 0u) << load.summary();
  EXPECT_GT(load.ok(), 200u) << load.summary();
  // Every accepted client was served in full or cut by its worker's death, and the stats
  // agree with what the clients saw.
  // A worker killed between closing its client and saying Available counts as lost though
  // its client saw a complete session (a few microseconds of a ~100 us session, so a few
  // percent of the kills): allow that window, and nothing else.
  EXPECT_GE(infoValue(info, "conns_lost_in_service"), load.cut()) << load.summary();
  EXPECT_LE(infoValue(info, "conns_lost_in_service"), load.cut() + static_cast<std::uint64_t>(kills / 10))
      << load.summary();
  EXPECT_EQ(infoValue(info, "conns_accepted"), infoValue(info, "conns_completed") + infoValue(info, "conns_lost_in_service"))
      << load.summary();
  EXPECT_GE(kills, 150);
  std::cout << "[chaos] kills " << kills << ", " << load.summary() << ", accepted "
            << infoValue(info, "conns_accepted") << ", completed " << infoValue(info, "conns_completed")
            << ", lost in service " << infoValue(info, "conns_lost_in_service") << ", redispatched "
            << infoValue(info, "conns_redispatched") << "\n";
}

// ---------------------------------------------------------------- hot upgrade

TEST(HotUpgrade, NewBinaryTakesOverUnderLoad) {
  PreforkdProcess p({"--workers", "3", "--log-level", "info"});
  ASSERT_TRUE(p.waitReady());
  const pid_t old_pid = p.pid();
  LoadDriver load(p.port(), 3);
  load.start();
  const std::uint64_t warm = load.ok();
  ASSERT_TRUE(eventually([&] { return load.ok() >= warm + 20; }, 10s));
  std::size_t cursor = 0;
  p.signal(SIGUSR2);
  const auto started = p.waitForLog(std::regex("hot upgrade: started .* as pid (\\d+)"), 5s, &cursor);
  ASSERT_TRUE(started);
  const pid_t new_pid = std::stoi((*started)[1]);
  ASSERT_TRUE(p.waitForLog(std::regex("hot upgrade: took over from the previous supervisor"), 10s));
  const ExitStatus old_exit = p.waitExit(10s);
  EXPECT_TRUE(old_exit.exitedWith(0)) << old_exit.describe();
  const std::uint64_t after = load.ok();
  ASSERT_TRUE(eventually([&] { return load.ok() >= after + 20; }, 10s)) << "served by the new supervisor";
  load.stop();
  EXPECT_EQ(load.refused(), 0u) << load.summary();
  EXPECT_EQ(load.cut(), 0u) << load.summary();
  EXPECT_EQ(load.failed(), 0u) << load.summary();
  std::cout << "[upgrade] " << load.summary() << "\n";
  // The control socket now answers from the new supervisor.
  const auto info = p.info();
  EXPECT_EQ(infoValue(info, "pid"), static_cast<std::uint64_t>(new_pid));
  EXPECT_NE(new_pid, old_pid);
  // Stop the new supervisor (our child now: the test is a subreaper) and reap it.
  ASSERT_EQ(::kill(new_pid, SIGTERM), 0);
  int st = 0;
  ASSERT_TRUE(eventually([&] { return ::waitpid(new_pid, &st, WNOHANG) == new_pid; }, 10s));
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  p.reapOrphans();
}

TEST(HotUpgrade, AFailingNewBinaryLeavesTheOldOneServing) {
  // A bad worker command line makes the new supervisor's workers fail: it never becomes
  // ready, misses the upgrade deadline and is killed; the old one keeps serving.
  PreforkdProcess p({"--workers", "2", "--upgrade-timeout", "1s"});
  ASSERT_TRUE(p.waitReady());
  // Make the re-exec fail outright: the control socket's temporary path is a directory.
  ASSERT_EQ(::mkdir((p.controlPath() + ".upgrade").c_str(), 0700), 0);
  p.signal(SIGUSR2);
  EXPECT_TRUE(p.waitForLog(std::regex("hot upgrade failed: .*keeps serving"), 5s));
  Banner b;
  EXPECT_TRUE(serveOne(p.port(), &b));
  EXPECT_EQ(p.infoNumber("pid"), static_cast<std::uint64_t>(p.pid()));
  ::rmdir((p.controlPath() + ".upgrade").c_str());
}

// ---------------------------------------------------------------- fd exhaustion

TEST(Exhaustion, FdLimitPausesAcceptsWithoutSpinningAndRecovers) {
  // A queue makes the supervisor accept while every worker is busy, so it runs out of fds.
  PreforkdProcess p({"--workers", "2", "--log-level", "info", "--queue", "100",
                     "--queue-timeout", "60s"});
  ASSERT_TRUE(p.waitReady());
  std::vector<Client> held(2);
  for (Client& c : held) ASSERT_TRUE(openSession(c, p.port()));
  // Lower the supervisor's limit to just above what it holds now; then flood it.
  const std::size_t open_now = fdTargets(p.pid()).size();
  rlimit original{};
  ASSERT_EQ(::prlimit(p.pid(), RLIMIT_NOFILE, nullptr, &original), 0) << std::strerror(errno);
  rlimit low{open_now + 4, original.rlim_max};
  ASSERT_EQ(::prlimit(p.pid(), RLIMIT_NOFILE, &low, nullptr), 0) << std::strerror(errno);
  std::vector<Client> flood(40);
  for (Client& c : flood) ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(p.waitForLog(std::regex("accept: Too many open files; pausing accepts"), 5s));
  // A control client cannot be accepted either (no fd for it); that must not spin either.
  Client control;
  ASSERT_TRUE(control.connectUnix(p.controlPath()));
  const long t0 = cpuTicks(p.pid());
  std::this_thread::sleep_for(1s);  // measuring CPU over a fixed window
  const long used = cpuTicks(p.pid()) - t0;
  EXPECT_LT(used, sysconf(_SC_CLK_TCK) / 5) << "supervisor spun: " << used << " ticks in 1 s";
  const std::size_t logged = countMatches(p.log(), std::regex("pausing accepts"));
  EXPECT_LE(logged, 3u) << "logged at most about once a second";
  // Free fds: restore the limit; the flood is served.
  ASSERT_EQ(::prlimit(p.pid(), RLIMIT_NOFILE, &original, nullptr), 0) << std::strerror(errno);
  EXPECT_TRUE(control.send("show info\n"));
  EXPECT_TRUE(control.readUntil("\n\n", 3s)) << "the waiting control client is answered";
  for (Client& c : held) ASSERT_TRUE(closeSession(c));
  for (Client& c : flood) {
    const auto line = c.readLine(10s);
    ASSERT_TRUE(line && parseBanner(*line)) << "flood client not served after recovery";
    ASSERT_TRUE(closeSession(c));
  }
}

}  // namespace
}  // namespace e2e
