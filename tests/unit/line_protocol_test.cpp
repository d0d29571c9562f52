#include "worker/line_protocol.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace preforkd {

// Makes failure messages readable: "Line(\"abc\")" instead of raw object bytes.
void PrintTo(const LineEvent& event, std::ostream* os) {
  switch (event.kind) {
    case LineEventKind::Line:
      *os << "Line(" << testing::PrintToString(event.text) << ")";
      return;
    case LineEventKind::Interrupted:
      *os << "Interrupted";
      break;
    case LineEventKind::EndOfInput:
      *os << "EndOfInput";
      break;
    case LineEventKind::TooLong:
      *os << "TooLong";
      break;
  }
  if (!event.text.empty()) *os << "(" << testing::PrintToString(event.text) << ")";
}

namespace {

LineEvent line(std::string text) { return {LineEventKind::Line, std::move(text)}; }
const LineEvent kInterrupted{LineEventKind::Interrupted, ""};
const LineEvent kEndOfInput{LineEventKind::EndOfInput, ""};
const LineEvent kTooLong{LineEventKind::TooLong, ""};

using Events = std::vector<LineEvent>;

// std::string(const char*) would stop at the first NUL; this keeps every byte of the literal.
template <std::size_t N>
std::string raw(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

struct Case {
  const char* name;
  std::size_t max_line_bytes;
  std::string input;
  Events events;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// Feeds `input` to a fresh decoder in pieces that start at each of `cuts`. Also checks, after
// every piece, that the decoder never holds more than max_line_bytes.
Events run(std::size_t max_line_bytes, std::string_view input,
           const std::vector<std::size_t>& cuts = {}) {
  LineDecoder decoder(max_line_bytes);
  Events events;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    decoder.feed(input.substr(from, cut - from), events);
    EXPECT_LE(decoder.buffered(), max_line_bytes);
    from = cut;
  }
  decoder.feed(input.substr(from), events);
  EXPECT_LE(decoder.buffered(), max_line_bytes);
  return events;
}

// Control bytes are written in octal (\003 is Ctrl-C): an octal escape is at most three digits,
// whereas a hex escape would swallow the letters that follow it.
const Case kCases[] = {
    {"Empty", 16, "", {}},
    {"PartialLineOnly", 16, "abc", {}},
    {"Lf", 16, "abc\n", {line("abc")}},
    {"CrLf", 16, "abc\r\n", {line("abc")}},
    {"CrNul", 16, raw("abc\r\0"), {line("abc")}},
    {"LoneCrMidBuffer", 16, "abc\rdef\n", {line("abc"), line("def")}},
    {"LoneCrAtEnd", 16, "abc\r", {line("abc")}},
    {"CrLfThenCrNul", 16, raw("a\r\nb\r\0c\n"), {line("a"), line("b"), line("c")}},
    {"EmptyLines", 16, "\n\r\n\r\n\n", {line(""), line(""), line(""), line("")}},
    {"CrCrIsTwoLines", 16, "a\r\r\n", {line("a"), line("")}},
    {"LfCrIsTwoLines", 16, "a\n\rb\n", {line("a"), line(""), line("b")}},
    {"NulAfterCrLfIsData", 16, raw("a\r\n\0\n"), {line("a"), line(raw("\0"))}},
    {"MultipleLines", 16, "one\ntwo\r\nthree\n", {line("one"), line("two"), line("three")}},
    {"OtherControlBytesKept", 16, raw("a\0\001\033[A\t\377\n"), {line(raw("a\0\001\033[A\t\377"))}},

    // Interrupt (Ctrl-C, telnet IP).
    {"InterruptDiscardsPartialLine", 16, "abc\003def\n", {kInterrupted, line("def")}},
    {"InterruptOnEmptyLine", 16, "\003", {kInterrupted}},
    {"InterruptAfterCompleteLine", 16, "a\nb\003", {line("a"), kInterrupted}},
    {"InterruptBetweenCrAndLf", 16, "a\r\003\n", {line("a"), kInterrupted, line("")}},

    // Editing.
    {"Backspace", 16, "abx\010c\n", {line("abc")}},
    {"Delete", 16, "abx\177c\n", {line("abc")}},
    {"BackspaceOnEmptyLine", 16, "\010\177a\n", {line("a")}},
    {"BackspacePastStart", 16, "a\010\010\010b\n", {line("b")}},
    {"EraseLine", 16, "abc\025de\n", {line("de")}},
    {"EraseLineNoEvent", 16, "abc\025", {}},

    // Ctrl-D.
    {"CtrlDAtStart", 16, "\004", {kEndOfInput}},
    {"CtrlDAtLineStartAfterLine", 16, "a\n\004b\n", {line("a"), kEndOfInput}},
    {"CtrlDAfterCr", 16, "a\r\004\n", {line("a"), kEndOfInput}},
    {"CtrlDMidLineIsData", 16, "a\004b\n", {line("a\004b")}},
    {"CtrlDAfterErasedLine", 16, "ab\025\004x\n", {kEndOfInput}},
    {"CtrlDAfterBackspacedLine", 16, "a\010\004x\n", {kEndOfInput}},
    {"CtrlDAfterInterrupt", 16, "ab\003\004", {kInterrupted, kEndOfInput}},
    {"NothingAfterEndOfInput", 16, "\004a\nb\n\003\004", {kEndOfInput}},

    // Length limit (the terminator does not count).
    {"ExactlyMaxLf", 4, "abcd\n", {line("abcd")}},
    {"ExactlyMaxCrLf", 4, "abcd\r\n", {line("abcd")}},
    {"ExactlyMaxUnterminated", 4, "abcd", {}},
    {"MaxPlusOne", 4, "abcde\n", {kTooLong}},
    {"TooLongOnceThenSilence", 4, "abcdefghij\nok\n\003\004", {kTooLong}},
    {"TooLongAfterGoodLines", 4, "ab\nabcd\nabcde\nx\n", {line("ab"), line("abcd"), kTooLong}},
    {"BackspaceKeepsLineShort", 4, "abcd\010e\n", {line("abce")}},
    {"EraseLineKeepsLineShort", 4, "abcd\025efgh\n", {line("efgh")}},
    {"CtrlDMidLineCounts", 2, "a\004b", {kTooLong}},
    {"ZeroMaxAllowsEmptyLines", 0, "\n\r\n", {line(""), line("")}},
    {"ZeroMaxRejectsAnyData", 0, "\na", {line(""), kTooLong}},
};

class LineDecoderCaseTest : public testing::TestWithParam<Case> {};

TEST_P(LineDecoderCaseTest, WholeInput) {
  const Case& c = GetParam();
  EXPECT_EQ(run(c.max_line_bytes, c.input), c.events);
}

// Splitting the input anywhere gives the same events: every two-piece split, every three-piece
// split (so a CR can end one feed while its LF starts the next, in the middle of a longer input),
// and the byte-at-a-time feed.
TEST_P(LineDecoderCaseTest, AnySplitGivesSameEvents) {
  const Case& c = GetParam();
  const std::size_t n = c.input.size();
  for (std::size_t first = 0; first <= n; ++first) {
    for (std::size_t second = first; second <= n; ++second) {
      SCOPED_TRACE("cuts at " + std::to_string(first) + ", " + std::to_string(second));
      EXPECT_EQ(run(c.max_line_bytes, c.input, {first, second}), c.events);
    }
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t cut = 1; cut < n; ++cut) every_byte.push_back(cut);
  SCOPED_TRACE("one byte at a time");
  EXPECT_EQ(run(c.max_line_bytes, c.input, every_byte), c.events);
}

INSTANTIATE_TEST_SUITE_P(Cases, LineDecoderCaseTest, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<Case>& test) { return test.param.name; });

// The line is answered at the CR, without waiting for the next feed; the LF that arrives later is
// swallowed rather than producing a second, empty line.
TEST(LineDecoderTest, CrAtEndOfFeedEmitsNowAndSwallowsLfOfNextFeed) {
  struct Next {
    std::string bytes;
    Events added;  // events the second feed adds
  };
  for (const Next& next : {Next{"\n", {}}, Next{raw("\0"), {}}, Next{"\nb\n", {line("b")}},
                           Next{raw("\0b\n"), {line("b")}}}) {
    SCOPED_TRACE(testing::PrintToString(next.bytes));
    LineDecoder decoder(16);
    Events events;
    decoder.feed("abc\r", events);
    EXPECT_EQ(events, Events{line("abc")});
    EXPECT_EQ(decoder.buffered(), 0u);
    decoder.feed(next.bytes, events);
    Events expected{line("abc")};
    expected.insert(expected.end(), next.added.begin(), next.added.end());
    EXPECT_EQ(events, expected);
  }
}

TEST(LineDecoderTest, CrAtEndOfFeedThenOtherByteStartsNextLine) {
  LineDecoder decoder(16);
  Events events;
  decoder.feed("abc\r", events);
  decoder.feed("x\n", events);
  EXPECT_EQ(events, (Events{line("abc"), line("x")}));
}

TEST(LineDecoderTest, AppendsToExistingEvents) {
  LineDecoder decoder(16);
  Events events{kInterrupted};
  decoder.feed("a\n", events);
  EXPECT_EQ(events, (Events{kInterrupted, line("a")}));
}

TEST(LineDecoderTest, BufferedCountsThePartialLine) {
  LineDecoder decoder(16);
  Events events;
  EXPECT_EQ(decoder.buffered(), 0u);
  decoder.feed("abc", events);
  EXPECT_EQ(decoder.buffered(), 3u);
  decoder.feed("\010", events);
  EXPECT_EQ(decoder.buffered(), 2u);
  decoder.feed("\nxy", events);
  EXPECT_EQ(decoder.buffered(), 2u);
  decoder.feed("\003", events);
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_EQ(events, (Events{line("ab"), kInterrupted}));
}

TEST(LineDecoderTest, FailedOnlyAfterTooLong) {
  LineDecoder decoder(4);
  Events events;
  decoder.feed("abcd", events);
  EXPECT_FALSE(decoder.failed());
  EXPECT_EQ(decoder.buffered(), 4u);
  decoder.feed("e", events);
  EXPECT_TRUE(decoder.failed());
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_EQ(events, Events{kTooLong});
  decoder.feed("\n\003\004abc\n", events);
  EXPECT_TRUE(decoder.failed());
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_EQ(events, Events{kTooLong});
}

TEST(LineDecoderTest, EndOfInputIsNotFailure) {
  LineDecoder decoder(4);
  Events events;
  decoder.feed("\004", events);
  decoder.feed("abcdefgh\n", events);
  EXPECT_FALSE(decoder.failed());
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_EQ(events, Events{kEndOfInput});
}

// A long stream of lines, each within the limit, never fails however it is fed.
TEST(LineDecoderTest, ManyLinesWithinLimit) {
  std::string input;
  Events expected;
  for (int i = 0; i < 200; ++i) {
    std::string text(static_cast<std::size_t>(i % 9), static_cast<char>('a' + i % 26));
    input += text + (i % 3 == 0 ? "\n" : i % 3 == 1 ? "\r\n" : std::string("\r\0", 2));
    expected.push_back(line(text));
  }
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u, 4096u}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    LineDecoder decoder(8);
    Events events;
    for (std::size_t at = 0; at < input.size(); at += chunk) {
      decoder.feed(std::string_view(input).substr(at, chunk), events);
    }
    EXPECT_FALSE(decoder.failed());
    EXPECT_EQ(events, expected);
  }
}

}  // namespace
}  // namespace preforkd
