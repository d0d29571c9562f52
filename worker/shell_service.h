// The shell service: a small telnet-friendly command interpreter on the shared line layer.
//
// Contract: ShellHandler (a LineHandler, no I/O) answers one command per line, every reply line
// ending in CR LF. Verbs are case-insensitive; argument text is kept as typed. Commands: HELP,
// PING, ECHO <text>, TIME (UTC, ISO 8601 to the second), INFO (key: value lines about this
// worker and connection), QUIT / EXIT. Every error is one line starting with "ERR " and the
// session goes on; an empty (or all-blank) line gets no reply. Both clocks are injected, so the
// handler is deterministic under test. runShellService() wires it to runLineSession().
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "worker/line_session.h"
#include "worker/service.h"

namespace preforkd {

// What INFO reports; fixed for the whole session.
struct ShellFacts {
  pid_t worker_pid = 0;
  std::uint64_t generation = 0;
  std::uint64_t served_before = 0;  // connections this worker finished before this one
  ConnectionId conn_id = 0;
  std::string peer{};               // numeric address of the client
  std::chrono::steady_clock::time_point started_at{};
};

// TIME reads the wall clock, INFO's age reads the monotonic one (it must not jump with NTP).
struct ShellClocks {
  std::function<std::chrono::system_clock::time_point()> utc_now = [] {
    return std::chrono::system_clock::now();
  };
  std::function<std::chrono::steady_clock::time_point()> steady_now = [] {
    return std::chrono::steady_clock::now();
  };
};

class ShellHandler final : public LineHandler {
 public:
  explicit ShellHandler(ShellFacts facts, ShellClocks clocks = {});
  std::string greeting() override;
  LineAction onLine(std::string_view line, std::string& out) override;

 private:
  ShellFacts facts_;
  ShellClocks clocks_;
};

// "2026-11-24T14:22:23Z": UTC, truncated to the second (also before 1970).
std::string formatUtcIso8601(std::chrono::system_clock::time_point when);

SessionEnd runShellService(ClientConnection& client, const ServiceContext& ctx);

}  // namespace preforkd
