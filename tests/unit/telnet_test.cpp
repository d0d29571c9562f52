#include "worker/telnet.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace preforkd {
namespace {

// Builds a byte string from numbers, so no case depends on how "\x.." escapes in literals merge.
std::string b(std::initializer_list<int> bytes) {
  std::string s;
  for (int v : bytes) s.push_back(static_cast<char>(v));
  return s;
}

// Command bytes (RFC 854; EOR is RFC 885) and a few option numbers.
constexpr int kIac = 255, kDont = 254, kDo = 253, kWont = 252, kWill = 251, kSb = 250;
constexpr int kGa = 249, kEl = 248, kEc = 247, kAyt = 246, kAo = 245, kIp = 244, kBrk = 243;
constexpr int kDm = 242, kNop = 241, kSe = 240, kEor = 239;
constexpr int kEcho = 1, kSga = 3, kTimingMark = 6, kTtype = 24, kNaws = 31, kLinemode = 34;

const std::string kAytText(TelnetFilter::kAytAnswer);

struct Case {
  const char* name;
  std::string raw;
  std::string data;
  std::string reply;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

struct Output {
  std::string data;
  std::string reply;
};

// Feeds `raw` to a fresh filter in pieces that start at each of `cuts`.
Output run(std::string_view raw, const std::vector<std::size_t>& cuts = {}) {
  TelnetFilter filter;
  Output out;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    filter.feed(raw.substr(from, cut - from), out.data, out.reply);
    from = cut;
  }
  filter.feed(raw.substr(from), out.data, out.reply);
  return out;
}

const Case kCases[] = {
    // What Debian 12's telnet client sends.
    {"EnterInLineMode", "hello\r\n", "hello\r\n", ""},
    {"CtrlC", b({kIac, kIp, kIac, kDo, kTimingMark}), "\x03", b({kIac, kWont, kTimingMark})},
    {"CtrlDRaw", b({0x04}), b({0x04}), ""},
    {"CharacterModeEnter", b({'a', '\r', 0}), b({'a', '\r', 0}), ""},

    {"Empty", "", "", ""},
    {"EscapedIac", b({'a', kIac, kIac, 'b'}), b({'a', 255, 'b'}), ""},
    {"TwoEscapedIacs", b({kIac, kIac, kIac, kIac}), b({255, 255}), ""},
    {"ControlBytesPassThrough", b({0, 1, 3, 4, 8, 0x15, 0x7f, 0xfe}),
     b({0, 1, 3, 4, 8, 0x15, 0x7f, 0xfe}), ""},

    // Negotiation: refuse every DO and WILL, never answer DONT and WONT.
    {"DoEcho", b({kIac, kDo, kEcho}), "", b({kIac, kWont, kEcho})},
    {"DoSga", b({kIac, kDo, kSga}), "", b({kIac, kWont, kSga})},
    {"DoTimingMark", b({kIac, kDo, kTimingMark}), "", b({kIac, kWont, kTimingMark})},
    {"WillTtype", b({kIac, kWill, kTtype}), "", b({kIac, kDont, kTtype})},
    {"WillNaws", b({kIac, kWill, kNaws}), "", b({kIac, kDont, kNaws})},
    {"WillLinemode", b({kIac, kWill, kLinemode}), "", b({kIac, kDont, kLinemode})},
    {"DontEcho", b({kIac, kDont, kEcho}), "", ""},
    {"WontSga", b({kIac, kWont, kSga}), "", ""},
    {"OptionByteIsIac", b({kIac, kDo, kIac, 'x'}), "x", b({kIac, kWont, kIac})},
    {"NegotiationAmidData",
     b({'a', kIac, kDo, kEcho, 'b', kIac, kWill, kNaws, 'c', kIac, kWont, kEcho, 'd'}), "abcd",
     b({kIac, kWont, kEcho, kIac, kDont, kNaws})},
    {"RepeatedDoIsAnsweredEachTime", b({kIac, kDo, kEcho, kIac, kDo, kEcho}), "",
     b({kIac, kWont, kEcho, kIac, kWont, kEcho})},

    // Commands that become control bytes for the line layer.
    {"InterruptProcess", b({'x', kIac, kIp, 'y'}), "x\x03y", ""},
    {"Break", b({kIac, kBrk}), "\x03", ""},
    {"EraseCharacter", b({'a', kIac, kEc}), "a\x08", ""},
    {"EraseLine", b({'a', kIac, kEl}), "a\x15", ""},
    {"AreYouThere", b({'a', kIac, kAyt, 'b'}), "ab", kAytText},

    // Ignored two-byte commands.
    {"AbortOutput", b({'a', kIac, kAo, 'b'}), "ab", ""},
    {"GoAhead", b({'a', kIac, kGa, 'b'}), "ab", ""},
    {"NoOperation", b({'a', kIac, kNop, 'b'}), "ab", ""},
    {"DataMark", b({'a', kIac, kDm, 'b'}), "ab", ""},
    {"EndOfRecord", b({'a', kIac, kEor, 'b'}), "ab", ""},
    {"StraySe", b({'a', kIac, kSe, 'b'}), "ab", ""},

    // Unknown command bytes are dropped with the IAC; the byte after them is data again.
    {"UnknownCommandZero", b({'a', kIac, 0, 'b'}), "ab", ""},
    {"UnknownCommandLetter", b({'a', kIac, 'x', 'b'}), "ab", ""},
    {"UnknownCommand238", b({'a', kIac, 238, 'b'}), "ab", ""},
    {"UnknownCommandThenIac", b({kIac, 'q', kIac, kIac}), b({255}), ""},

    // Subnegotiation.
    {"SubnegotiationSkipped",
     b({'a', kIac, kSb, kTtype, 0, 'x', 't', 'e', 'r', 'm', kIac, kSe, 'b'}), "ab", ""},
    {"SubnegotiationWithEscapedIac", b({kIac, kSb, kNaws, 0, 80, kIac, kIac, kIac, kSe, 'z'}), "z",
     ""},
    {"SubnegotiationEscapedIacThenSeIsStillInside",
     b({kIac, kSb, kNaws, kIac, kIac, kSe, 'x', kIac, kSe, 'z'}), "z", ""},
    {"SubnegotiationEndedByOtherCommand", b({kIac, kSb, kTtype, 1, kIac, kDo, kEcho, 'z'}), "z",
     b({kIac, kWont, kEcho})},
    {"SubnegotiationEndedByIp", b({kIac, kSb, kTtype, 1, kIac, kIp, 'z'}), "\x03z", ""},
    {"SubnegotiationEndedByUnknown", b({kIac, kSb, 1, kIac, 'q', 'z'}), "z", ""},
    {"SubnegotiationIgnoresCommandsInside", b({kIac, kSb, kDo, kEcho, kAyt, kIac, kSe}), "", ""},
    {"EmptySubnegotiation", b({kIac, kSb, kIac, kSe, 'z'}), "z", ""},
    {"UnterminatedSubnegotiationSwallows", b({kIac, kSb, kTtype, 'a', 'b', 'c'}), "", ""},

    // A sequence cut off at the end of the input produces nothing yet.
    {"TrailingIac", b({'a', kIac}), "a", ""},
    {"TrailingVerb", b({'a', kIac, kDo}), "a", ""},
};

class TelnetCaseTest : public testing::TestWithParam<Case> {};

TEST_P(TelnetCaseTest, WholeInput) {
  const Case& c = GetParam();
  const Output out = run(c.raw);
  EXPECT_EQ(out.data, c.data);
  EXPECT_EQ(out.reply, c.reply);
}

// A sequence may be split at any byte boundary: every two-piece split and the byte-at-a-time feed
// must give exactly the whole-input result.
TEST_P(TelnetCaseTest, AnySplitGivesSameResult) {
  const Case& c = GetParam();
  for (std::size_t cut = 0; cut <= c.raw.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    const Output out = run(c.raw, {cut});
    EXPECT_EQ(out.data, c.data);
    EXPECT_EQ(out.reply, c.reply);
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t cut = 1; cut < c.raw.size(); ++cut) every_byte.push_back(cut);
  SCOPED_TRACE("one byte at a time");
  const Output out = run(c.raw, every_byte);
  EXPECT_EQ(out.data, c.data);
  EXPECT_EQ(out.reply, c.reply);
}

INSTANTIATE_TEST_SUITE_P(Cases, TelnetCaseTest, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<Case>& test) { return test.param.name; });

