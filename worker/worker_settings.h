// What a worker needs to know to serve clients; copied into the child at fork.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include <spdlog/common.h>

namespace preforkd {

struct WorkerSettings {
  std::string service = "echo";
  bool banner = true;                              // false: byte-exact RFC 862 echo
  std::chrono::milliseconds idle_timeout{300'000};  // no client input for this long: close
  std::size_t max_line_bytes = 4096;              // longer line: one error line, then close
  spdlog::level::level_enum log_level = spdlog::level::info;
};

}  // namespace preforkd
