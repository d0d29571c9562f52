// Command line and configuration file for the preforkd executable (CLI11 + config_file.h).
//
// Contract: parseCommandLine() builds the effective SupervisorConfig in three layers:
// defaults < the file given with -c/--config (none unless given) < the flags actually given
// on the command line (CLI11 count(): a flag left out never overrides the file). It never
// throws and never starts anything; when main() must exit instead, the text is already
// printed and `exit_status` says how:
//   0  --help, --version, --list-services, -t/--check-config ("configuration OK"),
//      -T/--dump-config (the effective configuration as TOML on stdout)
//   64 a bad flag (message on stderr)
//   78 a bad configuration file: `file:line:col: message` lines on stderr (with --strict an
//      unknown key is one; otherwise it is a `file:line:col: warning: ...` line)
// `--worker-exec PROGRAM [ARGS...]` takes every argument after it, like env(1), so the
// worker's own flags need no quoting; it must come last.
//
// reloadConfiguration() is the SIGHUP path: it rebuilds the configuration from the same file
// and the same command-line flags (ReloadSource, kept from start-up), without printing.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/control_socket_path.h"
#include "supervisor/supervisor_config.h"
#include "worker/worker_options.h"

namespace preforkd {

// Exit statuses of the preforkd executable (sysexits.h values; documented in the README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 64;     // bad command line
inline constexpr int kExitSoftware = 70;  // internal error
inline constexpr int kExitStartup = 71;   // cannot bind, cannot create the control socket...
inline constexpr int kExitConfig = 78;    // bad configuration file (EX_CONFIG)

// What a reload needs to rebuild the configuration exactly as start-up did.
struct ReloadSource {
  std::vector<std::string> arguments;  // argv[1..], --worker-exec and its arguments included
  std::string config_path;             // from -c/--config; empty: no file
  bool strict = false;                 // --strict: unknown keys are errors
};

struct CommandLine {
  std::optional<SupervisorConfig> config;  // empty: exit with `exit_status`
  int exit_status = kExitOk;
  ReloadSource reload_source;  // valid when `config` is set
};

CommandLine parseCommandLine(int argc, char** argv);

// Re-reads the configuration file and re-applies the command-line flags of `source`. On
// failure returns nothing and sets *error to one line, e.g.
// "/etc/preforkd/preforkd.toml:12:11: pool.workers: must be between 1 and 4096, got 0"
// (several problems are joined with "; "). Warnings (unknown keys) are logged. Users and
// groups are not resolved here, and settings that only take effect at start-up (listen,
// backlog, control socket, log file, user, group) are returned as read: the caller decides.
std::optional<SupervisorConfig> reloadConfiguration(const ReloadSource& source, std::string* error);

// The defaults before any file or flag: listen 127.0.0.1:2323, the default control socket.
SupervisorConfig defaultConfiguration();

// defaultControlSocketPath() (the default of --control-socket) lives in
// common/control_socket_path.h, shared with preforkctl.

}  // namespace preforkd
