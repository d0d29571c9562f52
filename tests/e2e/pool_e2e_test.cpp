// End-to-end: the pool lifecycle. Pool modes, dispatch policies, recycling, the overload
// queue, the per-source cap, resizing by signal and reload generations, all against the real
// binary on loopback. (Chaos, fd exhaustion, reloads under load and hot upgrade are
// reliability scenarios: tests/reliability/.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "harness.h"

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
  // The supervisor's log reaches us through a pipe: the last recycle line may still be on its
  // way when the counters already say 30.
  const std::regex recycle_re("served \\d+ connections: recycling it");
  EXPECT_TRUE(eventually([&] { return countMatches(p.log(), recycle_re) >= 3; }))
      << countMatches(p.log(), recycle_re) << " recycles";
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

}  // namespace
}  // namespace e2e
