// What a worker needs to know to serve clients; copied into the child at fork.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <spdlog/common.h>

namespace preforkd {

struct WorkerSettings {
  std::string service = "echo";
  bool banner = true;                              // false: byte-exact RFC 862 echo
  std::chrono::milliseconds idle_timeout{300'000};  // no client input for this long: close
  std::chrono::milliseconds max_session{0};         // a session may last this long; 0: no limit
  std::size_t max_line_bytes = 4096;              // longer line: one error line, then close
  std::uint64_t generation = 1;                    // which pool generation this worker belongs to
  std::uint64_t bytes_max = 16 * 1024 * 1024;      // bytes service: largest count a client may ask
  std::uint32_t rpc_max_frame = 1024 * 1024;       // rpc service: largest frame body in bytes
  spdlog::level::level_enum log_level = spdlog::level::info;
};

}  // namespace preforkd
