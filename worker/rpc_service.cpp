#include "worker/rpc_service.h"

#include <array>
#include <cstdint>
#include <exception>
#include <limits>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "worker/rpc_framing.h"

namespace preforkd {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 3> kMethods = {"ping", "echo", "methods"};

// A method name quoted in an error message is cut here: the reply need not echo a huge name.
constexpr std::size_t kMaxQuotedName = 64;

// Compact, and never throws on invalid UTF-8 (the parser rejects it, but strings we build from
// client bytes, such as a truncated name, may still end mid-character).
std::string dumpJson(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string reply(std::string_view out, json result) {
  json r = json::object();
  r["out"] = out;
  r["result"] = std::move(result);
  return dumpJson(r);
}

std::string answer(std::string_view body) {
  if (body.empty()) {
    return rpcErrorReply("invalid-json", "empty frame body: expected a JSON object");
  }
  if (jsonNestingDepth(body) > kRpcMaxDepth) {
    return rpcErrorReply("bad-request",
                         fmt::format("JSON nested deeper than {} levels", kRpcMaxDepth));
  }
  // The parser takes a NUL byte for the end of its input, so "{...}\0junk" would pass; a raw
  // NUL is never valid JSON (not even inside a string), so refuse it first.
  constexpr std::string_view kInvalid = "frame body is not valid JSON";
  if (body.find('\0') != std::string_view::npos) return rpcErrorReply("invalid-json", kInvalid);
  json request = json::parse(body.data(), body.data() + body.size(), nullptr, false);
  if (request.is_discarded()) return rpcErrorReply("invalid-json", kInvalid);
  if (!request.is_object()) {
    return rpcErrorReply("bad-request", "request must be a JSON object {\"in\": NAME, "
                                        "\"params\": VALUE}");
  }
  const auto in = request.find("in");
  if (in == request.end()) return rpcErrorReply("bad-request", "request has no \"in\" member");
  if (!in->is_string()) return rpcErrorReply("bad-request", "\"in\" must be a string");
  const std::string& name = in->get_ref<const std::string&>();
  json params;  // null: "params" is optional
  if (const auto p = request.find("params"); p != request.end()) params = std::move(*p);

  if (name == "ping") return reply("pong", std::move(params));
  if (name == "echo") return reply("echo", std::move(params));
  if (name == "methods") {
    json names = json::array();
    for (std::string_view m : kMethods) names.push_back(m);
    return reply("methods", std::move(names));
  }
  const std::string_view shown = std::string_view(name).substr(0, kMaxQuotedName);
  return rpcErrorReply("unknown-method",
                       fmt::format("unknown method '{}'{}", shown,
                                   name.size() > kMaxQuotedName ? "..." : ""));
}

SessionEnd serveRpc(ClientConnection& client, const ServiceContext& ctx) {
  const WorkerSettings& settings = ctx.settings;
  FrameDecoder frames(settings.rpc_max_frame);
  std::string raw, out;
  std::vector<FrameEvent> events;
  for (;;) {
    raw.clear();
    // Endings are silent: any frame we sent now would be read as a reply. A client closing
    // mid-frame just ends the session; a Stop comes after every complete request was answered.
    if (const auto end = readClientInput(client, ctx, raw)) return *end;
    events.clear();
    frames.feed(raw, events);
    out.clear();
    for (const FrameEvent& ev : events) {
      if (ev.kind == FrameEventKind::TooLarge) {
        out += encodeFrame(rpcErrorReply(
            "frame-too-large", fmt::format("frame of {} bytes is above the limit of {} bytes",
                                           ev.length, settings.rpc_max_frame)));
        client.writeAll(out, writeTimeout(ctx));
        return SessionEnd::ProtocolError;
      }
      out += encodeFrame(handleRpcRequest(ev.body));
    }
    if (!out.empty() && !client.writeAll(out, writeTimeout(ctx))) {
      return SessionEnd::WriteFailed;
    }
  }
}

}  // namespace

std::span<const std::string_view> rpcMethods() { return kMethods; }

std::string rpcErrorReply(std::string_view code, std::string_view message) {
  json result = json::object();
  result["code"] = code;
  result["message"] = message;
  return reply("error", std::move(result));
}

std::string handleRpcRequest(std::string_view body) {
  std::string text = answer(body);
  // Replacement characters and reformatted numbers can make a reply longer than its request;
  // a frame's length field cannot describe more than 4 GiB.
  if (text.size() > std::numeric_limits<std::uint32_t>::max()) {
    return rpcErrorReply("bad-request", "the reply would not fit in one frame");
  }
  return text;
}

std::size_t jsonNestingDepth(std::string_view text) noexcept {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++depth > deepest) deepest = depth;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default: break;
    }
  }
  return deepest;
}

SessionEnd runRpcService(ClientConnection& client, const ServiceContext& ctx) {
  return serveRpc(client, ctx);
}

}  // namespace preforkd
