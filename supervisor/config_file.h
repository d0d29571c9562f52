// The configuration file: TOML (toml++) onto a SupervisorConfig, and back.
//
// Contract: applyConfigFile() reads one TOML file and applies every key it sets onto
// `config`; keys it does not set keep the value they had (the caller starts from the
// defaults and applies the command-line flags afterwards: defaults < file < flags). Every
// problem is a ConfigDiagnostic naming the file, line and column of the offending key or value
// (from toml++'s source regions), printed as `file:line:col: message`. Nothing here prints,
// logs, resolves users or touches the network: cli.cpp decides what to show and the exit
// status. renderConfig() is a pure renderer whose output applyConfigText() accepts and maps
// back to the same configuration (tested).
//
// Layout (docs: systemd/preforkd.toml, every key with its default):
//   [server] listen, backlog            [pool] mode, workers, min_spare, ... policy
//   [limits] lifetime and deadlines      [overload] queue, busy_message, ...
//   [worker] service, banner, ... exec   [control] socket
//   [log] level, file                    [process] user, group, allow_root_workers
// Keys that have a command-line flag use the flag's name with underscores ("--min-spare" is
// [pool] min_spare). Durations are strings such as "500ms", "30s", "5m", or integers of
// seconds. Ranges are the flags' ranges.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/supervisor_config.h"

namespace preforkd {

// Ranges shared by the command-line flags (cli.cpp) and the file's keys.
inline constexpr std::size_t kMaxSpawnRateLimit = 1024;
inline constexpr std::size_t kMaxQueueLimit = std::size_t{1} << 20;
inline constexpr int kMaxBacklog = 65535;

struct SourcePosition {
  std::string file;
  std::uint32_t line = 0;    // 0: the whole file (no position)
  std::uint32_t column = 0;
};

struct ConfigDiagnostic {
  SourcePosition where;
  std::string message;
  // "file:line:col: message", or "file: message" without a position.
  std::string format() const;
};

enum class UnknownKeys { Warn, Reject };

struct ConfigFileResult {
  std::vector<ConfigDiagnostic> errors;
  std::vector<ConfigDiagnostic> warnings;
  // Where each key that the file set has its value, by "table.key" (e.g. "process.user").
  std::map<std::string, SourcePosition> positions;
  bool ok() const { return errors.empty(); }
};

// Reads and applies the file at `path` (diagnostics name it as given).
ConfigFileResult applyConfigFile(const std::string& path, UnknownKeys unknown,
                                 SupervisorConfig& config);
// The same for TOML text; `source_name` is the file name used in diagnostics.
ConfigFileResult applyConfigText(std::string_view text, const std::string& source_name,
                                 UnknownKeys unknown, SupervisorConfig& config);

// The configuration as a TOML document with every key (durations as "30s"/"250ms").
std::string renderConfig(const SupervisorConfig& config);

// A rule that spans several settings is broken (validatePoolSettings): the keys involved
// ("pool.min_spare", "pool.max_spare"), the first one named first, and why.
struct ConfigProblem {
  std::vector<std::string> keys;
  std::string message;
};
std::optional<ConfigProblem> checkConsistency(const SupervisorConfig& config);

// Every key as "table.key", in the order the file documents them.
std::vector<std::string> configKeyNames();

// The integer keys' accepted ranges (inclusive), for tests that hold flags and keys together.
struct IntegerKeyRange {
  std::string key;
  std::uint64_t min = 0;
  std::uint64_t max = 0;
};
std::vector<IntegerKeyRange> configIntegerRanges();

}  // namespace preforkd
