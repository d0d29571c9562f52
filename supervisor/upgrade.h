// Hot upgrade (SIGUSR2): start the (possibly new) preforkd binary as a child that inherits the
// listening sockets, and let it take over once its workers are Ready.
//
// The handshake runs over a SOCK_SEQPACKET pair (the "upgrade channel"):
//   new -> old  "ready"         its first generation is Ready; it is accepting
//   old -> new  "conn" + fd     each connection the old one had queued (SCM_RIGHTS)
//   old -> new  "done"          then the old one closes the channel, stops accepting,
//                               lets its busy workers finish and exits
// If the new process exits or misses the deadline before "ready", the old one kills it (if
// needed) and keeps serving. The listeners are never closed in between, so no client is
// refused: until the old one stops accepting, both accept from the same sockets.
//
// Contract: startUpgrade() forks and execs `exe` with `argv` (argv[0] included), the listeners
// on fds 3.. (LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES, see inherited_listeners.h), the channel on
// the next fd (PREFORKD_UPGRADE_FD) and PREFORKD_FIRST_GENERATION; it returns the child's pid
// and the old side's channel end (non-blocking). Throws std::system_error when fork or
// socketpair fail; an exec failure shows as the child exiting 127. takeUpgradeChannel() is the
// new side: it returns the channel named by PREFORKD_UPGRADE_FD (and unsets the variable), or
// an empty fd when this process was not started by an upgrade.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "supervisor/pool_settings.h"

namespace preforkd {

inline constexpr std::string_view kUpgradeReady = "ready";
inline constexpr std::string_view kUpgradeConn = "conn";
inline constexpr std::string_view kUpgradeDone = "done";
inline constexpr int kUpgradeExecFailed = 127;

struct UpgradeChild {
  pid_t pid = -1;
  UniqueFd channel;
};

// `listener_names` (LISTEN_FDNAMES) tells the successor what each socket is: "listen" for
// the service, "agent" for the agent endpoint.
UpgradeChild startUpgrade(const std::string& exe, const std::vector<std::string>& argv,
                          const std::vector<int>& listener_fds,
                          const std::vector<std::string>& listener_names,
                          Generation first_generation);

UniqueFd takeUpgradeChannel();
// PREFORKD_FIRST_GENERATION when set by the previous binary (and unsets it), else 1.
Generation takeFirstGeneration();

// The path of the running executable, resolved at start-up: a package upgrade replaces the
// file, and exec'ing this path then runs the new binary.
std::string currentExecutable();

}  // namespace preforkd
