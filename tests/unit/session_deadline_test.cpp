// The session time limit (--max-session): the deadline arithmetic table-driven, then each kind
// of service over a real socketpair with a client that never pauses long enough to go idle.
#include "worker/session_deadline.h"

#include <chrono>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "tests/unit/service_session.h"
#include "worker/bytes_service.h"
#include "worker/echo_service.h"
#include "worker/rpc_framing.h"
#include "worker/rpc_service.h"

namespace preforkd {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

using testing_support::LiveSession;
using Clock = SessionDeadline::Clock;

const Clock::time_point kStart = Clock::time_point{} + 1000s;

// --- SessionDeadline -------------------------------------------------------------------------

struct WaitCase {
  const char* name;
  milliseconds max_session;
  milliseconds idle;
  Clock::duration elapsed;  // since the connection was taken
  bool expired;
  InputWait input;     // meaningful only when not expired
  milliseconds write;  // write timeout at that instant
};

void PrintTo(const WaitCase& c, std::ostream* os) { *os << c.name; }

constexpr milliseconds kGrace = SessionDeadline::kSessionEndWriteGrace;

const WaitCase kWaitCases[] = {
    // No limit: the idle timeout alone, whatever the session's age.
    {"NoLimitFresh", 0ms, 300s, 0ms, false, {300s, WaitLimit::Idle}, 300s},
    {"NoLimitOld", 0ms, 300s, 1000h, false, {300s, WaitLimit::Idle}, 300s},
    // The idle timeout ends before the deadline: an idle client is still an idle client.
    {"IdleFirst", 10s, 2s, 1s, false, {2s, WaitLimit::Idle}, 2s},
    // The deadline comes first: the wait is cut at it, and a timeout then means the limit.
    {"SessionFirst", 10s, 300s, 1s, false, {9s, WaitLimit::Session}, 9s + kGrace},
    {"SessionFirstLate", 1s, 300s, 999ms, false, {1ms, WaitLimit::Session}, 1ms + kGrace},
    // A tie goes to the session limit (the one the client is told about).
    {"Tie", 3s, 2s, 1s, false, {2s, WaitLimit::Session}, 2s},
    // Partial milliseconds round up: a wait never ends before the deadline.
    {"RoundsUp", 1s, 300s, 998500us, false, {2ms, WaitLimit::Session}, 2ms + kGrace},
    // At and after the deadline: expired; writes keep only the grace.
    {"AtDeadline", 1s, 300s, 1s, true, {0ms, WaitLimit::Session}, kGrace},
    {"PastDeadline", 1s, 300s, 5s, true, {0ms, WaitLimit::Session}, kGrace},
    // The grace never lengthens a write beyond the idle timeout.
    {"GraceCappedByIdle", 1s, 100ms, 5s, true, {0ms, WaitLimit::Session}, 100ms},
};

class SessionDeadlineWaits : public testing::TestWithParam<WaitCase> {};

TEST_P(SessionDeadlineWaits, CutsEveryWaitAtTheDeadline) {
  const WaitCase& c = GetParam();
  const SessionDeadline d(kStart, c.max_session);
  const Clock::time_point now = kStart + c.elapsed;
  EXPECT_EQ(d.limited(), c.max_session.count() > 0);
  EXPECT_EQ(d.expired(now), c.expired);
  if (!c.expired) {
    EXPECT_EQ(d.inputWait(c.idle, now), c.input);
  }
  EXPECT_EQ(d.writeWait(c.idle, now), c.write);
}

INSTANTIATE_TEST_SUITE_P(Cases, SessionDeadlineWaits, testing::ValuesIn(kWaitCases),
                         [](const testing::TestParamInfo<WaitCase>& test) {
                           return test.param.name;
                         });

TEST(SessionDeadline, DefaultHasNoLimit) {
  const SessionDeadline d;
  EXPECT_FALSE(d.limited());
  EXPECT_FALSE(d.expired(Clock::time_point::max()));
  EXPECT_EQ(d.inputWait(5s, kStart), (InputWait{5s, WaitLimit::Idle}));
  EXPECT_EQ(d.writeWait(5s, kStart), 5s);
}

TEST(SessionDeadline, ClassifiesOnlyWriteFailuresPastTheDeadline) {
  const SessionDeadline d(kStart, 1s);
  const Clock::time_point before = kStart + 500ms, after = kStart + 1s;
  EXPECT_EQ(d.classify(SessionEnd::WriteFailed, before), SessionEnd::WriteFailed);
  EXPECT_EQ(d.classify(SessionEnd::WriteFailed, after), SessionEnd::SessionLimit);
  for (SessionEnd end : {SessionEnd::ClientQuit, SessionEnd::ClientClosed, SessionEnd::IdleTimeout,
                         SessionEnd::SessionLimit, SessionEnd::Stopped, SessionEnd::Error}) {
    SCOPED_TRACE(toString(end));
    EXPECT_EQ(d.classify(end, after), end);
    EXPECT_EQ(d.classify(end, before), end);
  }
  const SessionDeadline none;
  EXPECT_EQ(none.classify(SessionEnd::WriteFailed, Clock::time_point::max()),
            SessionEnd::WriteFailed);
}

TEST(SessionDeadline, EndHasAName) {
  EXPECT_STREQ(toString(SessionEnd::SessionLimit), "session-limit");
}

// --- live sessions ---------------------------------------------------------------------------

constexpr milliseconds kLimit = 300ms;
// How late a session may end after its limit on a loaded machine (the limit itself is exact).
constexpr milliseconds kSlack = 1500ms;
// The client's think time between requests: far below the idle timeout, so only the session
// limit can end these sessions.
constexpr milliseconds kThinkTime = 20ms;

WorkerSettings limitedSettings() {
  WorkerSettings s;
  s.idle_timeout = 10s;
  s.max_session = kLimit;
  return s;
}

// Runs request/reply round trips (`request`, expecting exactly `reply`) until the server
// answers something else; returns that something else plus everything up to EOF.
std::string chatUntilCutOff(LiveSession& s, const std::string& request, const std::string& reply) {
  for (int i = 0; i < 1000; ++i) {  // 1000 x 20 ms is far beyond any limit used here
    // The server may end the session at any instant, even between our requests.
    if (!s.trySend(request)) return s.recv();
    const std::string got = s.recv(reply.size());
    if (got != reply) return got + s.recv();
    if (s.readable(kThinkTime)) return s.recv();  // unasked-for output: the cut-off
  }
  ADD_FAILURE() << "the session was never cut off";
  return {};
}

TEST(SessionLimit, LineServiceSaysWhyAndCloses) {
  const auto t0 = steady_clock::now();
  LiveSession s(&runEchoService, limitedSettings());
  const std::string banner =
      "preforkd echo service, worker pid 4242, connection 99. Type 'help' for commands.\r\n";
  EXPECT_EQ(s.recv(banner.size()), banner);
  EXPECT_EQ(chatUntilCutOff(s, "again\r\n", "again\r\n"),
            "session time limit (300 ms) reached: closing the connection.\r\n");
  EXPECT_EQ(s.finish(), SessionEnd::SessionLimit);
  const auto took = steady_clock::now() - t0;
  EXPECT_GE(took, kLimit);
  EXPECT_LT(took, kLimit + kSlack);
}

TEST(SessionLimit, RawEchoClosesSilently) {
  WorkerSettings settings = limitedSettings();
  settings.banner = false;
  LiveSession s(&runEchoService, settings);
  EXPECT_EQ(chatUntilCutOff(s, "x", "x"), "");
  EXPECT_EQ(s.finish(), SessionEnd::SessionLimit);
}

TEST(SessionLimit, BytesServiceClosesSilently) {
  const auto t0 = steady_clock::now();
  LiveSession s(&runBytesService, limitedSettings());
  EXPECT_EQ(chatUntilCutOff(s, "4\n", "0123"), "");
  EXPECT_EQ(s.finish(), SessionEnd::SessionLimit);
  EXPECT_LT(steady_clock::now() - t0, kLimit + kSlack);
}

TEST(SessionLimit, RpcServiceClosesSilently) {
  const auto t0 = steady_clock::now();
  LiveSession s(&runRpcService, limitedSettings());
  EXPECT_EQ(chatUntilCutOff(s, encodeFrame(R"({"in":"ping"})"),
                            encodeFrame(R"({"out":"pong","result":null})")),
            "");
  EXPECT_EQ(s.finish(), SessionEnd::SessionLimit);
  EXPECT_LT(steady_clock::now() - t0, kLimit + kSlack);
}

// A reply to a client that does not read is cut at the deadline (plus the write grace), not
// at the idle timeout; the worker reports that as the session limit (SessionDeadline::classify).
TEST(SessionLimit, BytesReplyToANonReaderIsCutAtTheDeadline) {
  WorkerSettings settings = limitedSettings();
  settings.bytes_max = 1ull << 32;
  const auto t0 = steady_clock::now();
  LiveSession s(&runBytesService, settings);
  s.send("4294967296\n");  // never read: the socket buffer fills and the write waits
  EXPECT_EQ(s.finish(), SessionEnd::WriteFailed);
  const auto took = steady_clock::now() - t0;
  EXPECT_GE(took, kLimit);
  EXPECT_LT(took, kLimit + kGrace + kSlack) << "the idle timeout (10 s) bounded the write instead";
}

// Under the limit nothing changes: a quick client quits as usual.
TEST(SessionLimit, ClientUnderTheLimitIsUnaffected) {
  WorkerSettings settings = limitedSettings();
  settings.max_session = 10s;
  LiveSession s(&runEchoService, settings);
  const std::string banner =
      "preforkd echo service, worker pid 4242, connection 99. Type 'help' for commands.\r\n";
  EXPECT_EQ(s.recv(banner.size()), banner);
  s.send("hello\r\n");
  EXPECT_EQ(s.recv(7), "hello\r\n");
  s.send("quit\r\n");
  EXPECT_EQ(s.recv(), "Goodbye.\r\n");
  EXPECT_EQ(s.finish(), SessionEnd::ClientQuit);
}

}  // namespace
}  // namespace preforkd
