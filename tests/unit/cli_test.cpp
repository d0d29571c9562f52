// Command-line parsing: defaults, durations, and every bad value exits 64 without a crash.
#include "supervisor/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "supervisor/config_file.h"

namespace preforkd {
namespace {

// A configuration file in a fresh temporary directory, removed with it.
class ConfigFixture {
 public:
  ConfigFixture() {
    char tmpl[] = "/tmp/preforkd-cli-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/preforkd.toml";
  }
  ~ConfigFixture() { std::filesystem::remove_all(dir_); }
  ConfigFixture(const ConfigFixture&) = delete;
  ConfigFixture& operator=(const ConfigFixture&) = delete;
  const std::string& write(const std::string& text) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << text;
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
};

struct CliRun {
  CommandLine result;
  std::string out, err;
};

CommandLine parse(std::vector<std::string> args);

// parse() with stdout and stderr captured.
CliRun run(std::vector<std::string> args) {
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  CliRun r;
  r.result = parse(std::move(args));
  r.out = testing::internal::GetCapturedStdout();
  r.err = testing::internal::GetCapturedStderr();
  return r;
}

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

TEST(Cli, FileThenOnlyTheFlagsGiven) {
  ConfigFixture f;
  f.write("[pool]\nworkers = 8\n[worker]\nidle_timeout = \"5s\"\nbanner = false\n"
          "[limits]\nshutdown_timeout = 30\n[log]\nlevel = \"warn\"\n");
  const CommandLine c = parse({"-c", f.path(), "--workers", "3", "--log-level", "debug"});
  ASSERT_TRUE(c.config);
  EXPECT_EQ(c.config->pool.workers, 3u);                                  // flag over file
  EXPECT_EQ(c.config->worker.idle_timeout, std::chrono::seconds(5));      // file over default
  EXPECT_FALSE(c.config->worker.banner);
  EXPECT_EQ(c.config->lifecycle.shutdown_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c.config->log_level, spdlog::level::debug);
  EXPECT_EQ(c.config->worker.log_level, spdlog::level::debug);
  EXPECT_EQ(c.config->worker.max_line_bytes, 4096u);                       // default
  EXPECT_EQ(c.reload_source.config_path, f.path());

  // Without flags, the file wins over every default, including the flags' displayed ones.
  const CommandLine d = parse({"--config", f.path()});
  ASSERT_TRUE(d.config);
  EXPECT_EQ(d.config->pool.workers, 8u);
  EXPECT_EQ(d.config->log_level, spdlog::level::warn);
}

TEST(Cli, WorkerExecFromTheFileOrTheCommandLine) {
  ConfigFixture f;
  f.write("[worker]\nexec = [\"/bin/worker\", \"--x\"]\n");
  CommandLine c = parse({"-c", f.path()});
  ASSERT_TRUE(c.config);
  EXPECT_EQ(c.config->worker_exec, (std::vector<std::string>{"/bin/worker", "--x"}));
  c = parse({"-c", f.path(), "--worker-exec", "python3", "w.py", "--workers", "9"});
  ASSERT_TRUE(c.config);
  EXPECT_EQ(c.config->worker_exec, (std::vector<std::string>{"python3", "w.py", "--workers", "9"}));
  EXPECT_EQ(c.config->pool.workers, 4u);
}

TEST(Cli, CheckConfig) {
  ConfigFixture f;
  f.write("[pool]\nworkers = 2\n[process]\nallow_root_workers = true\n");
  CliRun r = run({"-t", "-c", f.path()});
  EXPECT_FALSE(r.result.config);
  EXPECT_EQ(r.result.exit_status, kExitOk);
  EXPECT_EQ(r.out, "configuration OK\n");

  struct Case {
    const char* text;
    std::vector<std::string> flags;
    int status;
    std::string expected;  // in stderr; "FILE" is replaced with the path
  };
  const Case cases[] = {
      {"[pool\n", {}, kExitConfig, "FILE:1:6: "},
      {"[pool]\nworkers = \"x\"\n", {}, kExitConfig, "FILE:2:11: pool.workers: expected an integer"},
      {"[pool]\nworkers = 5000\n", {}, kExitConfig, "FILE:2:11: pool.workers: must be between 1 and 4096"},
      {"[worker]\nidle_timeout = \"soon\"\n", {}, kExitConfig, "FILE:2:16: worker.idle_timeout:"},
      {"[pool]\nwrokers = 1\n", {"--strict"}, kExitConfig, "FILE:2:1: unknown key 'pool.wrokers'"},
      {"[pool]\nmode = \"dynamic\"\nmin_spare = 5\nmax_spare = 3\n", {}, kExitConfig,
       "FILE:3:13: pool.min_spare: min-spare (5) exceeds max-spare (3)"},
      // The file sets only max_spare: it is the file's key that is at fault.
      {"[pool]\nmode = \"dynamic\"\nmax_spare = 1\n", {}, kExitConfig,
       "FILE:3:13: pool.max_spare: min-spare (2) exceeds max-spare (1)"},
      // A flag made the combination wrong: a command-line error.
      {"[pool]\nmode = \"dynamic\"\n", {"--min-spare", "20", "--max-spare", "10"}, kExitUsage,
       "preforkd: min-spare (20) exceeds max-spare (10)"},
      {"[process]\nuser = \"no-such-user-preforkd\"\n", {}, kExitConfig,
       "FILE:2:8: process.user: user 'no-such-user-preforkd' does not exist"},
      {"[process]\nuser = \"nobody\"\ngroup = \"no-such-group-preforkd\"\n", {}, kExitConfig,
       "FILE:3:9: process.group: group 'no-such-group-preforkd' does not exist"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    f.write(c.text);
    std::vector<std::string> args{"-t", "-c", f.path()};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    r = run(args);
    EXPECT_FALSE(r.result.config);
    EXPECT_EQ(r.result.exit_status, c.status) << r.err;
    std::string expected = c.expected;
    if (expected.starts_with("FILE")) expected.replace(0, 4, f.path());
    EXPECT_NE(r.err.find(expected), std::string::npos) << "stderr: " << r.err << "\nwant: " << expected;
    EXPECT_EQ(r.out.find("configuration OK"), std::string::npos);
  }
  // Without -t, the same file errors stop start-up with the same status.
  f.write("[pool]\nworkers = 0\n");
  r = run({"-c", f.path()});
  EXPECT_FALSE(r.result.config);
  EXPECT_EQ(r.result.exit_status, kExitConfig);
  // An unknown key without --strict is a warning and the configuration is used.
  f.write("[pool]\nwrokers = 1\n");
  r = run({"-c", f.path()});
  EXPECT_TRUE(r.result.config);
  EXPECT_NE(r.err.find(f.path() + ":2:1: warning: unknown key 'pool.wrokers'"), std::string::npos) << r.err;
  // A missing file.
  r = run({"-t", "-c", "/nonexistent/preforkd.toml"});
  EXPECT_EQ(r.result.exit_status, kExitConfig);
  EXPECT_NE(r.err.find("/nonexistent/preforkd.toml: cannot read"), std::string::npos) << r.err;
}

TEST(Cli, DumpConfigRoundTrips) {
  ConfigFixture f;
  f.write("[pool]\nworkers = 7\npolicy = \"mru\"\n[overload]\nbusy_message = \"full \\\"up\\\"\"\n");
  CliRun r = run({"-T", "-c", f.path(), "--idle-timeout", "1500ms", "--listen", "[::1]:0"});
  EXPECT_EQ(r.result.exit_status, kExitOk) << r.err;
  EXPECT_FALSE(r.result.config);
  EXPECT_NE(r.out.find("workers = 7\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("idle_timeout = \"1500ms\"\n"), std::string::npos) << r.out;
  // The dump, read back as the only source, gives the same configuration.
  const std::string dumped = r.out;
  f.write(dumped);
  CliRun again = run({"-T", "--strict", "-c", f.path()});
  EXPECT_EQ(again.result.exit_status, kExitOk) << again.err;
  EXPECT_EQ(again.out, dumped);
  EXPECT_TRUE(again.err.empty()) << again.err;
}

TEST(Cli, ReloadRereadsTheFileAndKeepsTheFlags) {
  ConfigFixture f;
  f.write("[pool]\nworkers = 2\n[worker]\nidle_timeout = \"5s\"\n");
  const CommandLine c = parse({"-c", f.path(), "--idle-timeout", "7s", "--worker-exec", "prog", "-x"});
  ASSERT_TRUE(c.config);
  EXPECT_EQ(c.config->pool.workers, 2u);
  EXPECT_EQ(c.config->worker.idle_timeout, std::chrono::seconds(7));

  f.write("[pool]\nworkers = 6\n[worker]\nidle_timeout = \"9s\"\n");
  std::string error;
  auto reloaded = reloadConfiguration(c.reload_source, &error);
  ASSERT_TRUE(reloaded) << error;
  EXPECT_EQ(reloaded->pool.workers, 6u);
  EXPECT_EQ(reloaded->worker.idle_timeout, std::chrono::seconds(7));  // the flag still wins
  EXPECT_EQ(reloaded->worker_exec, (std::vector<std::string>{"prog", "-x"}));

  f.write("[pool]\nworkers = 6\n\nworkers = 7\n");
  reloaded = reloadConfiguration(c.reload_source, &error);
  EXPECT_FALSE(reloaded);
  EXPECT_TRUE(error.starts_with(f.path() + ":4:")) << error;

  f.write("[pool]\nworkers = 0\n");
  EXPECT_FALSE(reloadConfiguration(c.reload_source, &error));
  EXPECT_EQ(error, f.path() + ":2:11: pool.workers: must be between 1 and 4096, got 0");
}

// Every integer key accepts exactly what its flag accepts.
TEST(Cli, FlagsAndKeysShareTheirRanges) {
  for (const IntegerKeyRange& range : configIntegerRanges()) {
    SCOPED_TRACE(range.key);
    const std::string table = range.key.substr(0, range.key.find('.'));
    std::string name = range.key.substr(range.key.find('.') + 1);
    std::string flag = (table == "agent" ? "--agent-" : "--") + name;
    for (char& ch : flag) {
      if (ch == '_') ch = '-';
    }
    std::vector<std::uint64_t> accepted{range.min, range.max};
    std::vector<std::uint64_t> rejected;
    if (range.min > 0) rejected.push_back(range.min - 1);
    if (range.max < static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      rejected.push_back(range.max + 1);
    }
    for (bool ok : {true, false}) {
      for (std::uint64_t v : ok ? accepted : rejected) {
        ConfigFixture f;
        // min_spare etc. are checked against each other only in dynamic mode.
        f.write("[" + table + "]\n" + name + " = " + std::to_string(v) + "\n");
        CliRun by_file = run({"-c", f.path()});
        CliRun by_flag = run({flag, std::to_string(v)});
        EXPECT_EQ(by_file.result.config.has_value(), ok) << v << ": " << by_file.err;
        EXPECT_EQ(by_flag.result.config.has_value(), ok) << v << ": " << by_flag.err;
      }
    }
  }
}

}  // namespace
}  // namespace preforkd
