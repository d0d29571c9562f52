// What every service session gets from the worker, and how it ends.
//
// Contract: a session runs inside a worker process, serves exactly one client with blocking-
// simple code (every wait bounded by ClientConnection), and returns how it ended. It never
// reads the channel itself: when ClientConnection reports ChannelReadable it asks the host,
// which decodes the command; Stop means "finish at the next request boundary".
#pragma once

#include <sys/types.h>

#include "common/status_protocol.h"

namespace preforkd {

class SessionHost {
 public:
  virtual ~SessionHost() = default;
  // Reads the pending channel command. Returns true once the supervisor has asked us to stop.
  virtual bool checkChannel() = 0;
};

enum class SessionEnd {
  ClientQuit,      // quit/exit/Ctrl-D
  ClientClosed,    // EOF or reset from the client
  IdleTimeout,
  SessionLimit,    // the session lasted --max-session (however busy the client was)
  LineTooLong,
  ProtocolError,   // a request the service cannot accept (bad byte count, oversized frame)
  Stopped,         // the supervisor asked the worker to stop
  SupervisorGone,  // the channel hung up
  WriteFailed,     // the client stopped reading or vanished while we wrote
  Error,
};

struct SessionInfo {
  ConnectionId conn_id = 0;
  pid_t worker_pid = 0;
};

const char* toString(SessionEnd end) noexcept;

}  // namespace preforkd
