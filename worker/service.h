// A service: what a worker runs for each client connection it is handed.
//
// Contract: a service is a function that serves exactly one client over a ClientConnection
// (every wait bounded) and returns how the session ended; it runs inside a worker process, must
// not throw for anything a client sends (the worker contains anything else it throws), and never touches the channel itself (it asks
// ctx.host when ClientConnection reports ChannelReadable). Line-oriented services implement
// LineHandler and call runLineSession (worker/line_session.h), which supplies the shared line
// layer; binary services read and write the connection directly. Adding a service is one file
// plus one line in worker/service_registry.cpp (docs/services.md has a complete example).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "worker/client_connection.h"
#include "worker/session.h"
#include "worker/session_deadline.h"
#include "worker/worker_settings.h"

namespace preforkd {

struct ServiceContext {
  const WorkerSettings& settings;
  SessionInfo info;
  SessionHost& host;
  std::uint64_t served_before = 0;             // connections this worker finished before this one
  std::chrono::steady_clock::time_point started_at{};  // when the connection was taken
};

// The session's --max-session deadline, counted from ctx.started_at.
inline SessionDeadline sessionDeadline(const ServiceContext& ctx) {
  return SessionDeadline(ctx.started_at, ctx.settings.max_session);
}

// The timeout for a write to the client: the idle timeout, cut at the session deadline (plus
// SessionDeadline::kSessionEndWriteGrace). Services pass it to ClientConnection::writeAll.
std::chrono::milliseconds writeTimeout(const ServiceContext& ctx);

using ServiceFunction = SessionEnd (*)(ClientConnection& client, const ServiceContext& ctx);

// Waits (bounded by the idle timeout and the session deadline) for the next client input and
// appends it to `raw`. Returns nothing when input arrived; otherwise how the session ends: the
// client closed, the idle timeout passed, the session lasted --max-session (checked before every
// read, so a client that never pauses is cut off too), the supervisor asked us to Stop
// (services call this only between requests, so that is always a request boundary) or went
// away. Shared by every service so they all treat the channel and the limits the same way.
std::optional<SessionEnd> readClientInput(ClientConnection& client, const ServiceContext& ctx,
                                          std::string& raw);
// The same, reading into `into` (not empty) instead: `got` says how much arrived. For a
// service that answers from the bytes as they come (raw echo): no copy, no allocation.
std::optional<SessionEnd> readClientInput(ClientConnection& client, const ServiceContext& ctx,
                                          std::span<char> into, std::size_t& got);

struct ServiceDefinition {
  std::string_view name;
  std::string_view description;  // one line, for --list-services
  ServiceFunction run;
};

}  // namespace preforkd
