// The rpc service: framing (FrameDecoder split at every position, encodeFrame), request handling
// table-driven, and the whole session over a real socketpair, speaking the seed's wire format.
#include "worker/rpc_service.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/service_session.h"
#include <nlohmann/json.hpp>

#include "worker/rpc_framing.h"

namespace preforkd {

// Readable failure messages: Frame("...") / TooLarge(n).
void PrintTo(const FrameEvent& ev, std::ostream* os) {
  if (ev.kind == FrameEventKind::TooLarge) {
    *os << "TooLarge(" << ev.length << ")";
  } else {
    *os << "Frame(" << testing::PrintToString(ev.body) << ")";
  }
}

namespace {

using namespace std::chrono;
using namespace std::chrono_literals;
using nlohmann::json;

using testing_support::LiveSession;

WorkerSettings testSettings() {
  WorkerSettings s;
  s.idle_timeout = 3s;
  return s;
}

// std::string(const char*) would stop at the first NUL; this keeps every byte of the literal.
template <std::size_t N>
std::string raw(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

// --- encodeFrame -----------------------------------------------------------------------------

TEST(RpcEncodeFrame, LittleEndianLengthThenBody) {
  EXPECT_EQ(encodeFrame(""), raw("\0\0\0\0"));
  EXPECT_EQ(encodeFrame("abc"), raw("\3\0\0\0abc"));
  const std::string body(0x010203, 'x');
  const std::string frame = encodeFrame(body);
  EXPECT_EQ(frame.substr(0, 4), raw("\3\2\1\0"));
  EXPECT_EQ(frame.size(), 4 + body.size());
  // What the seed's client sends: struct.pack("I", 30) on x86 + the JSON.
  EXPECT_EQ(encodeFrame(R"({"in": "ping", "params": "ir"})"),
            raw("\36\0\0\0") + R"({"in": "ping", "params": "ir"})");
}

// --- FrameDecoder ----------------------------------------------------------------------------

FrameEvent frame(std::string body) {
  const std::uint64_t n = body.size();
  return {.kind = FrameEventKind::Frame, .body = std::move(body), .length = n};
}
FrameEvent tooLarge(std::uint64_t n) { return {.kind = FrameEventKind::TooLarge, .length = n}; }

using Events = std::vector<FrameEvent>;

struct DecodeCase {
  const char* name;
  std::uint32_t max;
  std::string input;
  Events events;
};

void PrintTo(const DecodeCase& c, std::ostream* os) { *os << c.name; }

const DecodeCase kDecodeCases[] = {
    {"Nothing", 16, "", {}},
    {"PartialHeader", 16, raw("\3\0"), {}},
    {"HeaderOnly", 16, raw("\3\0\0\0"), {}},
    {"PartialBody", 16, raw("\3\0\0\0ab"), {}},
    {"OneFrame", 16, raw("\3\0\0\0abc"), {frame("abc")}},
    {"TwoFrames", 16, raw("\3\0\0\0abc\1\0\0\0d"), {frame("abc"), frame("d")}},
    {"FrameThenPartial", 16, raw("\1\0\0\0a\5\0\0\0bc"), {frame("a")}},
    {"ZeroLength", 16, raw("\0\0\0\0"), {frame("")}},
    {"ZeroLengthBetween", 16, raw("\1\0\0\0a\0\0\0\0\1\0\0\0b"),
     {frame("a"), frame(""), frame("b")}},
    {"BinaryBody", 16, raw("\4\0\0\0\0\377\n\r"), {frame(raw("\0\377\n\r"))}},
    {"ExactlyMax", 4, raw("\4\0\0\0abcd"), {frame("abcd")}},
    {"OneAboveMax", 4, raw("\5\0\0\0abcde"), {tooLarge(5)}},
    {"BigEndianLooksHuge", 1 << 20, raw("\0\0\0\1x"), {tooLarge(1u << 24)}},
    {"MaxLength", 1 << 20, raw("\377\377\377\377"), {tooLarge(0xffffffffu)}},
    {"FrameThenTooLargeThenIgnored", 4, raw("\1\0\0\0a\50\0\0\0\1\0\0\0b"),
     {frame("a"), tooLarge(40)}},
    {"ZeroMaxAllowsOnlyEmpty", 0, raw("\0\0\0\0\1\0\0\0a"), {frame(""), tooLarge(1)}},
};

// Feeds `input` in pieces that start at each of `cuts`; checks the bound after every piece.
Events decode(std::uint32_t max, std::string_view input, const std::vector<std::size_t>& cuts) {
  FrameDecoder decoder(max);
  Events events;
  std::size_t from = 0;
  auto piece = [&](std::size_t to) {
    decoder.feed(input.substr(from, to - from), events);
    EXPECT_LE(decoder.buffered(), kFrameHeaderBytes + max);
    from = to;
  };
  for (std::size_t cut : cuts) piece(cut);
  piece(input.size());
  return events;
}

class FrameDecoderTable : public testing::TestWithParam<DecodeCase> {};

TEST_P(FrameDecoderTable, Whole) {
  const DecodeCase& c = GetParam();
  EXPECT_EQ(decode(c.max, c.input, {}), c.events);
}

TEST_P(FrameDecoderTable, SplitAtEveryPosition) {
  const DecodeCase& c = GetParam();
  for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
    EXPECT_EQ(decode(c.max, c.input, {cut}), c.events) << "cut at " << cut;
  }
}

TEST_P(FrameDecoderTable, SplitAtEveryPairOfPositions) {
  const DecodeCase& c = GetParam();
  for (std::size_t a = 0; a <= c.input.size(); ++a) {
    for (std::size_t b = a; b <= c.input.size(); ++b) {
      EXPECT_EQ(decode(c.max, c.input, {a, b}), c.events) << "cuts at " << a << ", " << b;
    }
  }
}

TEST_P(FrameDecoderTable, OneByteAtATime) {
  const DecodeCase& c = GetParam();
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < c.input.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(decode(c.max, c.input, cuts), c.events);
}

INSTANTIATE_TEST_SUITE_P(
    Streams, FrameDecoderTable, testing::ValuesIn(kDecodeCases),
    [](const testing::TestParamInfo<DecodeCase>& test) { return test.param.name; });

TEST(FrameDecoder, StateAccessors) {
  FrameDecoder d(8);
  Events events;
  EXPECT_TRUE(d.atBoundary());
  d.feed(raw("\2\0"), events);
  EXPECT_FALSE(d.atBoundary());
  EXPECT_EQ(d.buffered(), 2u);
  d.feed(raw("\0\0x"), events);
  EXPECT_FALSE(d.atBoundary());
  EXPECT_EQ(d.buffered(), 1u);
  d.feed("y", events);
  EXPECT_TRUE(d.atBoundary());
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_FALSE(d.failed());
  d.feed(raw("\11\0\0\0"), events);
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(d.buffered(), 0u);
  EXPECT_EQ(events, (Events{frame("xy"), tooLarge(9)}));
}

TEST(FrameDecoder, EncodeDecodeRoundTrip) {
  const std::vector<std::string> bodies = {"", "{}", std::string(1000, 'q'), raw("\0\1\2")};
  std::string stream;
  Events expected;
  for (const std::string& b : bodies) {
    stream += encodeFrame(b);
    expected.push_back(frame(b));
  }
  EXPECT_EQ(decode(1000, stream, {}), expected);
}

// --- handleRpcRequest ------------------------------------------------------------------------

std::string error(std::string_view code, std::string_view message) {
  return json{{"out", "error"}, {"result", {{"code", code}, {"message", message}}}}.dump();
}

struct RequestCase {
  const char* name;
  std::string body;
  std::string reply;
};

void PrintTo(const RequestCase& c, std::ostream* os) { *os << c.name; }

const std::string kTooDeep = R"({"in":"echo","params":)" + std::string(64, '[') +
                             std::string(64, ']') + "}";  // 65 levels with the object
const std::string kDeepestAllowed = R"({"in":"echo","params":)" + std::string(63, '[') +
                                    std::string(63, ']') + "}";

const RequestCase kRequestCases[] = {
    // The seed's own request, byte for byte as Python's json.dumps writes it.
    {"SeedPing", R"({"in": "ping", "params": "ireader 0"})",
     R"({"out":"pong","result":"ireader 0"})"},
    {"PingStructuredParams", R"({"in":"ping","params":{"a":[1,2.5,null,true,"\u00e9"]}})",
     R"({"out":"pong","result":{"a":[1,2.5,null,true,"é"]}})"},
    {"PingWithoutParams", R"({"in":"ping"})", R"({"out":"pong","result":null})"},
    {"PingNullParams", R"({"in":"ping","params":null})", R"({"out":"pong","result":null})"},
    {"ExtraMembersIgnored", R"({"id":7,"in":"ping","params":1})", R"({"out":"pong","result":1})"},
    {"Whitespace", " \t\r\n{ \"in\" : \"ping\" }\n ", R"({"out":"pong","result":null})"},
    {"Echo", R"({"in":"echo","params":[1,"two",{"3":4}]})",
     R"({"out":"echo","result":[1,"two",{"3":4}]})"},
    {"EchoControlCharacters", R"({"in":"echo","params":"a\u0000b\n"})",
     R"({"out":"echo","result":"a\u0000b\n"})"},
    {"Methods", R"({"in":"methods"})", R"({"out":"methods","result":["ping","echo","methods"]})"},
    {"DeepestAllowed", kDeepestAllowed,
     R"({"out":"echo","result":)" + std::string(63, '[') + std::string(63, ']') + "}"},
    {"UnknownMethod", R"({"in":"nope","params":1})",
     error("unknown-method", "unknown method 'nope'")},
    {"MethodNamesAreCaseSensitive", R"({"in":"PING"})",
     error("unknown-method", "unknown method 'PING'")},
    {"EmptyMethodName", R"({"in":""})", error("unknown-method", "unknown method ''")},
    {"LongMethodNameIsCut", R"({"in":")" + std::string(100, 'm') + R"("})",
     error("unknown-method", "unknown method '" + std::string(64, 'm') + "'...")},
    {"EmptyBody", "", error("invalid-json", "empty frame body: expected a JSON object")},
    {"Truncated", R"({"in":"ping")", error("invalid-json", "frame body is not valid JSON")},
    {"TwoValues", "{}{}", error("invalid-json", "frame body is not valid JSON")},
    {"NotJson", "ping", error("invalid-json", "frame body is not valid JSON")},
    {"SingleQuotes", "{'in':'ping'}", error("invalid-json", "frame body is not valid JSON")},
    {"Comment", "{\"in\":\"ping\"/* x */}", error("invalid-json", "frame body is not valid JSON")},
    {"InvalidUtf8", "{\"in\":\"ping\",\"params\":\"\xff\"}",
     error("invalid-json", "frame body is not valid JSON")},
    {"NumberOverflow", R"({"in":"echo","params":1e999})",
     error("invalid-json", "frame body is not valid JSON")},
    {"NulByte", raw("{\"in\":\"ping\"}\0"), error("invalid-json", "frame body is not valid JSON")},
    {"NulThenJunk", raw("{\"in\":\"ping\"}\0junk"),
     error("invalid-json", "frame body is not valid JSON")},
    {"NulInString", raw("{\"in\":\"ping\",\"params\":\"a\0b\"}"),
     error("invalid-json", "frame body is not valid JSON")},
    {"Array", R"(["ping", 1])",
     error("bad-request", R"(request must be a JSON object {"in": NAME, "params": VALUE})")},
    {"String", R"("ping")",
     error("bad-request", R"(request must be a JSON object {"in": NAME, "params": VALUE})")},
    {"Null", "null",
     error("bad-request", R"(request must be a JSON object {"in": NAME, "params": VALUE})")},
    {"NoIn", R"({"params":1})", error("bad-request", R"(request has no "in" member)")},
    {"InNotString", R"({"in":5})", error("bad-request", R"("in" must be a string)")},
    {"InNull", R"({"in":null})", error("bad-request", R"("in" must be a string)")},
    {"InArray", R"({"in":["ping"]})", error("bad-request", R"("in" must be a string)")},
    {"TooDeep", kTooDeep, error("bad-request", "JSON nested deeper than 64 levels")},
    {"TooDeepInvalid", std::string(100, '['),
     error("bad-request", "JSON nested deeper than 64 levels")},
};

class RpcRequestTable : public testing::TestWithParam<RequestCase> {};

TEST_P(RpcRequestTable, Reply) {
  const RequestCase& c = GetParam();
  EXPECT_EQ(handleRpcRequest(c.body), c.reply);
}

INSTANTIATE_TEST_SUITE_P(
    Requests, RpcRequestTable, testing::ValuesIn(kRequestCases),
    [](const testing::TestParamInfo<RequestCase>& test) { return test.param.name; });

TEST(RpcRequest, EveryReplyIsAnOutResultObject) {
  for (const RequestCase& c : kRequestCases) {
    const json reply = json::parse(handleRpcRequest(c.body), nullptr, false);
    ASSERT_TRUE(reply.is_object()) << c.name;
    EXPECT_EQ(reply.size(), 2u) << c.name;
    ASSERT_TRUE(reply.contains("out") && reply["out"].is_string()) << c.name;
    EXPECT_TRUE(reply.contains("result")) << c.name;
    if (reply["out"] == "error") {
      EXPECT_TRUE(reply["result"]["code"].is_string()) << c.name;
      EXPECT_TRUE(reply["result"]["message"].is_string()) << c.name;
    }
  }
}

TEST(RpcRequest, HugeNestingDoesNotCrash) {
  const std::string body = R"({"in":"echo","params":)" + std::string(1 << 20, '[');
  EXPECT_EQ(handleRpcRequest(body), error("bad-request", "JSON nested deeper than 64 levels"));
}

TEST(RpcRequest, MethodNameCutInsideACharacterStillGivesValidJson) {
  // 63 ASCII bytes and a 2-byte character: the cut at 64 bytes splits the character.
  const std::string name = std::string(63, 'a') + "\xc3\xa9";
  const std::string reply = handleRpcRequest(R"({"in":")" + name + R"("})");
  const json parsed = json::parse(reply, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << reply;
  EXPECT_EQ(parsed["result"]["code"], "unknown-method");
  EXPECT_NE(reply.find("\xef\xbf\xbd"), std::string::npos) << reply;  // U+FFFD
}

TEST(RpcRequest, ErrorReplyEscapesItsInput) {
  EXPECT_EQ(rpcErrorReply("bad-request", "a \"quoted\"\n\xff"),
            R"({"out":"error","result":{"code":"bad-request","message":"a \"quoted\"\n)"
            "\xef\xbf\xbd\"}}");
}

TEST(RpcRequest, MethodsListsWhatIsServed) {
  std::vector<std::string> names;
  for (std::string_view m : rpcMethods()) {
    names.emplace_back(m);
    const json reply = json::parse(handleRpcRequest(json{{"in", m}}.dump()));
    EXPECT_NE(reply["out"], "error") << m;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"ping", "echo", "methods"}));
}

// --- jsonNestingDepth ------------------------------------------------------------------------

TEST(JsonNestingDepth, Table) {
  EXPECT_EQ(jsonNestingDepth(""), 0u);
  EXPECT_EQ(jsonNestingDepth("1"), 0u);
  EXPECT_EQ(jsonNestingDepth("[]"), 1u);
  EXPECT_EQ(jsonNestingDepth("[[]]"), 2u);
  EXPECT_EQ(jsonNestingDepth("[[],[]]"), 2u);
  EXPECT_EQ(jsonNestingDepth(R"({"a":[{}]})"), 3u);
  EXPECT_EQ(jsonNestingDepth(R"("[[[")"), 0u);         // brackets in a string do not count
  EXPECT_EQ(jsonNestingDepth(R"("\"[[")"), 0u);        // nor after an escaped quote
  EXPECT_EQ(jsonNestingDepth(R"(["\\",[]])"), 2u);     // an escaped backslash ends the escape
  EXPECT_EQ(jsonNestingDepth(R"(["]"])"), 1u);
  EXPECT_EQ(jsonNestingDepth("]]][["), 2u);            // invalid: never below zero
}

// --- The whole session ---------------------------------------------------------------------

// Reads one reply frame and returns its body ("" and a test failure if the stream ended).
std::string readFrame(LiveSession& s) {
  const std::string header = s.recv(4);
  if (header.size() != 4) {
    ADD_FAILURE() << "stream ended before a frame header";
    return {};
  }
  const std::uint32_t n = static_cast<unsigned char>(header[0]) |
                          static_cast<unsigned char>(header[1]) << 8 |
                          static_cast<unsigned char>(header[2]) << 16 |
                          static_cast<std::uint32_t>(static_cast<unsigned char>(header[3])) << 24;
  std::string body = s.recv(n);
  EXPECT_EQ(body.size(), n);
  return body;
}

TEST(RpcSession, SeedPingPong) {
  LiveSession s(&runRpcService, testSettings());
  // Exactly what the seed's client writes: struct.pack("I", len) then json.dumps(...).
  s.send(encodeFrame(R"({"in": "ping", "params": "ireader 0"})"));
  EXPECT_EQ(readFrame(s), R"({"out":"pong","result":"ireader 0"})");
  s.send(encodeFrame(R"({"in": "ping", "params": "ireader 1"})"));
  EXPECT_EQ(readFrame(s), R"({"out":"pong","result":"ireader 1"})");
  s.closeWrite();
  EXPECT_EQ(s.recv(), "");
  EXPECT_EQ(s.finish(), SessionEnd::ClientClosed);
}

TEST(RpcSession, FrameSplitAcrossManyWrites) {
  LiveSession s(&runRpcService, testSettings());
  const std::string stream = encodeFrame(R"({"in":"echo","params":[1,2,3]})");
  for (char c : stream) {
    s.send(std::string_view(&c, 1));
    std::this_thread::sleep_for(2ms);
  }
  EXPECT_EQ(readFrame(s), R"({"out":"echo","result":[1,2,3]})");
  s.closeWrite();
  EXPECT_EQ(s.finish(), SessionEnd::ClientClosed);
}

TEST(RpcSession, ErrorsKeepTheSessionGoing) {
  LiveSession s(&runRpcService, testSettings());
  // Pipelined in one write: every frame is answered, in order.
  s.send(encodeFrame("not json") + encodeFrame("") + encodeFrame(R"({"in":"nope"})") +
         encodeFrame("[]") + encodeFrame(R"({"in":"ping","params":2})"));
  EXPECT_EQ(readFrame(s), error("invalid-json", "frame body is not valid JSON"));
  EXPECT_EQ(readFrame(s), error("invalid-json", "empty frame body: expected a JSON object"));
  EXPECT_EQ(readFrame(s), error("unknown-method", "unknown method 'nope'"));
  EXPECT_EQ(readFrame(s)[0], '{');
  EXPECT_EQ(readFrame(s), R"({"out":"pong","result":2})");
  s.closeWrite();
  EXPECT_EQ(s.recv(), "");
  EXPECT_EQ(s.finish(), SessionEnd::ClientClosed);
}

TEST(RpcSession, FrameTooLargeAnswersThenCloses) {
  WorkerSettings settings = testSettings();
  settings.rpc_max_frame = 16;
  LiveSession s(&runRpcService, settings);
  s.send(encodeFrame(R"({"in":"ping"})") + encodeFrame(std::string(17, ' ')) +
         encodeFrame(R"({"in":"ping"})"));
  EXPECT_EQ(readFrame(s), R"({"out":"pong","result":null})");
  EXPECT_EQ(readFrame(s),
            error("frame-too-large", "frame of 17 bytes is above the limit of 16 bytes"));
  EXPECT_EQ(s.recv(), "");  // closed without answering what followed
  EXPECT_EQ(s.finish(), SessionEnd::ProtocolError);
}

TEST(RpcSession, LargestFrameWorks) {
  WorkerSettings settings = testSettings();
  settings.rpc_max_frame = 1 << 20;
  LiveSession s(&runRpcService, settings);
  const std::string prefix = R"({"in":"echo","params":")", suffix = "\"}";
  const std::string text(settings.rpc_max_frame - prefix.size() - suffix.size(), 'z');
  std::thread writer([&] { s.send(encodeFrame(prefix + text + suffix)); });
  const std::string reply = readFrame(s);
  writer.join();
  EXPECT_EQ(reply, R"({"out":"echo","result":")" + text + "\"}");
  s.closeWrite();
  EXPECT_EQ(s.finish(), SessionEnd::ClientClosed);
}

TEST(RpcSession, CloseMidFrameEndsQuietly) {
  LiveSession s(&runRpcService, testSettings());
  s.send(encodeFrame(R"({"in":"ping"})").substr(0, 9));
  s.closeWrite();
  EXPECT_EQ(s.recv(), "");
  EXPECT_EQ(s.finish(), SessionEnd::ClientClosed);
}

TEST(RpcSession, CloseMidHeaderEndsQuietly) {
  LiveSession s(&runRpcService, testSettings());
  s.send(raw("\5\0"));
  s.closeWrite();
  EXPECT_EQ(s.recv(), "");
  EXPECT_EQ(s.finish(), SessionEnd::ClientClosed);
}

TEST(RpcSession, IdleTimeoutClosesSilently) {
  WorkerSettings settings = testSettings();
  settings.idle_timeout = 100ms;
  LiveSession s(&runRpcService, settings);
  s.send(raw("\5\0\0\0ab"));  // a frame that never completes cannot hold the worker
  EXPECT_EQ(s.recv(), "");
  EXPECT_EQ(s.finish(), SessionEnd::IdleTimeout);
}

TEST(RpcSession, StopsBetweenRequests) {
  LiveSession s(&runRpcService, testSettings());
  s.send(encodeFrame(R"({"in":"ping"})"));
  EXPECT_EQ(readFrame(s), R"({"out":"pong","result":null})");
  s.pokeChannel();
  EXPECT_EQ(s.recv(), "");
  EXPECT_EQ(s.finish(), SessionEnd::Stopped);
  EXPECT_EQ(s.host().checks, 1);
}

}  // namespace
}  // namespace preforkd
