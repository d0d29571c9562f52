// The line layer shared by every line-oriented service.
//
// Contract: runLineSession() owns the session loop: it writes the handler's greeting, filters
// telnet (worker/telnet.h), splits lines (worker/line_protocol.h: CR LF, LF, CR NUL; Ctrl-C
// discards the line; Ctrl-D at the start of a line ends the session), enforces the line limit
// (one error line, then close), the idle timeout and the session time limit (--max-session;
// one line each, then close), reacts to Stop (a goodbye line at the next read) and calls the
// handler once per complete line. Replies are written with a bounded wait (writeTimeout()).
// The handler is plain code with no I/O, so it is unit-testable.
#pragma once

#include <string>
#include <string_view>

#include "worker/service.h"

namespace preforkd {

enum class LineAction { Continue, Close };

class LineHandler {
 public:
  virtual ~LineHandler() = default;
  // Written when the session starts (may be empty).
  virtual std::string greeting() { return {}; }
  // Handles one line (terminator removed); appends the reply, CR LF terminated, to `out`.
  // Close: write `out`, then end the session as ClientQuit.
  virtual LineAction onLine(std::string_view line, std::string& out) = 0;
};

SessionEnd runLineSession(ClientConnection& client, const ServiceContext& ctx,
                          LineHandler& handler);

}  // namespace preforkd
