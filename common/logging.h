// Process-wide logging setup (spdlog, synchronous, stderr).
//
// Contract: call setupLogging() once in the supervisor at start-up and once more in each
// worker right after fork: it drops every existing logger and builds a fresh synchronous one,
// so no logger state (or thread: there are none) crosses fork. Lines name the role and pid,
// e.g. "... [worker 1234] info: ...". Never logs from a signal handler.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace preforkd {

void setupLogging(std::string_view role, spdlog::level::level_enum level);

// Reopens log files (SIGUSR1, `reopen-logs`): after logrotate moved them. A no-op while
// logging goes to stderr only. Returns "" or why it failed (logging continues either way).
std::string reopenLogs();

// Parses "trace|debug|info|warn|error|critical|off".
std::optional<spdlog::level::level_enum> parseLogLevel(std::string_view text);

}  // namespace preforkd
