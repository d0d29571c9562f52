// The rpc service: length-prefixed JSON requests, wire-compatible with the seed's PreForking
// RPC server (struct.pack("I", len) + {"in": NAME, "params": VALUE}).
//
// Contract: each frame (worker/rpc_framing.h) carries one JSON request {"in": NAME, "params":
// VALUE}; "params" may be omitted (it then means null) and other members are ignored. Each is
// answered, in order, by one frame {"out": OUT, "result": RESULT}. Methods: ping (out "pong",
// result = params), echo (out "echo", result = params), methods (out "methods", result = the
// list of method names). Errors are answered with
//   {"out": "error", "result": {"code": CODE, "message": TEXT}}
// where CODE is unknown-method, invalid-json (also an empty body), bad-request (wrong shape, or
// nesting deeper than kRpcMaxDepth) or frame-too-large; after frame-too-large the connection is
// closed (no frame boundary is left to trust), after the others the session goes on. A client
// that closes mid-frame, idles past the idle timeout, reaches the session time limit
// (--max-session, checked between requests), or whose worker is asked to stop while it is
// between requests, is closed silently (an unsolicited frame would be taken for a reply).
// Replies are compact JSON, invalid UTF-8 replaced by U+FFFD, so building one cannot throw for
// anything a client sends. handleRpcRequest() is pure; runRpcService() is the thin I/O loop.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "worker/service.h"

namespace preforkd {

// Deeper JSON is refused before parsing: copying and serialising a value recurse once per
// level, so a 1 MiB frame of '[' would otherwise overflow the worker's stack.
inline constexpr std::size_t kRpcMaxDepth = 64;

// The method names, in the order "methods" lists them.
std::span<const std::string_view> rpcMethods();

// Answers one frame body with the reply's JSON text (never longer than a frame can carry).
std::string handleRpcRequest(std::string_view body);

// {"out":"error","result":{"code":...,"message":...}} as compact JSON.
std::string rpcErrorReply(std::string_view code, std::string_view message);

// The deepest nesting of arrays and objects in `text`, counting brackets outside strings only.
// Meant as a guard before parsing: it does not validate, and on invalid JSON it may be wrong.
std::size_t jsonNestingDepth(std::string_view text) noexcept;

SessionEnd runRpcService(ClientConnection& client, const ServiceContext& ctx);

}  // namespace preforkd
