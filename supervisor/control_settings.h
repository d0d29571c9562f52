// ControlSettings: who may reach the control socket and what they may do there.
//
// Contract: plain values filled by the CLI (--control-mode, --control-group,
// --control-admin-group, --control-idle-timeout) and validated there (mode <= 0777); group
// names are resolved when the socket is created (an unknown group is a start-up error). The
// socket's mode and group decide who may connect; every peer that can connect may run the
// read-only commands, and root, the daemon's own effective uid and members of `admin_group`
// may also run the admin ones (supervisor/control_access.h).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>

namespace preforkd {

struct ControlSettings {
  mode_t mode = 0600;          // permission bits of the socket file
  std::string group;           // "": keep the daemon's group; otherwise chgrp the socket file
  std::string admin_group;     // "": only root and the daemon's user are admins
  std::size_t max_clients = 64;
  std::size_t max_command_bytes = 4096;  // one line (which may hold several ';' commands)
  std::chrono::milliseconds idle_timeout{60'000};  // no input, or no output progress
};

}  // namespace preforkd
