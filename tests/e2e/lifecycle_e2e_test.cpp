// End-to-end: worker deaths and shutdown. (A wedged worker at shutdown, a killed supervisor and
// the descriptor hygiene of the process tree are reliability scenarios: tests/reliability/.)
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "harness.h"

namespace e2e {
namespace {

bool contains(const std::vector<pid_t>& v, pid_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// 4a. An idle worker killed with SIGKILL is reaped and replaced; service goes on.
TEST(Supervision, KilledIdleWorkerIsReplaced) {
  PreforkdProcess p({"--workers", "3"});
  ASSERT_TRUE(p.waitReady());
  const std::vector<pid_t> before = p.workerPids();
  ASSERT_EQ(before.size(), 3u);
  const pid_t victim = before[1];
  ASSERT_EQ(::kill(victim, SIGKILL), 0);

  ASSERT_TRUE(p.waitInfo(
      [](const auto& i) {
        return i.at("workers_total") == "3" && i.at("workers_idle") == "3" &&
               i.at("children_spawned") == "4" && i.at("children_exited") == "1";
      },
      5s, "pool back to 3 idle workers after a respawn"));
  EXPECT_TRUE(eventually([&] { return !processExists(victim); }, 2s))
      << "killed worker " << victim << " was not reaped (state " << processState(victim) << ")";
  const std::vector<pid_t> after = p.workerPids();
  ASSERT_EQ(after.size(), 3u);
  EXPECT_FALSE(contains(after, victim));
  for (pid_t w : after) EXPECT_EQ(parentPid(w), p.pid()) << "worker " << w;

  std::set<pid_t> used;
  for (int i = 0; i < 6; ++i) {
    Banner b;
    ASSERT_TRUE(serveOne(p.port(), &b)) << "connection " << i << " after the respawn";
    ASSERT_TRUE(p.waitCompleted(static_cast<std::uint64_t>(i + 1)));  // exact LRU rotation
    EXPECT_TRUE(contains(after, b.pid)) << "served by " << b.pid << ", not a current worker";
    used.insert(b.pid);
  }
  EXPECT_EQ(used.size(), 3u) << "the new worker takes clients too";
}

// 4b. A busy worker killed with SIGKILL: its client sees EOF, other sessions go on, the pool
// is refilled and later clients are served.
TEST(Supervision, KilledBusyWorkerLosesOnlyItsClient) {
  PreforkdProcess p({"--workers", "3"});
  ASSERT_TRUE(p.waitReady());

  Client victim_client, other;
  Banner vb, ob;
  ASSERT_TRUE(victim_client.connect(p.port()));
  ASSERT_TRUE(readBanner(victim_client, &vb));
  ASSERT_TRUE(other.connect(p.port()));
  ASSERT_TRUE(readBanner(other, &ob));
  ASSERT_NE(vb.pid, ob.pid);
  ASSERT_TRUE(victim_client.send("before\r\n"));
  ASSERT_EQ(victim_client.readLine(), "before");

  ASSERT_EQ(::kill(vb.pid, SIGKILL), 0);
  const auto rest = victim_client.readAll(3s);
  EXPECT_TRUE(rest.eof) << "client of the killed worker: error=" << rest.error
                        << " timed_out=" << rest.timed_out;
  EXPECT_TRUE(rest.data.empty()) << "unexpected bytes '" << rest.data << "'";

  ASSERT_TRUE(p.waitInfo(
      [](const auto& i) {
        return i.at("workers_total") == "3" && i.at("workers_idle") == "2" &&
               i.at("workers_busy") == "1" && i.at("children_spawned") == "4" &&
               i.at("conns_lost_in_service") == "1";
      },
      5s, "pool refilled (2 idle + 1 busy) after the busy worker died"));
  EXPECT_TRUE(eventually([&] { return !processExists(vb.pid); }, 2s));

  // The other session was not disturbed.
  ASSERT_TRUE(other.send("still there\r\n"));
  EXPECT_EQ(other.readLine(), "still there");
  ASSERT_TRUE(other.send("quit\r\n"));
  EXPECT_EQ(other.readLine(), "Goodbye.");
  EXPECT_TRUE(other.readAll(2s).eof);

  ASSERT_TRUE(p.waitPoolFull(3));
  const std::vector<pid_t> now = p.workerPids();
  for (int i = 0; i < 6; ++i) {
    Banner b;
    ASSERT_TRUE(serveOne(p.port(), &b)) << "connection " << i << " after the respawn";
    EXPECT_NE(b.pid, vb.pid);
    EXPECT_TRUE(contains(now, b.pid));
  }
  EXPECT_TRUE(p.waitCompleted(7));  // `other` and the six
}

// 5. SIGTERM with two open sessions: both are told and closed, everything exits 0, quickly.
// 5. SIGQUIT (fast shutdown) with two open sessions: both are told and closed at once,
// everything exits 0.
TEST(Shutdown, SigquitClosesOpenSessionsAndExitsZero) {
  PreforkdProcess p({"--workers", "3", "--shutdown-timeout", "5s"});
  ASSERT_TRUE(p.waitReady());
  std::vector<pid_t> pids = p.workerPids();
  ASSERT_EQ(pids.size(), 3u);

  Client a, b;
  Banner ab, bb;
  ASSERT_TRUE(a.connect(p.port()));
  ASSERT_TRUE(readBanner(a, &ab));
  ASSERT_TRUE(b.connect(p.port()));
  ASSERT_TRUE(readBanner(b, &bb));
  ASSERT_TRUE(a.send("mid-session\r\n"));
  ASSERT_EQ(a.readLine(), "mid-session");
  ASSERT_TRUE(b.send("first\r\n"));
  ASSERT_EQ(b.readLine(), "first");

  const auto t0 = SteadyClock::now();
  p.signal(SIGQUIT);
  for (Client* c : {&a, &b}) {
    EXPECT_EQ(c->readLine(3s), "preforkd is shutting down. Goodbye.");
    const auto rest = c->readAll(3s);
    EXPECT_TRUE(rest.eof) << "error=" << rest.error << " timed_out=" << rest.timed_out;
    EXPECT_TRUE(rest.data.empty()) << "extra '" << rest.data << "'";
  }
  const ExitStatus st = p.waitExit(5s);
  const auto elapsed = SteadyClock::now() - t0;
  ASSERT_TRUE(st.exited) << "still running 5 s after SIGQUIT\n" << p.log();
  EXPECT_TRUE(st.exitedWith(0)) << st.describe();
  EXPECT_LT(elapsed, 4s) << "a fast shutdown ends sessions at once, not at the deadline";
  // (The reader thread may still be draining the pipe: wait for the line, do not just look.)
  EXPECT_TRUE(p.waitForLog(
      std::regex("stopped: 2 connections accepted, 2 served, 0 redispatched, 0 dropped"), 2s))
      << p.log();

  for (pid_t w : p.loggedWorkerPids()) {
    if (!contains(pids, w)) pids.push_back(w);
  }
  for (pid_t w : pids) {
    EXPECT_TRUE(goneFromTree(w, p.pid())) << "worker " << w << " survived (state "
                                          << processState(w) << ")";
  }
  EXPECT_TRUE(p.leftoverProcesses().empty()) << joinPids(p.leftoverProcesses());
  struct stat sb {};
  EXPECT_NE(::lstat(p.controlPath().c_str(), &sb), 0) << "control socket left behind";
  Client late;
  EXPECT_FALSE(late.connect(p.port())) << "port still accepting after exit";
}

// 5b. SIGTERM (graceful) with open sessions: the listener closes at once, but the sessions
// go on until their clients quit, and then the supervisor exits 0 without waiting for the
// deadline.
TEST(Shutdown, SigtermLetsOpenSessionsFinish) {
  PreforkdProcess p({"--workers", "3", "--shutdown-timeout", "20s"});
  ASSERT_TRUE(p.waitReady());
  Client a, b;
  Banner ab, bb;
  ASSERT_TRUE(a.connect(p.port()));
  ASSERT_TRUE(readBanner(a, &ab));
  ASSERT_TRUE(b.connect(p.port()));
  ASSERT_TRUE(readBanner(b, &bb));
  std::size_t cursor = 0;
  p.signal(SIGTERM);
  ASSERT_TRUE(p.waitForLog(std::regex("SIGTERM: shutting down"), 2s, &cursor));
  ASSERT_TRUE(p.waitForLog(std::regex(R"(debug: worker \d+ quitting: stopped)"), 2s, &cursor));
  Client late;
  EXPECT_FALSE(late.connect(p.port())) << "the listener must be closed at SIGTERM";
  for (Client* c : {&a, &b}) {
    ASSERT_TRUE(c->send("after the signal\r\n"));
    EXPECT_EQ(c->readLine(3s), "after the signal") << "the session goes on";
  }
  EXPECT_TRUE(p.running());
  const auto t0 = SteadyClock::now();
  for (Client* c : {&a, &b}) {
    ASSERT_TRUE(c->send("quit\r\n"));
    EXPECT_EQ(c->readLine(3s), "Goodbye.");
    EXPECT_TRUE(c->readAll(3s).eof);
  }
  const ExitStatus st = p.waitExit(5s);
  ASSERT_TRUE(st.exited) << p.log();
  EXPECT_TRUE(st.exitedWith(0)) << st.describe();
  EXPECT_LT(SteadyClock::now() - t0, 3s) << "exits once the last session ends";
  EXPECT_TRUE(p.waitForLog(
      std::regex("stopped: 2 connections accepted, 2 served, 0 redispatched, 0 dropped"), 2s));
  EXPECT_TRUE(p.leftoverProcesses().empty()) << joinPids(p.leftoverProcesses());
}

// A client that typed something the worker has not read yet when Stop arrives must still get
// the goodbye and a clean close (FIN), not a reset: closing a TCP socket with unread input
// sends RST (RFC 1122 4.2.2.13), which makes the client report "Connection reset by peer" and,
// on a real network, can destroy the goodbye still in flight.
TEST(Shutdown, UnreadClientInputAtStopStillGetsACleanClose) {
  PreforkdProcess p({"--workers", "2", "--shutdown-timeout", "5s"});
  ASSERT_TRUE(p.waitReady());
  Client c;
  Banner b;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(readBanner(c, &b));

  // Freeze the worker so that our input and the Stop command are both waiting when it wakes.
  ASSERT_EQ(::kill(b.pid, SIGSTOP), 0);
  ASSERT_TRUE(eventually([&] { return processState(b.pid) == 'T'; }, 2s));
  ASSERT_TRUE(c.send("typed just before the shutdown\r\n"));
  std::size_t cursor = 0;
  p.signal(SIGINT);  // fast: busy workers are told to stop at once
  // The idle worker's reply to Stop is logged after every Stop was sent.
  ASSERT_TRUE(p.waitForLog(std::regex(R"(debug: worker \d+ quitting: stopped)"), 3s, &cursor))
      << p.log();
  ASSERT_EQ(::kill(b.pid, SIGCONT), 0);

  const auto got = c.readAll(3s);
  EXPECT_NE(got.data.find("preforkd is shutting down. Goodbye.\r\n"), std::string::npos)
      << "got '" << got.data << "'";
  EXPECT_TRUE(got.eof && got.error == 0)
      << "expected a clean EOF; error=" << got.error << " (" << std::strerror(got.error)
      << ") timed_out=" << got.timed_out;
  const ExitStatus st = p.waitExit(5s);
  EXPECT_TRUE(st.exitedWith(0)) << st.describe();
}

// SIGINT (Ctrl-C in a foreground run) stops the service like SIGTERM.
TEST(Shutdown, SigintStopsLikeSigterm) {
  PreforkdProcess p({"--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  Client c;
  Banner b;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(readBanner(c, &b));
  // The worker waits for its client in recv() on the client alone; the Stop reaches it at once
  // through the wake signal (common/client_read_wake.h), not at the end of the one-second
  // wake period, which would be the answer without the signal.
  ASSERT_TRUE(eventually([&] { return processState(b.pid) == 'S'; }, 2s));
  const auto t0 = SteadyClock::now();
  p.signal(SIGINT);
  EXPECT_EQ(c.readLine(3s), "preforkd is shutting down. Goodbye.");
  EXPECT_LT(SteadyClock::now() - t0, 700ms);
  EXPECT_TRUE(c.readAll(3s).eof);
  const ExitStatus st = p.waitExit(5s);
  EXPECT_TRUE(st.exitedWith(0)) << st.describe() << "\n" << p.log();
  EXPECT_TRUE(p.leftoverProcesses().empty()) << joinPids(p.leftoverProcesses());
}

}  // namespace
}  // namespace e2e
