// End-to-end: the session time limit (--max-session). A client that keeps sending is cut off at
// the limit (line services say why, binary services just close), the worker logs it and is
// idle again at once (not killed), and a client under the limit is unaffected.
#include <cerrno>
#include <regex>

#include "harness.h"

#ifndef PREFORKD_WORKER_BINARY
#error "PREFORKD_WORKER_BINARY must name the preforkd-worker binary"
#endif

namespace e2e {
namespace {

constexpr Ms kLimit = 1s;
// How late the cut-off may come on a loaded machine. It is far below the idle timeout the
// harness sets (30 s), so only the session limit can end these sessions.
constexpr Ms kSlack = 1500ms;
// The client's think time between requests, as a person typing fast or a chatty program.
constexpr Ms kThinkTime = 100ms;

const std::regex kLimitLog(
    R"(connection (\d+) from 127\.0\.0\.1:\d+: session time limit \(1s\) reached)");

// The worker that served the cut-off client is idle again, still the same process, and has
// served exactly `served` connections; `show info` agrees.
void expectWorkerIdleAgain(PreforkdProcess& p, pid_t worker, std::uint64_t completed,
                           std::uint64_t served) {
  ASSERT_TRUE(p.waitCompleted(completed, 5s));
  ASSERT_TRUE(p.waitPoolFull(1, 5s));
  const auto rows = p.workers();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].pid, worker) << "the worker ended the session itself; nobody killed it";
  EXPECT_EQ(rows[0].state, "idle");
  EXPECT_EQ(rows[0].served, served);
  auto info = p.info();
  EXPECT_EQ(info["workers_busy"], "0");
  EXPECT_EQ(info["children_exited"], "0");
  EXPECT_EQ(info["conns_lost_in_service"], "0");
}

TEST(SessionLimit, ChattyLineClientIsToldAndClosedAtTheLimit) {
  PreforkdProcess p({"--workers", "1", "--max-session", "1s"});
  ASSERT_TRUE(p.waitReady());
  const pid_t worker = p.workerPids().at(0);

  Client c;
  const auto t0 = SteadyClock::now();  // the session starts after this, at the hand-off
  ASSERT_TRUE(c.connect(p.port()));
  const auto banner_line = c.readLine(3s);
  ASSERT_TRUE(banner_line);
  const auto banner = parseBanner(*banner_line);
  ASSERT_TRUE(banner) << *banner_line;
  EXPECT_EQ(banner->pid, worker);

  std::optional<std::string> cut;  // the first line that is not an echo
  int round_trips = 0;
  while (!cut && round_trips < 100) {  // 100 x 100 ms: far past the limit
    // The server may close between two requests; then the line is already on its way.
    if (!c.send("tick\r\n")) {
      cut = c.readLine(3s);
      break;
    }
    const auto line = c.readLine(3s);
    ASSERT_TRUE(line) << "no reply; pending '" << c.pending() << "'";
    if (*line != "tick") {
      cut = line;
      break;
    }
    ++round_trips;
    if (c.readable(kThinkTime)) cut = c.readLine(3s);  // unasked-for output: the cut-off
  }
  const auto took = SteadyClock::now() - t0;
  EXPECT_EQ(cut, "session time limit (1 s) reached: closing the connection.");
  const Client::AllResult rest = c.readAll(3s);
  EXPECT_TRUE(rest.eof) << "error " << rest.error << " timed_out " << rest.timed_out;
  EXPECT_EQ(rest.data, "");
  EXPECT_GE(took, kLimit);
  EXPECT_LT(took, kLimit + kSlack);
  EXPECT_GE(round_trips, 5) << "the client was busy the whole time";

  const auto logged = p.waitForLog(kLimitLog, 3s);
  ASSERT_TRUE(logged) << p.log();
  EXPECT_EQ((*logged)[1], std::to_string(banner->conn));
  expectWorkerIdleAgain(p, worker, 1, 1);

  // The worker serves the next client as usual.
  Banner next;
  ASSERT_TRUE(serveOne(p.port(), &next));
  EXPECT_EQ(next.pid, worker);
  EXPECT_TRUE(p.waitCompleted(2));
}