TEST(TelnetFilterTest, AppendsToExistingOutput) {
  TelnetFilter filter;
  std::string data = "old";
  std::string reply = "prev";
  filter.feed(b({'n', kIac, kDo, kEcho}), data, reply);
  EXPECT_EQ(data, "oldn");
  EXPECT_EQ(reply, "prev" + b({kIac, kWont, kEcho}));
}

TEST(TelnetFilterTest, StatePersistsAcrossFeeds) {
  TelnetFilter filter;
  std::string data;
  std::string reply;
  filter.feed(b({'a', kIac}), data, reply);
  filter.feed(b({kDo}), data, reply);
  filter.feed(b({kSga, 'b', kIac}), data, reply);
  filter.feed(b({kIac, 'c'}), data, reply);
  EXPECT_EQ(data, b({'a', 'b', 255, 'c'}));
  EXPECT_EQ(reply, b({kIac, kWont, kSga}));
}

// An unterminated subnegotiation swallows at most kMaxSubnegotiationBytes bytes after IAC SB
// (the option byte included); what follows is data again, and commands work as usual.
TEST(TelnetFilterTest, OverlongSubnegotiationIsAbandoned) {
  constexpr std::size_t kMax = TelnetFilter::kMaxSubnegotiationBytes;
  for (const std::size_t body : {kMax - 1, kMax, kMax + 1, kMax + 1000}) {
    SCOPED_TRACE("body " + std::to_string(body));
    const std::string raw = b({kIac, kSb}) + std::string(body, 'x') + b({kIac, kDo, kEcho}) + "ok";
    const std::size_t leaked = body > kMax ? body - kMax : 0;
    const Output out = run(raw);
    EXPECT_EQ(out.data, std::string(leaked, 'x') + "ok");
    EXPECT_EQ(out.reply, b({kIac, kWont, kEcho}));
    // The bound does not depend on how the input was split.
    std::vector<std::size_t> every_byte;
    for (std::size_t cut = 1; cut < raw.size(); ++cut) every_byte.push_back(cut);
    const Output split = run(raw, every_byte);
    EXPECT_EQ(split.data, out.data);
    EXPECT_EQ(split.reply, out.reply);
  }
}

