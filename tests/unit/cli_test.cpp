// Command-line parsing: defaults, durations, and every bad value exits 64 without a crash.
#include "supervisor/cli.h"

#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

CommandLine parse(std::vector<std::string> args) {
  args.insert(args.begin(), "preforkd");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parseCommandLine(static_cast<int>(args.size()), argv.data());
}

TEST(Cli, Defaults) {
  ::unsetenv("RUNTIME_DIRECTORY");
  const CommandLine c = parse({});
  ASSERT_TRUE(c.config);
  ASSERT_EQ(c.config->listen.size(), 1u);
  EXPECT_EQ(formatAddress(c.config->listen[0]), "127.0.0.1:2323");
  EXPECT_EQ(c.config->pool.workers, 4u);
  EXPECT_EQ(c.config->worker.service, "echo");
  EXPECT_TRUE(c.config->worker.banner);
  EXPECT_EQ(c.config->control_socket, "preforkd.sock");
  EXPECT_EQ(c.config->worker.idle_timeout, std::chrono::seconds(300));
  EXPECT_EQ(c.config->worker.max_line_bytes, 4096u);
  EXPECT_EQ(c.config->lifecycle.shutdown_timeout, std::chrono::seconds(10));
}

TEST(Cli, ControlSocketDefaultsUnderRuntimeDirectory) {
  ::setenv("RUNTIME_DIRECTORY", "/run/preforkd:/run/other", 1);
  EXPECT_EQ(defaultControlSocketPath(), "/run/preforkd/preforkd.sock");
  ::unsetenv("RUNTIME_DIRECTORY");
  EXPECT_EQ(defaultControlSocketPath(), "preforkd.sock");
}

TEST(Cli, AllFlags) {
  const CommandLine c = parse({"--listen", "127.0.0.1:0", "--listen", "[::1]:0", "-w", "8",
                               "--no-banner", "--control-socket", "/tmp/x.sock",
                               "--idle-timeout", "1500ms", "--max-line", "100",
                               "--shutdown-timeout", "2m", "--log-level", "debug"});
  ASSERT_TRUE(c.config);
  EXPECT_EQ(c.config->listen.size(), 2u);
  EXPECT_EQ(c.config->pool.workers, 8u);
  EXPECT_FALSE(c.config->worker.banner);
  EXPECT_EQ(c.config->control_socket, "/tmp/x.sock");
  EXPECT_EQ(c.config->worker.idle_timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(c.config->worker.max_line_bytes, 100u);
  EXPECT_EQ(c.config->lifecycle.shutdown_timeout, std::chrono::minutes(2));
  EXPECT_EQ(c.config->log_level, spdlog::level::debug);
  EXPECT_EQ(c.config->worker.log_level, spdlog::level::debug);
}

TEST(Cli, BadValuesExit64) {
  const std::vector<std::vector<std::string>> cases = {
      {"--workers", "0"},          {"--workers", "abc"},         {"--workers", "-3"},
      {"--workers", "100000"},     {"--listen", "nohost"},       {"--listen", "localhost:80"},
      {"--listen", "1.2.3.4:99999"}, {"--idle-timeout", "-5"},   {"--idle-timeout", "0"},
      {"--idle-timeout", "10 parsecs"}, {"--max-line", "1"},     {"--log-level", "loud"},
      {"--service", "nope"},       {"--no-such-flag"},           {"--shutdown-timeout", "1y"},
  };
  for (const auto& args : cases) {
    testing::internal::CaptureStderr();
    testing::internal::CaptureStdout();
    const CommandLine c = parse(args);
    const std::string err = testing::internal::GetCapturedStderr();
    testing::internal::GetCapturedStdout();
    EXPECT_FALSE(c.config) << args[0];
    EXPECT_EQ(c.exit_status, kExitUsage) << args[0];
    EXPECT_FALSE(err.empty()) << args[0];
  }
}

TEST(Cli, HelpAndVersionExit0) {
  for (const char* flag : {"--help", "--version"}) {
    testing::internal::CaptureStdout();
    const CommandLine c = parse({flag});
    const std::string out = testing::internal::GetCapturedStdout();
    EXPECT_FALSE(c.config);
    EXPECT_EQ(c.exit_status, kExitOk);
    EXPECT_NE(out.find("preforkd"), std::string::npos);
  }
}

TEST(Cli, Durations) {
  using std::chrono::milliseconds;
  EXPECT_EQ(parseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(parseDuration("10s"), milliseconds(10'000));
  EXPECT_EQ(parseDuration("10"), milliseconds(10'000));
  EXPECT_EQ(parseDuration("5m"), milliseconds(300'000));
  EXPECT_EQ(parseDuration("1h"), milliseconds(3'600'000));
  for (const char* bad : {"", "s", "-1", "1.5s", "10x", "ms10", "99999999999999999999"}) {
    EXPECT_FALSE(parseDuration(bad)) << bad;
  }
}

}  // namespace
}  // namespace preforkd
