// End-to-end: preforkd-bench drives the real preforkd and verifies every reply; a wrong reply
// is reported as a mismatch (the tool can fail), and every run is bounded.
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "harness.h"

#ifndef PREFORKD_BENCH_BINARY
#error "PREFORKD_BENCH_BINARY must name the preforkd-bench binary"
#endif

namespace e2e {
namespace {

nlohmann::json runBench(int port, std::vector<std::string> args) {
  std::vector<std::string> argv{PREFORKD_BENCH_BINARY, "--port", std::to_string(port), "--json",
                                "--timeout-ms", "3000"};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult r = runCommand(argv, 30s);
  EXPECT_FALSE(r.timed_out) << r.output;
  EXPECT_TRUE(WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == 0) << r.output;
  // The JSON report is the last line of the output.
  const auto start = r.output.rfind("\n{");
  const std::string text = start == std::string::npos ? r.output : r.output.substr(start + 1);
  auto j = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.output;
  return j;
}

TEST(Bench, EveryModeAgainstTheMatchingServiceHasNoErrors) {
  struct Case {
    std::vector<std::string> server, client;
  };
  const Case cases[] = {
      {{"--no-banner"}, {"--mode", "crr", "--service", "raw-echo", "-c", "8"}},
      {{"--no-banner"}, {"--mode", "rr", "--service", "raw-echo", "-c", "2"}},
      {{}, {"--mode", "churn", "--service", "echo", "-c", "4"}},
      {{"--service", "shell"}, {"--mode", "rr", "--service", "shell", "-c", "2"}},
      {{"--service", "bytes"},
       {"--mode", "crr", "--service", "bytes", "--bytes-count", "4000", "-c", "4"}},
  };
  for (const Case& c : cases) {
    std::vector<std::string> server{"--workers", "2", "--log-level", "info"};
    server.insert(server.end(), c.server.begin(), c.server.end());
    PreforkdProcess p(server);
    ASSERT_TRUE(p.waitReady());
    std::vector<std::string> client = c.client;
    client.insert(client.end(), {"--requests", "300", "--duration", "20"});
    const auto j = runBench(p.port(), client);
    EXPECT_EQ(j.value("completed", 0), 300) << j.dump();
    EXPECT_EQ(j.value("errors_total", -1), 0) << j.dump();
    EXPECT_GT(j["latency_us"].value("p50", 0.0), 0.0) << j.dump();
  }
}

TEST(Bench, AWrongReplyIsAMismatch) {
  PreforkdProcess p({"--service", "shell", "--workers", "1"});
  ASSERT_TRUE(p.waitReady());
  // The bytes client against the shell service: the banner is not a byte pattern.
  const auto j =
      runBench(p.port(), {"--mode", "crr", "--service", "bytes", "--requests", "3", "-c", "1",
                          "--duration", "5"});
  EXPECT_GT(j["errors"].value("mismatch", 0), 0) << j.dump();
  EXPECT_EQ(j.value("completed", -1), 0) << j.dump();
}

}  // namespace
}  // namespace e2e
