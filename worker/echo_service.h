// The echo service: a telnet-friendly line echo with a banner and two commands, or (with
// banner off) a byte-exact RFC 862 echo for benchmarks.
//
// Line mode (EchoHandler on the shared line layer): banner naming the worker pid; each line is
// echoed with CR LF; `help` lists the commands; `quit` / `exit` (any case) says goodbye and
// closes. Raw mode (--no-banner): every byte read is written back unchanged; nothing else is
// ever sent, and the line layer is bypassed.
#pragma once

#include "worker/line_session.h"
#include "worker/service.h"

namespace preforkd {

class EchoHandler final : public LineHandler {
 public:
  explicit EchoHandler(const SessionInfo& info) : info_(info) {}
  std::string greeting() override;
  LineAction onLine(std::string_view line, std::string& out) override;

 private:
  SessionInfo info_;
};

SessionEnd runEchoService(ClientConnection& client, const ServiceContext& ctx);

// "  QuIt " -> "quit": commands are case-insensitive and surrounding blanks do not count.
std::string normalizeCommand(std::string_view text);

}  // namespace preforkd
