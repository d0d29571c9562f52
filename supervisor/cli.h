// Command-line parsing for the preforkd executable (CLI11).
//
// Contract: parseCommandLine() turns argv into a validated SupervisorConfig, or tells main()
// to exit: after --help/--version/--list-services (status 0, text already printed) or on a bad
// value (status 64, a clear message already printed on stderr). It never throws and never
// starts anything. `--worker-exec PROGRAM [ARGS...]` takes every argument after it, like
// env(1), so the worker's own flags need no quoting; it must come last.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/control_socket_path.h"
#include "supervisor/supervisor_config.h"
#include "worker/worker_options.h"

namespace preforkd {

// Exit statuses of the preforkd executable (sysexits.h values; documented in the README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 64;     // bad command line
inline constexpr int kExitSoftware = 70;  // internal error
inline constexpr int kExitStartup = 71;   // cannot bind, cannot create the control socket...

struct CommandLine {
  std::optional<SupervisorConfig> config;  // empty: exit with `exit_status`
  int exit_status = kExitOk;
};

CommandLine parseCommandLine(int argc, char** argv);

// defaultControlSocketPath() (the default of --control-socket) lives in
// common/control_socket_path.h, shared with preforkctl.

}  // namespace preforkd
