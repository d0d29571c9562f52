#include "worker/shell_service.h"

#include <utility>

#include <fmt/format.h>

#include "worker/echo_service.h"

namespace preforkd {
namespace {

constexpr std::string_view kBlanks = " \t";

constexpr std::string_view kHelp =
    "commands (any case):\r\n"
    "  HELP          this list\r\n"
    "  PING          answers PONG\r\n"
    "  ECHO <text>   answers <text> as typed\r\n"
    "  TIME          current UTC time, ISO 8601\r\n"
    "  INFO          worker and connection details\r\n"
    "  QUIT, EXIT    close the connection (Ctrl-D at the start of a line does too)\r\n";

// A line split into its verb and the argument text after the first run of blanks following it.
struct CommandLine {
  std::string_view verb;  // as typed
  std::string_view args;  // as typed, including any trailing blanks
};

CommandLine splitCommand(std::string_view line) {
  CommandLine cmd;
  const auto verb_start = line.find_first_not_of(kBlanks);
  if (verb_start == std::string_view::npos) return cmd;
  line.remove_prefix(verb_start);
  const auto verb_end = line.find_first_of(kBlanks);
  cmd.verb = line.substr(0, verb_end);
  if (verb_end == std::string_view::npos) return cmd;
  const auto args_start = line.find_first_not_of(kBlanks, verb_end);
  if (args_start != std::string_view::npos) cmd.args = line.substr(args_start);
  return cmd;
}

void appendLine(std::string& out, std::string_view text) {
  out += text;
  out += "\r\n";
}

std::string upperCase(std::string_view text) {
  std::string upper(text);
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return upper;
}

// Milliseconds, floored, as "seconds.mmm"; a clock that went backwards reads as zero.
std::string formatAgeSeconds(std::chrono::steady_clock::duration age) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
  if (ms <= 0) return "0.000";
  return fmt::format("{}.{:03}", ms / 1000, ms % 1000);
}

}  // namespace

std::string formatUtcIso8601(std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  // floor, not duration_cast: before 1970 the latter would round toward zero, into the wrong day.
  const auto secs = floor<seconds>(when);
  const auto day = floor<days>(secs);
  const year_month_day ymd{day};
  const hh_mm_ss hms{secs - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

ShellHandler::ShellHandler(ShellFacts facts, ShellClocks clocks)
    : facts_(std::move(facts)), clocks_(std::move(clocks)) {}

std::string ShellHandler::greeting() {
  return fmt::format("preforkd shell service, worker pid {}, connection {}. "
                     "Type HELP for commands.\r\n",
                     facts_.worker_pid, facts_.conn_id);
}

LineAction ShellHandler::onLine(std::string_view line, std::string& out) {
  const CommandLine cmd = splitCommand(line);
  if (cmd.verb.empty()) return LineAction::Continue;  // an empty line is not a command
  const std::string verb = normalizeCommand(cmd.verb);

  if (verb == "echo") {
    if (cmd.args.empty()) {
      appendLine(out, "ERR ECHO needs an argument: ECHO <text>");
    } else {
      appendLine(out, cmd.args);
    }
    return LineAction::Continue;
  }

  const bool known = verb == "help" || verb == "ping" || verb == "time" || verb == "info" ||
                     verb == "quit" || verb == "exit";
  if (!known) {
    out += fmt::format("ERR unknown command '{}' (try HELP)\r\n", cmd.verb);
    return LineAction::Continue;
  }
  // Every other command takes no argument; refusing extras keeps typos from passing silently.
  if (!cmd.args.empty()) {
    out += fmt::format("ERR {} takes no arguments\r\n", upperCase(verb));
    return LineAction::Continue;
  }

  if (verb == "quit" || verb == "exit") {
    appendLine(out, "Goodbye.");
    return LineAction::Close;
  }
  if (verb == "help") {
    out += kHelp;
  } else if (verb == "ping") {
    appendLine(out, "PONG");
  } else if (verb == "time") {
    appendLine(out, formatUtcIso8601(clocks_.utc_now()));
  } else {  // info
    out += fmt::format("worker_pid: {}\r\n"
                       "generation: {}\r\n"
                       "served: {}\r\n"
                       "connection: {}\r\n"
                       "peer: {}\r\n"
                       "age_s: {}\r\n",
                       facts_.worker_pid, facts_.generation, facts_.served_before,
                       facts_.conn_id, facts_.peer,
                       formatAgeSeconds(clocks_.steady_now() - facts_.started_at));
  }
  return LineAction::Continue;
}

SessionEnd runShellService(ClientConnection& client, const ServiceContext& ctx) {
  ShellHandler handler({.worker_pid = ctx.info.worker_pid,
                        .generation = ctx.settings.generation,
                        .served_before = ctx.served_before,
                        .conn_id = ctx.info.conn_id,
                        .peer = client.peer(),
                        .started_at = ctx.started_at});
  return runLineSession(client, ctx, handler);
}

}  // namespace preforkd
