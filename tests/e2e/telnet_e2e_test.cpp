// End-to-end: a real telnet client, driven by expect (tests/e2e/telnet_session.exp).
#include <sys/wait.h>

#include "harness.h"

#ifndef PREFORKD_SOURCE_DIR
#error "PREFORKD_SOURCE_DIR must name the repository root"
#endif

namespace e2e {
namespace {

// 12. Banner, echo, Ctrl-C (IAC IP + IAC DO TIMING-MARK on the wire), echo after Ctrl-C still
// displayed, quit, and telnet's own "Connection closed by foreign host.".
TEST(Telnet, RealTelnetSessionSurvivesCtrlC) {
  const std::string expect = findInPath("expect");
  const std::string telnet = findInPath("telnet");
  if (expect.empty() || telnet.empty()) {
    GTEST_SKIP() << "needs `expect` and `telnet` in PATH (scripts/install-deps --test installs "
                    "them); missing:"
                 << (expect.empty() ? " expect" : "") << (telnet.empty() ? " telnet" : "");
  }
  PreforkdProcess p({"--workers", "1"});
  ASSERT_TRUE(p.waitReady());

  const std::string script = PREFORKD_SOURCE_DIR "/tests/e2e/telnet_session.exp";
  const CommandResult r = runCommand({expect, script, std::to_string(p.port())}, 30s);
  ASSERT_FALSE(r.timed_out) << "expect did not finish within 30 s:\n" << r.output;
  EXPECT_TRUE(WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == 0)
      << "expect wait status " << r.wait_status << ":\n" << r.output;

  // The worker's account of the session proves Ctrl-C really went over the wire as telnet
  // commands: "hello\r\n" (7) + IAC IP IAC DO TIMING-MARK (5) + "after\r\n" (7) + "quit\r\n" (6).
  const std::regex ended(
      R"(connection 1 from \S+ ended \(client-quit\) after \d+ ms, (\d+) bytes in)");
  const auto m = p.waitForLog(ended, 3s);
  ASSERT_TRUE(m) << p.log();
  EXPECT_EQ((*m)[1], "25") << "telnet did not send what the script expects\n" << r.output;
  EXPECT_TRUE(p.waitInfo([](const auto& i) { return i.at("conns_completed") == "1"; }, 5s,
                         "conns_completed == 1"));
}

}  // namespace
}  // namespace e2e
