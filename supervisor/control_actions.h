// ControlActions: what the control socket may ask of the supervisor. The supervisor fills in
// every member; the command language (control_commands) calls them.
//
// Contract: each action runs inside the supervisor's event loop and must not throw. An action
// returns an empty string on success or a one-line reason on refusal (the command layer adds
// the "ERROR " prefix). `reload` is asynchronous: it calls `done` once the new generation is
// ready ("" ) or the reload was rejected (the reason); `done` may be called after the control
// client has gone (the command layer must tolerate that).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/status_protocol.h"
#include "supervisor/stats.h"

namespace preforkd {

struct ControlActions {
  std::function<StatsSnapshot()> snapshot;
  std::function<std::string(std::size_t workers)> set_workers;
  std::function<std::string(std::string_view policy)> set_policy;
  std::function<std::string(pid_t pid)> drain_worker;  // stop after its current client
  std::function<std::string(pid_t pid)> kill_worker;   // SIGTERM now (SIGKILL after the grace)
  std::function<std::string(ConnectionId id)> kill_conn;  // close a queued conn / kill its child
  std::function<void()> clear_counters;
  std::function<void(std::function<void(std::string error)> done)> reload;
  std::function<std::string()> reopen_logs;
  std::function<std::string(bool graceful)> shutdown;
  std::function<std::string(bool on)> drain;  // enter (true) or leave the drain state
};

}  // namespace preforkd
