// Fuzz target: the control socket's command language (supervisor/control_commands.h), from the
// line the socket reads to the response it sends, with no supervisor behind it.
//
// Input: byte 0 sets up the peer and the actions (bit 0: admin peer; bit 1: every action
// refuses, with a reason that spans lines; bit 2: no actions at all, so every command is "not
// available"; bit 3: the reload is rejected). The rest is what a control client sends: it is
// cut into lines as the socket does (LF or CR LF), each line split with splitCommands(), each
// command parsed and executed (alternately through executeControlCommand() and a handler from
// makeControlHandler()) against harmless stub actions and a sample snapshot.
// Checked: the split's contract; a parse either gives a command or a reason, and a command's
// arguments are in their ranges; every command is answered exactly once (reload too: its stub
// calls `done` at once) with a well-formed body (lines ending in "\n", none empty; an error is
// one "ERROR " line); a parse error is an error answer; a read-only peer never reaches an admin
// action and is told "permission denied".
#include <climits>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "fuzz/fuzz_support.h"
#include "supervisor/control_commands.h"
#include "supervisor/pool_settings.h"
#include "tests/unit/stats_sample.h"

namespace preforkd {
namespace {

struct Setup {
  bool admin = false;
  bool refuse = false;
  bool no_actions = false;
  bool reload_rejected = false;
};

// Stub actions that record that an admin action ran and change nothing.
ControlActions stubActions(const Setup& setup, int& admin_calls) {
  ControlActions a;
  if (setup.no_actions) return a;
  const std::string result = setup.refuse ? "refused\r\nfor a reason on two lines" : "";
  a.snapshot = [] { return testing_sample::sample(); };
  a.set_workers = [&admin_calls, result](std::size_t) { ++admin_calls; return result; };
  a.set_policy = [&admin_calls, result](std::string_view) { ++admin_calls; return result; };
  a.drain_worker = [&admin_calls, result](pid_t) { ++admin_calls; return result; };
  a.kill_worker = [&admin_calls, result](pid_t) { ++admin_calls; return result; };
  a.kill_conn = [&admin_calls, result](ConnectionId) { ++admin_calls; return result; };
  a.clear_counters = [&admin_calls] { ++admin_calls; };
  a.reload = [&admin_calls, setup](const std::function<void(std::string)>& done) {
    ++admin_calls;
    done(setup.reload_rejected ? "the new configuration\nis broken" : "");
  };
  a.reopen_logs = [&admin_calls, result] { ++admin_calls; return result; };
  a.shutdown = [&admin_calls, result](bool) { ++admin_calls; return result; };
  return a;
}

void checkSplit(std::string_view line, const std::vector<std::string>& commands) {
  FUZZ_CHECK(!commands.empty());
  if (commands.size() == 1 && commands[0].empty()) return;  // a line with no command
  for (const std::string& c : commands) {
    FUZZ_CHECK(!c.empty());
    FUZZ_CHECK(c.find(';') == std::string::npos);
    FUZZ_CHECK(c.front() != ' ' && c.front() != '\t' && c.back() != ' ' && c.back() != '\t');
    FUZZ_CHECK(line.find(c) != std::string_view::npos);
  }
}

void checkParse(const ParsedCommand& parsed) {
  if (!parsed.command) {
    FUZZ_CHECK(!parsed.error.empty());
    return;
  }
  FUZZ_CHECK(parsed.error.empty());
  const ControlCommand& c = *parsed.command;
  switch (c.verb) {
    case ControlVerb::SetWorkers:
    case ControlVerb::ConnKill:
      FUZZ_CHECK(c.number > 0);
      break;
    case ControlVerb::WorkerDrain:
    case ControlVerb::WorkerKill:
      FUZZ_CHECK(c.number > 0 && c.number <= INT_MAX);
      break;
    case ControlVerb::SetPolicy:
      FUZZ_CHECK(parseDispatchPolicy(c.name).has_value());
      break;
    default:
      FUZZ_CHECK(c.number == 0 && c.name.empty());
      break;
  }
}

// "Lines ending in \n, none of them empty; errors are one line starting with ERROR ".
void checkResponse(const std::string& r) {
  FUZZ_CHECK(!r.empty() && r.back() == '\n');
  FUZZ_CHECK(r.front() != '\n' && r.find("\n\n") == std::string::npos);
  if (r.starts_with("ERROR ")) {
    FUZZ_CHECK(r.find('\n') == r.size() - 1);
    FUZZ_CHECK(r.find('\r') == std::string::npos);
  }
}

void runCommand(const std::string& command, const Setup& setup, bool via_handler) {
  const ParsedCommand parsed = parseControlCommand(command);
  checkParse(parsed);

  ControlPeer peer;
  peer.pid = 1234;
  peer.uid = setup.admin ? 0 : 65534;
  peer.level = setup.admin ? AccessLevel::Admin : AccessLevel::ReadOnly;
  int admin_calls = 0;
  int replies = 0;
  std::string response;
  ControlReply reply = [&](std::string r) {
    ++replies;
    response = std::move(r);
  };
  ControlActions actions = stubActions(setup, admin_calls);
  if (via_handler) {
    makeControlHandler(std::move(actions))(command, peer, reply);
  } else {
    executeControlCommand(command, peer, actions, reply);
  }
  FUZZ_CHECK(replies == 1);
  checkResponse(response);
  if (!parsed.command) {
    FUZZ_CHECK(response.starts_with("ERROR "));
    FUZZ_CHECK(admin_calls == 0);
    return;
  }
  if (requiredLevel(parsed.command->verb) == AccessLevel::Admin && !setup.admin) {
    FUZZ_CHECK(response.starts_with("ERROR permission denied: "));
    FUZZ_CHECK(admin_calls == 0);
  }
  if (requiredLevel(parsed.command->verb) == AccessLevel::ReadOnly) FUZZ_CHECK(admin_calls == 0);
}

}  // namespace
}  // namespace preforkd

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Admin commands and refusals are logged; the log is not under test and would flood.
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace preforkd;
  if (size == 0) return 0;
  const Setup setup{.admin = (data[0] & 1) != 0,
                    .refuse = (data[0] & 2) != 0,
                    .no_actions = (data[0] & 4) != 0,
                    .reload_rejected = (data[0] & 8) != 0};
  std::string_view input = fuzz::text(data + 1, size - 1);
  bool via_handler = false;
  // Lines as the socket reads them (evbuffer_readln with EVBUFFER_EOL_CRLF; a last line
  // without a terminator counts once the client half-closes).
  while (!input.empty()) {
    const std::size_t lf = input.find('\n');
    std::string_view line = input.substr(0, lf);
    input.remove_prefix(lf == std::string_view::npos ? input.size() : lf + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::vector<std::string> commands = splitCommands(line);
    checkSplit(line, commands);
    for (const std::string& command : commands) {
      runCommand(command, setup, via_handler);
      via_handler = !via_handler;
    }
  }
  return 0;
}
