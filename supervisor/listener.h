// Listener: one bound, listening TCP socket, and accept() with its errors classified.
//
// Contract: openListener() binds a numeric address (SO_REUSEADDR; IPV6_V6ONLY for IPv6 so
// [::] and 0.0.0.0 can coexist), listens, and reports the bound address (port 0 becomes the
// real port). Failure is a start-up error: std::runtime_error with the address and reason.
// acceptOne() never blocks (the socket is non-blocking) and sorts errors into what the
// caller must do: try again now, stop until readable, or back off (fd/memory exhaustion:
// retrying at once would spin the loop). setClientReadWake() sets the read timeout every
// socket accepted from a listener inherits (common/client_read_wake.h); zero clears it.
#pragma once

#include <chrono>
#include <string>

#include "common/socket_address.h"
#include "common/unique_fd.h"

namespace preforkd {

struct Listener {
  UniqueFd fd;
  std::string address;  // numeric bound address, e.g. "127.0.0.1:41234"
};

Listener openListener(const SocketAddress& addr, int backlog);

// Throws std::runtime_error naming the listener if setsockopt fails.
void setClientReadWake(const Listener& listener, std::chrono::milliseconds period);

enum class AcceptOutcome {
  Accepted,
  Drained,        // EAGAIN: nothing left in the backlog
  Transient,      // the client went away first (ECONNABORTED...): try the next one
  ResourceLimit,  // EMFILE, ENFILE, ENOBUFS, ENOMEM: back off, then retry
};

struct AcceptResult {
  AcceptOutcome outcome = AcceptOutcome::Drained;
  UniqueFd fd;         // Accepted: blocking, CLOEXEC
  SocketAddress peer;  // Accepted: formatted only when someone logs it
  int error = 0;     // errno otherwise
};

AcceptResult acceptOne(int listen_fd);

}  // namespace preforkd