TEST(SessionLimit, ClientUnderTheLimitIsUnaffected) {
  PreforkdProcess p({"--workers", "1", "--max-session", "1s"});
  ASSERT_TRUE(p.waitReady());
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(c.readLine(3s));
  for (int i = 0; i < 5; ++i) {  // about half of the limit, busy all the time
    ASSERT_TRUE(c.send("tick\r\n"));
    EXPECT_EQ(c.readLine(), "tick");
    EXPECT_FALSE(c.readable(kThinkTime)) << "unexpected '" << c.pending() << "'";
  }
  ASSERT_TRUE(c.send("quit\r\n"));
  EXPECT_EQ(c.readLine(), "Goodbye.");
  EXPECT_TRUE(c.readAll().eof);
  ASSERT_TRUE(p.waitCompleted(1));
  EXPECT_EQ(p.log().find("session time limit"), std::string::npos) << p.log();
}

// 4-byte little-endian length + body: the rpc service's framing.
std::string rpcFrame(const std::string& body) {
  std::string f(4, '\0');
  for (int i = 0; i < 4; ++i) f[i] = static_cast<char>((body.size() >> (8 * i)) & 0xff);
  return f + body;
}

TEST(SessionLimit, BinaryServiceJustCloses) {
  PreforkdProcess p({"--workers", "1", "--service", "rpc", "--max-session", "1s"});
  ASSERT_TRUE(p.waitReady());
  const pid_t worker = p.workerPids().at(0);
  Client c;
  const auto t0 = SteadyClock::now();
  ASSERT_TRUE(c.connect(p.port()));
  const std::string ping = rpcFrame(R"({"in":"ping"})");
  const std::string pong = rpcFrame(R"({"out":"pong","result":null})");
  int round_trips = 0;
  bool cut = false;
  for (; round_trips < 100 && !cut; ++round_trips) {
    if (!c.send(ping)) break;
    const auto got = c.readExactly(pong.size(), 3s);
    if (!got) break;  // EOF (or nothing): the cut-off came before this reply
    ASSERT_EQ(*got, pong);
    cut = c.readable(kThinkTime);
  }
  const Client::AllResult rest = c.readAll(3s);
  const auto took = SteadyClock::now() - t0;
  EXPECT_TRUE(rest.eof || rest.error == ECONNRESET)
      << "error " << rest.error << " timed_out " << rest.timed_out;
  EXPECT_EQ(rest.data, "") << "a binary service closes without a word";
  EXPECT_EQ(c.pending(), "");
  EXPECT_GE(took, kLimit);
  EXPECT_LT(took, kLimit + kSlack);
  EXPECT_GE(round_trips, 5);
  ASSERT_TRUE(p.waitForLog(kLimitLog, 3s)) << p.log();
  expectWorkerIdleAgain(p, worker, 1, 1);
}

// preforkd-worker takes the same flag: an exec'd worker enforces the limit itself.
TEST(SessionLimit, ExecdWorkerEnforcesItToo) {
  PreforkdProcess p({"--workers", "1", "--max-session", "1s", "--worker-exec",
                     PREFORKD_WORKER_BINARY, "--max-session", "1s", "--log-level", "debug"});
  ASSERT_TRUE(p.waitReady());
  const pid_t worker = p.workerPids().at(0);
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(c.readLine(3s));
  std::optional<std::string> last;
  for (int i = 0; i < 100; ++i) {
    if (!c.send("tick\r\n")) break;
    last = c.readLine(3s);
    if (last != "tick" || c.readable(kThinkTime)) break;
  }
  if (last == "tick") last = c.readLine(3s);
  EXPECT_EQ(last, "session time limit (1 s) reached: closing the connection.");
  EXPECT_TRUE(c.readAll(3s).eof);
  ASSERT_TRUE(p.waitForLog(kLimitLog, 3s)) << p.log();
  expectWorkerIdleAgain(p, worker, 1, 1);
}

}  // namespace
}  // namespace e2e
