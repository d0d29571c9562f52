// Fuzz target: the rpc service's input side, FrameDecoder (worker/rpc_framing.h) and
// handleRpcRequest() (worker/rpc_service.h), both pure.
//
// Input: byte 0 picks the mode. Top bit clear: bytes 1-2 give max_body (0..1023, little-endian,
// masked) and the rest is a client's byte stream, fed in pieces cut at positions the input
// decides (fuzz_support.h); the first few frame bodies are then answered. Top bit set: the rest
// is one frame body, answered directly (so the JSON handling is reached without a header).
// Checked, for the decoder: never more than the header plus max_body buffered; a body is
// exactly its announced length and within max_body; TooLarge announces more than max_body, is
// the last event and leaves failed() set with nothing buffered; the frames re-encode to the
// stream's prefix, and what is left is what is buffered (less a header already complete);
// atBoundary() iff nothing of the next frame arrived; the split changes nothing (same events
// as one feed). For the reply: compact JSON that parses back to {"out": STRING, "result": ...};
// an error carries a known code; ping and echo return the params unchanged; on a body that is
// valid JSON, jsonNestingDepth() (the guard before parsing) is the real depth.
#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_support.h"
#include "worker/rpc_framing.h"
#include "worker/rpc_service.h"

namespace preforkd {
namespace {

using nlohmann::json;

// JSON parsing dominates the run time: answer only the first few frames of a stream.
constexpr std::size_t kMaxAnsweredFrames = 4;

std::vector<FrameEvent> decode(const std::vector<std::string_view>& pieces, std::uint32_t max_body,
                               std::string_view stream) {
  FrameDecoder decoder(max_body);
  std::vector<FrameEvent> events;
  std::size_t fed = 0, framed = 0;  // bytes given to the decoder, bytes of complete frames
  bool stopped = false;
  for (std::string_view piece : pieces) {
    const std::size_t before = events.size();
    decoder.feed(piece, events);
    fed += piece.size();
    FUZZ_CHECK(decoder.buffered() <= kFrameHeaderBytes + max_body);
    if (stopped) FUZZ_CHECK(events.size() == before);
    for (std::size_t i = before; i < events.size(); ++i) {
      const FrameEvent& ev = events[i];
      FUZZ_CHECK(!stopped);
      if (ev.kind == FrameEventKind::TooLarge) {
        FUZZ_CHECK(ev.length > max_body && ev.body.empty());
        stopped = true;
        continue;
      }
      FUZZ_CHECK(ev.body.size() == ev.length && ev.length <= max_body);
      const std::string frame = encodeFrame(ev.body);
      FUZZ_CHECK(stream.substr(framed, frame.size()) == frame);
      framed += frame.size();
    }
    FUZZ_CHECK(decoder.failed() == stopped);
    if (stopped) {
      FUZZ_CHECK(decoder.buffered() == 0);
    } else {
      // buffered() counts a header's bytes until the header is complete, then the body's.
      const std::size_t pending = fed - framed;
      FUZZ_CHECK(decoder.buffered() ==
                 (pending < kFrameHeaderBytes ? pending : pending - kFrameHeaderBytes));
      FUZZ_CHECK(decoder.atBoundary() == (pending == 0));
    }
  }
  return events;
}

std::size_t depthOf(const json& value) {
  if (!value.is_structured()) return 0;
  std::size_t deepest = 0;
  for (const json& item : value) deepest = std::max(deepest, depthOf(item));
  return deepest + 1;
}

// The guard before parsing must measure valid JSON exactly: an underestimate would let deep
// input through to the recursive copy and dump.
void checkDepthGuard(std::string_view body) {
  if (body.find('\0') != std::string_view::npos) return;  // the parser stops at a NUL
  const json parsed = json::parse(body.data(), body.data() + body.size(), nullptr, false);
  if (!parsed.is_discarded()) FUZZ_CHECK(jsonNestingDepth(body) == depthOf(parsed));
}

void checkReply(std::string_view body, const std::string& reply) {
  const json r = json::parse(reply, nullptr, false);
  FUZZ_CHECK(!r.is_discarded());
  FUZZ_CHECK(r.dump() == reply);  // compact
  FUZZ_CHECK(r.is_object() && r.size() == 2);
  FUZZ_CHECK(r.contains("out") && r["out"].is_string() && r.contains("result"));
  const std::string& out = r["out"].get_ref<const std::string&>();
  if (out == "error") {
    const json& result = r["result"];
    FUZZ_CHECK(result.is_object() && result.contains("code") && result["code"].is_string());
    const std::string& code = result["code"].get_ref<const std::string&>();
    FUZZ_CHECK(code == "unknown-method" || code == "invalid-json" || code == "bad-request");
    return;
  }
  FUZZ_CHECK(out == "pong" || out == "echo" || out == "methods");
  if (out == "methods") return;
  const json request = json::parse(body.data(), body.data() + body.size(), nullptr, false);
  FUZZ_CHECK(!request.is_discarded() && request.is_object());
  const json params = request.contains("params") ? request["params"] : json();
  FUZZ_CHECK(r["result"] == params);
}

}  // namespace
}  // namespace preforkd

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace preforkd;
  if (size == 0) return 0;
  if (data[0] & 0x80) {
    const std::string_view body = fuzz::text(data + 1, size - 1);
    checkReply(body, handleRpcRequest(body));
    checkDepthGuard(body);
    return 0;
  }
  if (size < 3) return 0;
  const std::uint32_t max_body = (data[1] | (data[2] << 8)) & 0x3ff;
  const std::string_view stream = fuzz::text(data + 3, size - 3);
  const std::vector<FrameEvent> split = decode(fuzz::splitChunks(stream), max_body, stream);
  const std::vector<FrameEvent> whole = decode({stream}, max_body, stream);
  FUZZ_CHECK(split == whole);
  std::size_t answered = 0;
  for (const FrameEvent& ev : whole) {
    if (ev.kind != FrameEventKind::Frame || answered++ == kMaxAnsweredFrames) break;
    checkReply(ev.body, handleRpcRequest(ev.body));
    checkDepthGuard(ev.body);
  }
  return 0;
}
