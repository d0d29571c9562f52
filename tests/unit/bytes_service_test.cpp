// The bytes service: the request parser and pattern filler table-driven, and the whole
// session (Stevens' web_child protocol) over a real socketpair.
#include "worker/bytes_service.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/service_session.h"

namespace preforkd {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

using testing_support::LiveSession;

WorkerSettings testSettings() {
  WorkerSettings s;
  s.idle_timeout = 3s;
  s.bytes_max = 1000;
  return s;
}

// The first `n` bytes of the documented pattern, built independently of fillBytesPattern.
std::string expectedReply(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += "0123456789abcdef"[i % 16];
  return out;
}

// --- parseBytesRequest -----------------------------------------------------------------------

constexpr std::uint64_t kMax64 = std::numeric_limits<std::uint64_t>::max();

struct ParseCase {
  const char* name;
  std::string line;
  std::uint64_t max;
  BytesRequest expected;
};

void PrintTo(const ParseCase& c, std::ostream* os) { *os << c.name; }

BytesRequest ok(std::uint64_t count) { return {.count = count}; }
BytesRequest err(BytesError e) { return {.error = e}; }

const ParseCase kParseCases[] = {
    {"One", "1", 1000, ok(1)},
    {"Typical", "4096", 10000, ok(4096)},
    {"SurroundingBlanks", " \t42 \t", 1000, ok(42)},
    {"LeadingZeros", "007", 1000, ok(7)},
    {"ExactlyMax", "1000", 1000, ok(1000)},
    {"Largest64Bit", "18446744073709551615", kMax64, ok(kMax64)},
    {"Empty", "", 1000, err(BytesError::Empty)},
    {"BlanksOnly", "  \t ", 1000, err(BytesError::Empty)},
    {"Letters", "abc", 1000, err(BytesError::NotANumber)},
    {"PlusSign", "+5", 1000, err(BytesError::NotANumber)},
    {"MinusAlone", "-", 1000, err(BytesError::NotANumber)},
    {"MinusLetter", "-x", 1000, err(BytesError::NotANumber)},
    {"Negative", "-5", 1000, err(BytesError::Negative)},
    {"NegativeZero", "-0", 1000, err(BytesError::Negative)},
    {"Zero", "0", 1000, err(BytesError::Zero)},
    {"ZeroPadded", "000", 1000, err(BytesError::Zero)},
    {"JunkAfter", "12abc", 1000, err(BytesError::TrailingJunk)},
    {"TwoNumbers", "1 2", 1000, err(BytesError::TrailingJunk)},
    {"Fraction", "1.5", 1000, err(BytesError::TrailingJunk)},
    {"Hex", "0x10", 1000, err(BytesError::TrailingJunk)},
    {"Exponent", "1e3", 1000, err(BytesError::TrailingJunk)},
    {"ControlByteAfter", std::string("5\0", 2), 1000, err(BytesError::TrailingJunk)},
    {"AboveMax", "1001", 1000, err(BytesError::TooLarge)},
    {"Above64Bit", "18446744073709551616", kMax64, err(BytesError::TooLarge)},
    {"HugeNumber", "99999999999999999999999999", 1000, err(BytesError::TooLarge)},
    {"HugeNumberWithJunk", "99999999999999999999999999x", 1000, err(BytesError::TrailingJunk)},
    {"MaxZeroRefusesAll", "1", 0, err(BytesError::TooLarge)},
};

class BytesParseTable : public testing::TestWithParam<ParseCase> {};

TEST_P(BytesParseTable, Parses) {
  const ParseCase& c = GetParam();
  EXPECT_EQ(parseBytesRequest(c.line, c.max), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Requests, BytesParseTable, testing::ValuesIn(kParseCases),
    [](const testing::TestParamInfo<ParseCase>& test) { return test.param.name; });

TEST(BytesErrorLine, EveryErrorIsOneErrLine) {
  for (BytesError e : {BytesError::Empty, BytesError::NotANumber, BytesError::Negative,
                       BytesError::Zero, BytesError::TrailingJunk, BytesError::TooLarge}) {
    const std::string text = bytesErrorLine(e, 1000);
    EXPECT_TRUE(text.starts_with("ERR ")) << text;
    EXPECT_TRUE(text.ends_with("\r\n")) << text;
    EXPECT_EQ(text.find('\n'), text.size() - 1) << text;
  }
  EXPECT_EQ(bytesErrorLine(BytesError::TooLarge, 1000),
            "ERR byte count above the limit of 1000\r\n");
}

// --- fillBytesPattern ------------------------------------------------------------------------

TEST(BytesPattern, StartsAtZero) {
  std::string buf(40, '?');
  fillBytesPattern(buf, 0);
  EXPECT_EQ(buf, "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(buf, expectedReply(40));
}

TEST(BytesPattern, Offsets) {
  std::string buf(5, '?');
  fillBytesPattern(buf, 14);
  EXPECT_EQ(buf, "ef012");
  fillBytesPattern(buf, 16 * 1000 + 3);
  EXPECT_EQ(buf, "34567");
  fillBytesPattern(std::span<char>(), 7);  // nothing to fill: must not touch anything
}

TEST(BytesPattern, PiecesJoinUpAtAnySplit) {
  const std::string whole = expectedReply(100);
  for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
    std::string a(cut, '?'), b(whole.size() - cut, '?');
    fillBytesPattern(a, 0);
    fillBytesPattern(b, cut);
    EXPECT_EQ(a + b, whole) << "cut at " << cut;
  }
}

TEST(BytesPattern, ChunkIsWholePatternPeriods) {
  // The session reuses one chunk buffer for every piece of a reply; that is only right if a
  // chunk is a whole number of pattern periods.
  EXPECT_EQ(kBytesChunk % kBytesPattern.size(), 0u);
  EXPECT_EQ(kBytesPattern, "0123456789abcdef");
}

// --- The whole session ---------------------------------------------------------------------

TEST(BytesSession, AnswersEachCountThenEndsOnClose) {
  LiveSession s(&runBytesService, testSettings());
  s.send("5\n");
  EXPECT_EQ(s.recv(5), "01234");
  s.send("20\r\n");
  EXPECT_EQ(s.recv(20), expectedReply(20));
  s.send("3\n4\n 1 \r\n");  // pipelined: answered in order
  EXPECT_EQ(s.recv(8), "0120123" "0");
  s.closeWrite();
  EXPECT_EQ(s.recv(), "");  // no greeting, no goodbye
  EXPECT_EQ(s.finish(), SessionEnd::ClientClosed);
}

TEST(BytesSession, CountSplitAcrossWrites) {
  LiveSession s(&runBytesService, testSettings());
  s.send("1");
  std::this_thread::sleep_for(20ms);
  s.send("0");
  std::this_thread::sleep_for(20ms);
  s.send("\r");
  std::this_thread::sleep_for(20ms);
  s.send("\n7\n");
  EXPECT_EQ(s.recv(17), expectedReply(10) + expectedReply(7));
  s.closeWrite();
  EXPECT_EQ(s.finish(), SessionEnd::ClientClosed);
}

TEST(BytesSession, LargeReplyIsExactAndChunked) {
  WorkerSettings settings = testSettings();
  settings.bytes_max = 16 * 1024 * 1024;
  LiveSession s(&runBytesService, settings);
  const std::size_t n = 3 * kBytesChunk + 12345;  // several chunks plus a partial one
  s.send(std::to_string(n) + "\n");
  const std::string got = s.recv(n);
  ASSERT_EQ(got.size(), n);
  EXPECT_TRUE(got == expectedReply(n)) << "pattern mismatch";
  s.send("16777216\n");  // exactly bytes_max
  EXPECT_EQ(s.recv(16777216).size(), 16777216u);
  s.closeWrite();
  EXPECT_EQ(s.recv(), "");
  EXPECT_EQ(s.finish(), SessionEnd::ClientClosed);
}

struct BadCase {
  const char* name;
  std::string input;
  std::string output;
  SessionEnd end;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

const BadCase kBadCases[] = {
    {"AboveMax", "1001\n", "ERR byte count above the limit of 1000\r\n", SessionEnd::ProtocolError},
    {"NotANumber", "GET / HTTP/1.0\r\n", "ERR not a decimal byte count\r\n",
     SessionEnd::ProtocolError},
    {"Zero", "0\n", "ERR byte count must be at least 1\r\n", SessionEnd::ProtocolError},
    {"Negative", "-1\n", "ERR negative byte count\r\n", SessionEnd::ProtocolError},
    {"Junk", "12x\n", "ERR junk after the byte count\r\n", SessionEnd::ProtocolError},
    {"EmptyLine", "\n", "ERR empty request: expected a decimal byte count\r\n",
     SessionEnd::ProtocolError},
    {"GoodThenBad", "3\nzz\n9\n", "012ERR not a decimal byte count\r\n", SessionEnd::ProtocolError},
    {"LineTooLong", std::string(40, '1'), "ERR request line longer than 32 bytes\r\n",
     SessionEnd::LineTooLong},
    {"CtrlDAtLineStart", "2\n\004", "01", SessionEnd::ClientQuit},
};

class BytesBadInput : public testing::TestWithParam<BadCase> {};

TEST_P(BytesBadInput, OneErrorLineThenClose) {
  const BadCase& c = GetParam();
  LiveSession s(&runBytesService, testSettings());
  s.send(c.input);  // the write side stays open: the server must close by itself
  EXPECT_EQ(s.recv(), c.output);
  EXPECT_EQ(s.finish(), c.end);
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, BytesBadInput, testing::ValuesIn(kBadCases),
    [](const testing::TestParamInfo<BadCase>& test) { return test.param.name; });

TEST(BytesSession, IdleTimeoutClosesSilently) {
  WorkerSettings settings = testSettings();
  settings.idle_timeout = 100ms;
  LiveSession s(&runBytesService, settings);
  s.send("4\n12");  // a partial request does not keep the connection alive
  EXPECT_EQ(s.recv(), "0123");
  EXPECT_EQ(s.finish(), SessionEnd::IdleTimeout);
}

TEST(BytesSession, StopsBetweenRequests) {
  LiveSession s(&runBytesService, testSettings());
  s.send("6\n");
  EXPECT_EQ(s.recv(6), "012345");
  s.pokeChannel();
  EXPECT_EQ(s.recv(), "");  // silent
  EXPECT_EQ(s.finish(), SessionEnd::Stopped);
  EXPECT_EQ(s.host().checks, 1);
}

}  // namespace
}  // namespace preforkd
