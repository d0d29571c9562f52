// Everything the supervisor needs, already validated (by the CLI) before it is built.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <spdlog/common.h>

#include "common/socket_address.h"
#include "supervisor/agent_settings.h"
#include "supervisor/control_settings.h"
#include "supervisor/pool_settings.h"
#include "worker/worker_settings.h"

namespace preforkd {

struct SupervisorConfig {
  std::vector<SocketAddress> listen;  // at least one
  int backlog = 511;
  PoolSettings pool;
  LifecycleSettings lifecycle;
  OverloadSettings overload;
  WorkerSettings worker;
  std::vector<std::string> worker_exec;  // non-empty: fork+exec this program as each worker
  std::string control_socket;  // empty: no control socket
  ControlSettings control;     // its mode, group, admin group and bounds
  AgentSettings agent;         // the HAProxy agent-check endpoint (off by default)
  spdlog::level::level_enum log_level = spdlog::level::info;
  std::string log_file;           // empty: stderr (journald under systemd); see common/logging.h
  std::string user;               // empty: keep the identity preforkd was started with
  std::string group;              // empty: the user's primary group
  bool allow_root_workers = false;  // started as root without `user`: refuse unless set
};

}  // namespace preforkd
