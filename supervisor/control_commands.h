// The control socket's command language: parse one command, check the peer's access level,
// run it against the ControlActions and produce the response body.
//
// Contract: splitCommands() and parseControlCommand() are pure. executeControlCommand()
// answers through `reply` exactly once: at once for every command but `reload`, which
// answers when the reload's `done` fires. A response body is lines ending in "\n", none of
// them empty (the socket adds the empty line that ends every response); errors are one line
// starting with "ERROR ". Admin commands from a read-only peer are refused with
// "ERROR permission denied: ..." and logged with the peer's pid and uid. Nothing here throws
// (a failing action becomes an ERROR answer). `prompt` and `quit` are connection state and
// are handled by the socket (control_socket.h); `help` lists them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/control_access.h"
#include "supervisor/control_actions.h"

namespace preforkd {

enum class ControlVerb {
  Help,
  ShowInfo,
  ShowWorkers,
  ShowConns,
  ShowHist,
  ShowMetrics,
  SetWorkers,
  SetPolicy,
  WorkerDrain,
  WorkerKill,
  ConnKill,
  ClearCounters,
  Reload,
  ReopenLogs,
  Shutdown,
  ShowAgent,
  Drain,
  Undrain,
};

struct ControlCommand {
  ControlVerb verb = ControlVerb::Help;
  bool json = false;         // show ... json
  std::uint64_t number = 0;  // set workers N, worker drain/kill PID, conn kill ID
  std::string name;          // set policy NAME
  bool graceful = true;      // shutdown [graceful|now]
};

struct ParsedCommand {
  std::optional<ControlCommand> command;
  std::string error;  // when !command: the reason, without the "ERROR " prefix
};

// Splits one line into its ';'-separated commands, each trimmed of blanks; empty pieces are
// dropped, except that a line with no command at all gives one empty command (which then
// answers "ERROR empty command").
std::vector<std::string> splitCommands(std::string_view line);

ParsedCommand parseControlCommand(std::string_view command);

AccessLevel requiredLevel(ControlVerb verb) noexcept;

using ControlReply = std::function<void(std::string response)>;
using ControlHandler =
    std::function<void(std::string_view command, const ControlPeer& peer, ControlReply reply)>;

void executeControlCommand(std::string_view command, const ControlPeer& peer,
                           const ControlActions& actions, const ControlReply& reply);

// The socket's handler: executeControlCommand() over `actions` (kept by the handler).
ControlHandler makeControlHandler(ControlActions actions);

}  // namespace preforkd