TEST(TelnetFilterTest, SubnegotiationUpToTheBoundIsSkippedWhole) {
  constexpr std::size_t kMax = TelnetFilter::kMaxSubnegotiationBytes;
  const std::string raw =
      b({kIac, kSb, kTtype}) + std::string(kMax - 1, 'x') + b({kIac, kSe, kIac, kDo, kEcho}) + "ok";
  const Output out = run(raw);
  EXPECT_EQ(out.data, "ok");
  EXPECT_EQ(out.reply, b({kIac, kWont, kEcho}));
}

TEST(TelnetFilterTest, SubnegotiationAfterAbandonedOneHasItsOwnBound) {
  constexpr std::size_t kMax = TelnetFilter::kMaxSubnegotiationBytes;
  const std::string sub = b({kIac, kSb, kTtype}) + std::string(kMax - 1, 'x');
  const Output out = run(sub + "a" + sub + b({kIac, kSe}) + "b");
  EXPECT_EQ(out.data, "ab");
}

// AYT is answered, but a client cannot use it to multiply its traffic without bound.
TEST(TelnetFilterTest, AytAnswersAreCapped) {
  std::string raw;
  for (unsigned i = 0; i < TelnetFilter::kMaxAytAnswers + 5; ++i) raw += b({kIac, kAyt});
  raw += "x";
  std::string expected_reply;
  for (unsigned i = 0; i < TelnetFilter::kMaxAytAnswers; ++i) expected_reply += kAytText;
  const Output out = run(raw);
  EXPECT_EQ(out.data, "x");
  EXPECT_EQ(out.reply, expected_reply);
}

TEST(TelnetFilterTest, AytAnswerText) { EXPECT_EQ(kAytText, "\r\n[preforkd: yes]\r\n"); }

// The reply never outgrows the input except for the capped AYT answers: DO/WILL refusals are
// three bytes for three bytes.
TEST(TelnetFilterTest, RefusalsDoNotAmplify) {
  std::string raw;
  for (int option = 0; option < 256; ++option) raw += b({kIac, kDo, option, kIac, kWill, option});
  const Output out = run(raw);
  EXPECT_EQ(out.data, "");
  EXPECT_EQ(out.reply.size(), raw.size());
}

}  // namespace
}  // namespace preforkd
