// Everything the supervisor needs, already validated (by the CLI) before it is built.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <spdlog/common.h>

#include "common/socket_address.h"
#include "worker/worker_settings.h"

namespace preforkd {

struct SupervisorConfig {
  std::vector<SocketAddress> listen;  // at least one
  int backlog = 511;
  std::size_t workers = 4;
  WorkerSettings worker;
  std::vector<std::string> worker_exec;  // non-empty: fork+exec this program as each worker
  std::string control_socket;  // empty: no control socket
  std::chrono::milliseconds shutdown_timeout{10'000};  // busy children get this long to finish
  std::chrono::milliseconds kill_grace{2'000};         // after SIGTERM, before SIGKILL
  spdlog::level::level_enum log_level = spdlog::level::info;
};

}  // namespace preforkd
