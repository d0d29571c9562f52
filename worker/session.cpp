#include "worker/session.h"

namespace preforkd {

const char* toString(SessionEnd end) noexcept {
  switch (end) {
    case SessionEnd::ClientQuit: return "client-quit";
    case SessionEnd::ClientClosed: return "client-closed";
    case SessionEnd::IdleTimeout: return "idle-timeout";
    case SessionEnd::SessionLimit: return "session-limit";
    case SessionEnd::LineTooLong: return "line-too-long";
    case SessionEnd::ProtocolError: return "protocol-error";
    case SessionEnd::Stopped: return "stopped";
    case SessionEnd::SupervisorGone: return "supervisor-gone";
    case SessionEnd::WriteFailed: return "write-failed";
    case SessionEnd::Error: return "error";
  }
  return "?";
}

}  // namespace preforkd
