// The shell service: ShellHandler table-driven with fixed clocks, the UTC formatter, and the
// whole session over a real socketpair.
#include "worker/shell_service.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/unit/service_session.h"

namespace preforkd {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

using testing_support::LiveSession;

WorkerSettings testSettings() {
  WorkerSettings s;
  s.idle_timeout = 3s;
  s.generation = 7;
  return s;
}

// --- ShellHandler ----------------------------------------------------------------------------

const steady_clock::time_point kStarted = steady_clock::time_point{} + 10s;
const system_clock::time_point kNow = sys_days{year{2026} / 11 / 24} + 14h + 22min + 23s + 750ms;

ShellHandler makeHandler() {
  ShellClocks clocks;
  clocks.utc_now = [] { return kNow; };
  clocks.steady_now = [] { return kStarted + 12s + 345678us; };
  return ShellHandler({.worker_pid = 4242,
                       .generation = 7,
                       .served_before = 3,
                       .conn_id = 99,
                       .peer = "192.0.2.1:5555",
                       .started_at = kStarted},
                      std::move(clocks));
}

constexpr std::string_view kInfo =
    "worker_pid: 4242\r\n"
    "generation: 7\r\n"
    "served: 3\r\n"
    "connection: 99\r\n"
    "peer: 192.0.2.1:5555\r\n"
    "age_s: 12.345\r\n";

struct Case {
  const char* name;
  std::string line;
  std::string out;
  LineAction action = LineAction::Continue;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

const Case kCases[] = {
    {"Empty", "", ""},
    {"BlanksOnly", " \t ", ""},
    {"Ping", "PING", "PONG\r\n"},
    {"PingLowerCase", "ping", "PONG\r\n"},
    {"PingMixedCaseWithBlanks", "  PiNg \t", "PONG\r\n"},
    {"PingWithArgument", "PING x", "ERR PING takes no arguments\r\n"},
    {"PingArgumentNamedInUpperCase", "ping x", "ERR PING takes no arguments\r\n"},
    {"Echo", "ECHO hello", "hello\r\n"},
    {"EchoKeepsCaseAndInnerBlanks", "echo   Two  Spaces  ", "Two  Spaces  \r\n"},
    {"EchoAfterTab", "Echo\thello", "hello\r\n"},
    {"EchoOnlyFirstBlankRunDropped", "ECHO \t  a", "a\r\n"},
    {"EchoMissingArgument", "ECHO", "ERR ECHO needs an argument: ECHO <text>\r\n"},
    {"EchoBlanksOnly", "ECHO   ", "ERR ECHO needs an argument: ECHO <text>\r\n"},
    {"EchoCommandWordsAsText", "ECHO QUIT", "QUIT\r\n"},
    {"Time", "TIME", "2026-11-24T14:22:23Z\r\n"},
    {"TimeWithArgument", "time now", "ERR TIME takes no arguments\r\n"},
    {"Info", "INFO", std::string(kInfo)},
    {"InfoLowerCase", "info", std::string(kInfo)},
    {"InfoWithArgument", "INFO x", "ERR INFO takes no arguments\r\n"},
    {"Unknown", "frob", "ERR unknown command 'frob' (try HELP)\r\n"},
    {"UnknownKeepsCaseDropsArguments", "  FroB  x y", "ERR unknown command 'FroB' (try HELP)\r\n"},
    {"VerbPrefixIsNotTheVerb", "echoX hi", "ERR unknown command 'echoX' (try HELP)\r\n"},
    {"Quit", "QUIT", "Goodbye.\r\n", LineAction::Close},
    {"ExitLowerCase", " exit ", "Goodbye.\r\n", LineAction::Close},
    {"QuitWithArgumentDoesNotQuit", "QUIT now", "ERR QUIT takes no arguments\r\n"},
    {"HelpWithArgument", "HELP me", "ERR HELP takes no arguments\r\n"},
};

class ShellHandlerTable : public testing::TestWithParam<Case> {};

TEST_P(ShellHandlerTable, Reply) {
  const Case& c = GetParam();
  ShellHandler handler = makeHandler();
  std::string out;
  EXPECT_EQ(handler.onLine(c.line, out), c.action);
  EXPECT_EQ(out, c.out);
}

INSTANTIATE_TEST_SUITE_P(Lines, ShellHandlerTable, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<Case>& test) { return test.param.name; });

TEST(ShellHandler, EveryReplyIsCrLfTerminatedAndErrorsStartWithErr) {
  for (const Case& c : kCases) {
    ShellHandler handler = makeHandler();
    std::string out;
    handler.onLine(c.line, out);
    if (out.empty()) continue;
    EXPECT_TRUE(out.ends_with("\r\n")) << c.name;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i] == '\n') {
        EXPECT_TRUE(i > 0 && out[i - 1] == '\r') << c.name;
      }
    }
    if (out.find("ERR") != std::string::npos) {
      EXPECT_TRUE(out.starts_with("ERR ")) << c.name;
    }
  }
}

