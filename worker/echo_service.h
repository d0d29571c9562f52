// The echo service: a telnet-friendly line echo with a banner and two commands, or (with
// banner off) a byte-exact RFC 862 echo for benchmarks.
//
// Line mode: banner naming the worker pid; each line is echoed with CR LF; `help` lists the
// commands; `quit` / `exit` (any case) or Ctrl-D at the start of a line says goodbye and
// closes. Telnet negotiation is refused politely (TelnetFilter) and Ctrl-C discards the line.
// Raw mode: every byte read is written back unchanged; nothing else is ever sent.
#pragma once

#include "worker/client_connection.h"
#include "worker/session.h"
#include "worker/worker_settings.h"

namespace preforkd {

SessionEnd runEchoSession(ClientConnection& client, const WorkerSettings& settings,
                          const SessionInfo& info, SessionHost& host);

}  // namespace preforkd
