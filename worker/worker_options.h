// Command-line options that configure workers, shared by `preforkd` and `preforkd-worker`.
//
// Contract: addWorkerOptions() registers the flags on a CLI11 app, bound to `raw`;
// applyWorkerOptions() turns the parsed text into WorkerSettings (CLI11 validators have
// already rejected bad values, so it cannot fail). Also lists the built-in services.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "worker/worker_settings.h"

namespace preforkd {

struct WorkerOptionText {
  std::string service = "echo";
  bool no_banner = false;
  std::string idle_timeout = "300s";
  std::string max_session = "0";
  std::size_t max_line = 4096;
  std::uint64_t bytes_max = 16 * 1024 * 1024;
  std::uint32_t rpc_max_frame = 1024 * 1024;
  std::string log_level = "info";
};

void addWorkerOptions(CLI::App& app, WorkerOptionText& raw);
WorkerSettings applyWorkerOptions(const WorkerOptionText& raw);

// "250ms", "10s", "5m", "1h", or a plain number of seconds.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

// CLI11 validators: a positive duration; a duration where 0 means "no limit".
CLI::Validator positiveDuration();
CLI::Validator durationOrZero();

// "NAME  description" lines, one per built-in service.
std::string listServices();

}  // namespace preforkd