TEST(ShellHandler, HelpListsEveryCommand) {
  ShellHandler handler = makeHandler();
  std::string out;
  ASSERT_EQ(handler.onLine("help", out), LineAction::Continue);
  for (const char* verb : {"HELP", "PING", "ECHO", "TIME", "INFO", "QUIT", "EXIT"}) {
    EXPECT_NE(out.find(verb), std::string::npos) << verb;
  }
  EXPECT_TRUE(out.ends_with("\r\n"));
}

TEST(ShellHandler, GreetingNamesServiceAndPid) {
  ShellHandler handler = makeHandler();
  const std::string hello = handler.greeting();
  EXPECT_NE(hello.find("shell"), std::string::npos);
  EXPECT_NE(hello.find("4242"), std::string::npos);
  EXPECT_NE(hello.find("Type HELP for commands."), std::string::npos);
  EXPECT_TRUE(hello.ends_with("\r\n"));
}

TEST(ShellHandler, AgeNeverNegative) {
  ShellClocks clocks;
  clocks.steady_now = [] { return kStarted - 1s; };
  ShellHandler handler({.started_at = kStarted}, std::move(clocks));
  std::string out;
  handler.onLine("INFO", out);
  EXPECT_NE(out.find("age_s: 0.000\r\n"), std::string::npos) << out;
}

TEST(ShellHandler, TimeFollowsTheClock) {
  system_clock::time_point now = kNow;
  ShellClocks clocks;
  clocks.utc_now = [&now] { return now; };
  ShellHandler handler({}, std::move(clocks));
  std::string out;
  handler.onLine("TIME", out);
  now += 1h;
  handler.onLine("TIME", out);
  EXPECT_EQ(out, "2026-11-24T14:22:23Z\r\n2026-11-24T15:22:23Z\r\n");
}

// --- formatUtcIso8601 ------------------------------------------------------------------------

TEST(FormatUtcIso8601, Table) {
  const system_clock::time_point epoch{};
  EXPECT_EQ(formatUtcIso8601(epoch), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatUtcIso8601(kNow), "2026-11-24T14:22:23Z");
  EXPECT_EQ(formatUtcIso8601(epoch - 1s), "1969-12-31T23:59:59Z");
  EXPECT_EQ(formatUtcIso8601(epoch - 500ms), "1969-12-31T23:59:59Z");  // floored, not rounded
  EXPECT_EQ(formatUtcIso8601(sys_days{year{2024} / 2 / 29} + 23h + 59min + 59s + 999ms),
            "2024-02-29T23:59:59Z");
  EXPECT_EQ(formatUtcIso8601(sys_days{year{2000} / 1 / 1}), "2000-01-01T00:00:00Z");
}

// --- The whole session ---------------------------------------------------------------------

TEST(ShellSession, CommandsOverASocket) {
  LiveSession s(&runShellService, testSettings());
  const std::string hello = s.recv(1);  // at least the start of the greeting
  s.send("PING\r\necho a  b\r\nbogus\r\n\r\nINFO\r\nQUIT\r\n");
  const std::string out = hello + s.recv();
  EXPECT_EQ(s.finish(), SessionEnd::ClientQuit);
  EXPECT_TRUE(out.starts_with("preforkd shell service, worker pid 4242, connection 99."))
      << out;
  EXPECT_NE(out.find("Type HELP for commands.\r\nPONG\r\na  b\r\n"
                     "ERR unknown command 'bogus' (try HELP)\r\n"
                     "worker_pid: 4242\r\ngeneration: 7\r\nserved: 3\r\nconnection: 99\r\npeer: "),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\r\nage_s: "), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("\r\nGoodbye.\r\n")) << out;
}

TEST(ShellSession, TimeIsCurrentUtc) {
  LiveSession s(&runShellService, testSettings());
  s.send("TIME\n");
  s.closeWrite();
  const std::string out = s.recv();
  EXPECT_EQ(s.finish(), SessionEnd::ClientClosed);
  const auto pos = out.rfind("Z\r\n");
  ASSERT_NE(pos, std::string::npos) << out;
  ASSERT_GE(pos, 19u);
  const std::string stamp = out.substr(pos - 19, 20);
  const auto now = system_clock::now();
  // Within a second or two of now (the clock may tick between the reply and this check).
  EXPECT_TRUE(stamp == formatUtcIso8601(now) || stamp == formatUtcIso8601(now - 1s) ||
              stamp == formatUtcIso8601(now - 2s))
      << stamp;
}

TEST(ShellSession, StopRequestSaysGoodbye) {
  LiveSession s(&runShellService, testSettings());
  s.recv(1);
  s.pokeChannel();
  const std::string out = s.recv();
  EXPECT_EQ(s.finish(), SessionEnd::Stopped);
  EXPECT_TRUE(out.ends_with("shutting down. Goodbye.\r\n")) << out;
  EXPECT_EQ(s.host().checks, 1);
}

}  // namespace
}  // namespace preforkd
