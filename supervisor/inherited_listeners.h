// Inherited listeners: listening sockets passed in by systemd socket activation or by the
// previous preforkd binary during a hot upgrade (SIGUSR2). Both use the same protocol
// (sd_listen_fds(3)): LISTEN_PID = our pid, LISTEN_FDS = N, the sockets on fds 3 .. 3+N-1,
// optional LISTEN_FDNAMES = colon-separated names.
//
// Contract: takeInheritedListeners() returns nothing when the variables are absent or
// LISTEN_PID is another process's (they were meant for someone else). Otherwise it takes
// ownership of every passed fd (CLOEXEC set), checks each is a listening TCP stream socket
// and throws std::runtime_error naming the fd when one is not. It always unsets the three
// variables, so no child ever sees them.
#pragma once

#include <string>
#include <vector>

#include "supervisor/listener.h"

namespace preforkd {

inline constexpr int kListenFdsStart = 3;

struct InheritedListener {
  Listener listener;  // fd + numeric bound address
  std::string name;   // from LISTEN_FDNAMES ("" when absent)
};

std::vector<InheritedListener> takeInheritedListeners();

}  // namespace preforkd
