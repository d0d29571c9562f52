// End-to-end: the echo service as a client sees it, and how the supervisor hands clients out.
#include <sys/socket.h>
#include <poll.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "harness.h"

namespace e2e {
namespace {

using namespace std::string_literals;

constexpr std::string_view kHelpText =
    "commands:\r\n"
    "  help         this list\r\n"
    "  quit, exit   close the connection (Ctrl-D at the start of a line does too)\r\n"
    "anything else is echoed back.\r\n";

// IAC IP, IAC DO TIMING-MARK: what telnet sends for Ctrl-C.
const std::string kCtrlC = "\xff\xf4\xff\xfd\x06"s;
// IAC WONT TIMING-MARK: the answer that lets telnet show our output again.
const std::string kWontTimingMark = "\xff\xfc\x06"s;

bool contains(const std::vector<pid_t>& v, pid_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Sends `command`, expects Goodbye. and then a clean EOF.
testing::AssertionResult quitWith(Client& c, const std::string& command) {
  if (auto r = c.send(command); !r) return r;
  const auto bye = c.readLine(2s);
  if (!bye || *bye != "Goodbye.") {
    return testing::AssertionFailure() << "after '" << command << "' expected 'Goodbye.', got '"
                                       << bye.value_or("<nothing>: " + c.pending()) << "'";
  }
  const auto rest = c.readAll(2s);
  if (!rest.eof || !rest.data.empty()) {
    return testing::AssertionFailure() << "after Goodbye. expected EOF: eof=" << rest.eof
                                       << " error=" << rest.error << " timed_out=" << rest.timed_out
                                       << " extra='" << rest.data << "'";
  }
  return testing::AssertionSuccess();
}

// 1. Banner, echo with every line ending, help, Ctrl-C, and quit/exit in any case.
TEST(EchoService, BannerEchoHelpCtrlCAndQuit) {
  PreforkdProcess p({"--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  const std::vector<pid_t> worker_pids = p.workerPids();
  ASSERT_EQ(worker_pids.size(), 2u);

  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  Banner b;
  ASSERT_TRUE(readBanner(c, &b));
  EXPECT_NE(b.pid, p.pid()) << "the supervisor must not serve clients itself";
  EXPECT_TRUE(contains(worker_pids, b.pid)) << "banner pid " << b.pid << " is not a worker";
  EXPECT_EQ(parentPid(b.pid), p.pid());
  EXPECT_EQ(b.conn, 1u);

  ASSERT_TRUE(c.send("hello\r\n"));
  EXPECT_EQ(c.readLine(), "hello");
  ASSERT_TRUE(c.send("lf only\n"));  // nc style
  EXPECT_EQ(c.readLine(), "lf only");
  ASSERT_TRUE(c.send("cr nul\r\0"s));  // telnet character mode
  EXPECT_EQ(c.readLine(), "cr nul");
  ASSERT_TRUE(c.send("next\r\n"));  // the NUL above was part of the terminator, not data
  EXPECT_EQ(c.readLine(), "next");
  ASSERT_TRUE(c.send("a\r\nb\nc\r\0d\r\n"s));  // several lines in one segment
  EXPECT_EQ(c.readLine(), "a");
  EXPECT_EQ(c.readLine(), "b");
  EXPECT_EQ(c.readLine(), "c");
  EXPECT_EQ(c.readLine(), "d");
  ASSERT_TRUE(c.send("  spaces kept \r\n"));
  EXPECT_EQ(c.readLine(), "  spaces kept ");

  ASSERT_TRUE(c.send("help\r\n"));
  EXPECT_EQ(c.readUntil("anything else is echoed back.\r\n"), std::string(kHelpText));
  ASSERT_TRUE(c.send("HeLp \r\n"));  // commands are case-insensitive and trimmed
  EXPECT_EQ(c.readUntil("anything else is echoed back.\r\n"), std::string(kHelpText));

  // Ctrl-C as telnet sends it: answered with WONT TIMING-MARK, and the session goes on.
  ASSERT_TRUE(c.send(kCtrlC));
  EXPECT_EQ(c.readExactly(3), kWontTimingMark);
  ASSERT_TRUE(c.send("still here\r\n"));
  EXPECT_EQ(c.readLine(), "still here");
  // Ctrl-C in the middle of a line throws the partial line away.
  ASSERT_TRUE(c.send("discard me" + kCtrlC + "kept\r\n"));
  EXPECT_EQ(c.readExactly(3), kWontTimingMark);
  EXPECT_EQ(c.readLine(), "kept");
  EXPECT_TRUE(c.pending().empty()) << "unexpected bytes: '" << c.pending() << "'";

  ASSERT_TRUE(quitWith(c, "QUIT\r\n"));

  for (const std::string& command :
       {"Exit\r\n"s, "eXiT\n"s, "  QuIt\t\r\n"s, "quit\r\0"s, "\x04"s /* Ctrl-D */}) {
    SCOPED_TRACE("command '" + command + "'");
    Client d;
    ASSERT_TRUE(d.connect(p.port()));
    Banner db;
    ASSERT_TRUE(readBanner(d, &db));
    EXPECT_TRUE(contains(worker_pids, db.pid));
    EXPECT_TRUE(quitWith(d, command));
  }
  EXPECT_TRUE(p.waitInfo([](const auto& i) { return i.at("conns_completed") == "6"; }, 5s,
                         "conns_completed == 6"));
}

// 2. More clients than workers: the extra clients wait (in the listen backlog), nobody is lost,
// and they are served in arrival order as workers free up.
TEST(Dispatch, MoreClientsThanWorkersAreServedInTurn) {
  constexpr std::size_t kWorkers = 3, kClients = 9;
  PreforkdProcess p({"--workers", std::to_string(kWorkers)});
  ASSERT_TRUE(p.waitReady());

  std::vector<Client> clients(kClients);
  for (Client& c : clients) ASSERT_TRUE(c.connect(p.port()));
  std::set<std::uint64_t> conn_ids;
  std::set<pid_t> serving;
  for (std::size_t i = 0; i < kWorkers; ++i) {
    Banner b;
    ASSERT_TRUE(readBanner(clients[i], &b)) << "client " << i;
    conn_ids.insert(b.conn);
    serving.insert(b.pid);
  }
  EXPECT_EQ(serving.size(), kWorkers) << "each of the first clients has its own worker";
  // The rest wait: no banner while every worker is busy.
  EXPECT_FALSE(clients[kWorkers].readable(300ms)) << "client got data with all workers busy";
  for (std::size_t i = kWorkers + 1; i < kClients; ++i) {
    EXPECT_FALSE(clients[i].readable(0ms)) << "client " << i << " got data with all workers busy";
  }
  {
    auto info = p.info();
    EXPECT_EQ(info["workers_busy"], std::to_string(kWorkers));
    EXPECT_EQ(info["conns_accepted"], std::to_string(kWorkers))
        << "the supervisor accepts only while a worker is idle";
  }

  // Each quit lets the next waiting client in (FIFO: the listen queue is in arrival order).
  for (std::size_t k = kWorkers; k < kClients; ++k) {
    ASSERT_TRUE(clients[k - kWorkers].send("bye-" + std::to_string(k) + "\r\n"));
    EXPECT_EQ(clients[k - kWorkers].readLine(), "bye-" + std::to_string(k));
    ASSERT_TRUE(quitWith(clients[k - kWorkers], "quit\r\n"));
    Banner b;
    ASSERT_TRUE(readBanner(clients[k], &b)) << "client " << k << " was not served";
    EXPECT_TRUE(conn_ids.insert(b.conn).second) << "connection id " << b.conn << " reused";
    EXPECT_TRUE(serving.count(b.pid)) << "served by an unknown worker " << b.pid;
  }
  for (std::size_t k = kClients - kWorkers; k < kClients; ++k) {
    ASSERT_TRUE(quitWith(clients[k], "quit\r\n"));
  }
  EXPECT_EQ(conn_ids.size(), kClients);
  EXPECT_TRUE(p.waitInfo(
      [](const auto& i) {
        return i.at("conns_completed") == "9" && i.at("conns_accepted") == "9" &&
               i.at("conns_dropped") == "0" && i.at("conns_redispatched") == "0" &&
               i.at("workers_idle") == "3";
      },
      5s, "9 connections completed"));
}

// 3. Sequential connections rotate over the pool (LRU): 4 workers x 10 each.
TEST(Dispatch, SequentialConnectionsRotateOverAllWorkers) {
  constexpr int kWorkers = 4, kConnections = 40;
  PreforkdProcess p({"--workers", std::to_string(kWorkers)});
  ASSERT_TRUE(p.waitReady());
  const std::vector<pid_t> worker_pids = p.workerPids();
  ASSERT_EQ(worker_pids.size(), static_cast<std::size_t>(kWorkers));

  std::map<pid_t, int> served;
  for (int i = 0; i < kConnections; ++i) {
    Banner b;
    ASSERT_TRUE(serveOne(p.port(), &b)) << "connection " << i;
    // The client sees EOF before the worker reports Available; until the supervisor has that
    // report the worker is not idle and, rightly, gets no client. Wait for it so that the
    // rotation below is exact rather than timing-dependent.
    ASSERT_TRUE(p.waitCompleted(static_cast<std::uint64_t>(i + 1)));
    EXPECT_NE(b.pid, p.pid());
    EXPECT_TRUE(contains(worker_pids, b.pid)) << "banner pid " << b.pid << " is not a worker";
    EXPECT_EQ(b.conn, static_cast<std::uint64_t>(i + 1));
    ++served[b.pid];
  }
  EXPECT_EQ(served.size(), static_cast<std::size_t>(kWorkers));
  for (const auto& [pid, n] : served) EXPECT_EQ(n, kConnections / kWorkers) << "worker " << pid;

  ASSERT_TRUE(p.waitCompleted(kConnections));
  const auto rows = p.workers();
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(kWorkers));
  for (const WorkerRow& w : rows) {
    EXPECT_EQ(w.served, static_cast<std::uint64_t>(served[w.pid]))
        << "show workers disagrees with the banners for pid " << w.pid;
    EXPECT_EQ(w.state, "idle");
  }
}

// 8. --no-banner is RFC 862 echo: every byte back, unchanged, nothing else.
TEST(EchoService, NoBannerIsByteExactEcho) {
  PreforkdProcess p({"--workers", "1", "--no-banner"});
  ASSERT_TRUE(p.waitReady());

  std::mt19937 rng(862);
  std::string payload(64 * 1024, '\0');
  for (char& ch : payload) ch = static_cast<char>(rng() & 0xff);
  // Make sure the bytes a line or telnet layer would touch are there, in awkward places.
  const std::string special = "\xff\xff\xf4\xff\xfd\x06\r\n\0\r\0\x03\x04\x08\x7f\n\r"s;
  for (std::size_t at : {std::size_t{0}, std::size_t{4095}, std::size_t{30000},
                         payload.size() - special.size()}) {
    payload.replace(at, special.size(), special);
  }

  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  // No banner: nothing arrives before we send.
  EXPECT_FALSE(c.readable(200ms)) << "unexpected output: '" << c.pending() << "'";

  // Send and receive at the same time so neither side's buffers can deadlock us.
  std::string received;
  std::size_t sent = 0;
  const auto deadline = SteadyClock::now() + 10s;
  while (received.size() < payload.size() && SteadyClock::now() < deadline) {
    pollfd pfd{c.fd(), static_cast<short>(POLLIN | (sent < payload.size() ? POLLOUT : 0)), 0};
    ASSERT_GE(::poll(&pfd, 1, 1000), 0);
    if ((pfd.revents & POLLOUT) && sent < payload.size()) {
      const ssize_t n = ::send(c.fd(), payload.data() + sent,
                               std::min<std::size_t>(4096, payload.size() - sent),
                               MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      const ssize_t n = ::recv(c.fd(), buf, sizeof buf, MSG_DONTWAIT);
      ASSERT_NE(n, 0) << "EOF after " << received.size() << " bytes";
      if (n > 0) received.append(buf, static_cast<std::size_t>(n));
    }
  }
  ASSERT_EQ(sent, payload.size());
  ASSERT_EQ(received.size(), payload.size());
  EXPECT_TRUE(received == payload) << "echoed bytes differ, first at offset "
                                   << (std::mismatch(received.begin(), received.end(),
                                                     payload.begin()).first - received.begin());
  // Half-close: the worker sees EOF, closes, and nothing else comes back.
  c.shutdownWrite();
  const auto rest = c.readAll(2s);
  EXPECT_TRUE(rest.eof) << "error=" << rest.error << " timed_out=" << rest.timed_out;
  EXPECT_TRUE(rest.data.empty()) << rest.data.size() << " extra bytes";
  EXPECT_TRUE(p.waitInfo([](const auto& i) { return i.at("conns_completed") == "1"; }, 5s,
                         "conns_completed == 1"));
}

// --max-line: an over-long line gets an error and the connection is closed; the worker lives
// on and serves the next client.
TEST(EchoService, OverlongLineIsRefusedAndTheWorkerGoesOn) {
  PreforkdProcess p({"--workers", "1", "--max-line", "16"});
  ASSERT_TRUE(p.waitReady());
  Client c;
  Banner b;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(readBanner(c, &b));
  ASSERT_TRUE(c.send("exactly 16 bytes\r\n"));
  EXPECT_EQ(c.readLine(), "exactly 16 bytes");
  // One small segment: the worker reads all of it, so it closes with nothing unread (a clean
  // FIN; see Shutdown.UnreadClientInputAtStopStillGetsACleanClose for the other case).
  ASSERT_TRUE(c.send("seventeen bytes!!\r\n"));
  EXPECT_EQ(c.readLine(), "error: line longer than 16 bytes: closing the connection.");
  const auto rest = c.readAll(2s);
  EXPECT_TRUE(rest.eof) << "error=" << rest.error << " timed_out=" << rest.timed_out;
  EXPECT_TRUE(rest.data.empty()) << rest.data;

  Banner next;
  ASSERT_TRUE(serveOne(p.port(), &next));
  EXPECT_EQ(next.pid, b.pid) << "the same (only) worker serves the next client";
  EXPECT_EQ(p.infoNumber("children_spawned"), 1u);
}

// --idle-timeout: a silent client is told why and disconnected; the worker is free again.
TEST(EchoService, IdleClientIsDisconnected) {
  PreforkdProcess p({"--workers", "1", "--idle-timeout", "1s"});
  ASSERT_TRUE(p.waitReady());
  Client c;
  Banner b;
  ASSERT_TRUE(c.connect(p.port()));
  const auto t0 = SteadyClock::now();
  ASSERT_TRUE(readBanner(c, &b));
  EXPECT_EQ(c.readLine(3s), "idle for 1 s: closing the connection.");
  const auto elapsed = SteadyClock::now() - t0;
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LE(elapsed, 2500ms);
  const auto rest = c.readAll(2s);
  EXPECT_TRUE(rest.eof) << "error=" << rest.error << " timed_out=" << rest.timed_out;
  EXPECT_TRUE(p.waitInfo([](const auto& i) { return i.at("workers_idle") == "1"; }, 5s,
                         "worker idle again"));
}

}  // namespace
}  // namespace e2e
