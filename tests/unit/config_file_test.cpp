// The configuration file: every key parsed, every kind of mistake located at file:line:col,
// the renderer round-trips, and the shipped example is complete and clean.
#include "supervisor/config_file.h"

#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

#include "supervisor/cli.h"

namespace preforkd {
namespace {

using std::chrono::milliseconds;

// Every key set to something other than its default.
constexpr const char* kFullFile = R"(# every key
[server]
listen = ["127.0.0.1:7001", "[::1]:7002"]
backlog = 128

[pool]
mode = "dynamic"
workers = 6
min_spare = 3
max_spare = 9
max_children = 20
max_spawn_rate = 16
ondemand_idle_timeout = "45s"
policy = "least-served"

[limits]
max_connections_per_child = 1000
recycle_jitter = 50
session_grace = "11s"
handoff_timeout = "1500ms"
startup_timeout = 12
kill_grace = "3s"
crash_limit = 7
crash_interval = "2m"
respawn_backoff_max = "20s"
reload_timeout = "90s"
shutdown_timeout = "25s"
upgrade_timeout = "40s"

[overload]
queue = 100
queue_timeout = "4s"
busy_message = "busy \"now\""
max_per_source = 3
per_source_message = "too many"

[worker]
service = "shell"
banner = false
idle_timeout = "1m"
max_session = "1h"
max_line = 2048
bytes_max = 1000000
rpc_max_frame = 65536
exec = ["/usr/bin/preforkd-worker", "--service", "rpc"]

[control]
socket = "/run/x/control.sock"
mode = "0660"
group = "adm"
admin_group = "sudo"
idle_timeout = "30s"

[agent]
listen = "127.0.0.1:7003"
allow = ["127.0.0.1", "::1"]
reference = 16
balancers = 2
announce = "3s"

[log]
level = "debug"
file = "/var/log/preforkd/preforkd.log"

[process]
user = "nobody"
group = "nogroup"
allow_root_workers = true
)";

ConfigFileResult apply(std::string_view text, SupervisorConfig& c,
                       UnknownKeys unknown = UnknownKeys::Warn) {
  return applyConfigText(text, "test.toml", unknown, c);
}

std::string diagnostics(const ConfigFileResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += "error " + e.format() + "\n";
  for (const auto& w : r.warnings) out += "warning " + w.format() + "\n";
  return out;
}

TEST(ConfigFile, EveryKeyIsParsed) {
  SupervisorConfig c = defaultConfiguration();
  const ConfigFileResult r = apply(kFullFile, c);
  ASSERT_TRUE(r.ok()) << diagnostics(r);
  EXPECT_TRUE(r.warnings.empty()) << diagnostics(r);
  // The test file names every key the parser knows.
  for (const std::string& key : configKeyNames()) {
    EXPECT_TRUE(r.positions.count(key)) << key << " is missing from the full test file";
  }
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(formatAddress(c.listen[0]), "127.0.0.1:7001");
  EXPECT_EQ(formatAddress(c.listen[1]), "[::1]:7002");
  EXPECT_EQ(c.backlog, 128);
  EXPECT_EQ(c.pool.mode, PoolMode::Dynamic);
  EXPECT_EQ(c.pool.workers, 6u);
  EXPECT_EQ(c.pool.min_spare, 3u);
  EXPECT_EQ(c.pool.max_spare, 9u);
  EXPECT_EQ(c.pool.max_children, 20u);
  EXPECT_EQ(c.pool.max_spawn_rate, 16u);
  EXPECT_EQ(c.pool.ondemand_idle_timeout, milliseconds(45'000));
  EXPECT_EQ(c.pool.policy, DispatchPolicy::LeastServed);
  EXPECT_EQ(c.lifecycle.max_connections_per_child, 1000u);
  EXPECT_EQ(c.lifecycle.recycle_jitter, 50u);
  EXPECT_EQ(c.lifecycle.session_grace, milliseconds(11'000));
  EXPECT_EQ(c.lifecycle.handoff_timeout, milliseconds(1500));
  EXPECT_EQ(c.lifecycle.startup_timeout, milliseconds(12'000));  // an integer is seconds
  EXPECT_EQ(c.lifecycle.kill_grace, milliseconds(3000));
  EXPECT_EQ(c.lifecycle.crash_limit, 7u);
  EXPECT_EQ(c.lifecycle.crash_interval, milliseconds(120'000));
  EXPECT_EQ(c.lifecycle.respawn_backoff_max, milliseconds(20'000));
  EXPECT_EQ(c.lifecycle.reload_timeout, milliseconds(90'000));
  EXPECT_EQ(c.lifecycle.shutdown_timeout, milliseconds(25'000));
  EXPECT_EQ(c.lifecycle.upgrade_timeout, milliseconds(40'000));
  EXPECT_EQ(c.overload.queue_size, 100u);
  EXPECT_EQ(c.overload.queue_timeout, milliseconds(4000));
  EXPECT_EQ(c.overload.busy_message, "busy \"now\"");
  EXPECT_EQ(c.overload.max_per_source, 3u);
  EXPECT_EQ(c.overload.per_source_message, "too many");
  EXPECT_EQ(c.worker.service, "shell");
  EXPECT_FALSE(c.worker.banner);
  EXPECT_EQ(c.worker.idle_timeout, milliseconds(60'000));
  EXPECT_EQ(c.worker.max_session, milliseconds(3'600'000));
  EXPECT_EQ(c.worker.max_line_bytes, 2048u);
  EXPECT_EQ(c.worker.bytes_max, 1'000'000u);
  EXPECT_EQ(c.worker.rpc_max_frame, 65536u);
  EXPECT_EQ(c.worker_exec, (std::vector<std::string>{"/usr/bin/preforkd-worker", "--service", "rpc"}));
  EXPECT_EQ(c.control_socket, "/run/x/control.sock");
  ASSERT_TRUE(c.agent.listen);
  EXPECT_EQ(formatAddress(*c.agent.listen), "127.0.0.1:7003");
  EXPECT_EQ(c.agent.allow, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(c.agent.reference, 16u);
  EXPECT_EQ(c.agent.balancers, 2u);
  EXPECT_EQ(c.agent.announce, milliseconds(3000));
  EXPECT_EQ(c.log_level, spdlog::level::debug);
  EXPECT_EQ(c.worker.log_level, spdlog::level::debug);
  EXPECT_EQ(c.log_file, "/var/log/preforkd/preforkd.log");
  EXPECT_EQ(c.user, "nobody");
  EXPECT_EQ(c.group, "nogroup");
  EXPECT_TRUE(c.allow_root_workers);
  EXPECT_FALSE(checkConsistency(c)) << checkConsistency(c)->message;
}

TEST(ConfigFile, KeysNotInTheFileKeepTheirValue) {
  SupervisorConfig c = defaultConfiguration();
  c.pool.workers = 11;
  const ConfigFileResult r = apply("[pool]\npolicy = \"mru\"\n", c);
  ASSERT_TRUE(r.ok()) << diagnostics(r);
  EXPECT_EQ(c.pool.workers, 11u);
  EXPECT_EQ(c.pool.policy, DispatchPolicy::Mru);
  EXPECT_EQ(c.lifecycle.shutdown_timeout, milliseconds(10'000));
  SupervisorConfig empty = defaultConfiguration();
  EXPECT_TRUE(apply("", empty).ok());
  EXPECT_EQ(renderConfig(empty), renderConfig(defaultConfiguration()));
}

TEST(ConfigFile, RenderRoundTrips) {
  SupervisorConfig full = defaultConfiguration();
  ASSERT_TRUE(apply(kFullFile, full).ok());
  // Characters a TOML string must escape.
  full.overload.per_source_message = "tab\there \\ quote\" bell\x07 del\x7f é";
  for (const SupervisorConfig& original : {defaultConfiguration(), full}) {
    const std::string text = renderConfig(original);
    SupervisorConfig back;  // not the defaults: everything must come from the text
    back.pool.workers = 99;
    back.listen.clear();
    const ConfigFileResult r = apply(text, back, UnknownKeys::Reject);
    ASSERT_TRUE(r.ok()) << diagnostics(r) << text;
    EXPECT_EQ(r.positions.size(), configKeyNames().size()) << "the dump must name every key";
    EXPECT_EQ(renderConfig(back), text);
    EXPECT_EQ(back.overload.per_source_message, original.overload.per_source_message);
  }
}

struct BadFile {
  const char* what;
  const char* text;
  const char* expected;  // a prefix of the one error: "test.toml:L:C: ..."
};

TEST(ConfigFile, EachKindOfMistakeIsLocated) {
  const BadFile cases[] = {
      {"syntax", "[pool]\nworkers = = 3\n", "test.toml:2:11: "},
      {"unterminated string", "[worker]\nservice = \"echo\n", "test.toml:2:"},
      {"duplicate key", "[pool]\nworkers = 2\nworkers = 3\n", "test.toml:3:"},
      {"wrong type", "[pool]\nworkers = \"four\"\n",
       "test.toml:2:11: pool.workers: expected an integer, got a string"},
      {"out of range", "[pool]\n\nworkers = 0\n",
       "test.toml:3:11: pool.workers: must be between 1 and 4096, got 0"},
      {"over the range", "[worker]\nmax_line = 8\n",
       "test.toml:2:12: worker.max_line: must be between 16 and 1048576, got 8"},
      {"negative", "[limits]\ncrash_limit = -1\n", "test.toml:2:15: limits.crash_limit: must be between"},
      {"bad duration", "[limits]\nshutdown_timeout = \"10 parsecs\"\n",
       "test.toml:2:20: limits.shutdown_timeout: '10 parsecs' is not a duration"},
      {"zero duration", "[worker]\nidle_timeout = 0\n",
       "test.toml:2:16: worker.idle_timeout: must be a positive duration"},
      {"float duration", "[worker]\nidle_timeout = 1.5\n",
       "test.toml:2:16: worker.idle_timeout: expected a duration"},
      {"bad choice", "[pool]\npolicy = \"random\"\n",
       "test.toml:2:10: pool.policy: 'random' is not one of lru, mru, round-robin, least-served"},
      {"bad service", "[worker]\nservice = \"chargen\"\n", "test.toml:2:11: worker.service: 'chargen'"},
      {"bad log level", "[log]\nlevel = \"loud\"\n", "test.toml:2:9: log.level: 'loud' is not one of"},
      {"bad address in a list", "[server]\nlisten = [\"127.0.0.1:1\", \"localhost:80\"]\n",
       "test.toml:2:26: server.listen: "},
      {"no address", "[server]\nlisten = []\n", "test.toml:2:10: server.listen: needs at least one"},
      {"not a string in a list", "[worker]\nexec = [\"prog\", 3]\n",
       "test.toml:2:17: worker.exec: expected a string, got an integer"},
      {"exec as a string", "[worker]\nexec = \"prog arg\"\n", "test.toml:2:8: worker.exec: expected an array"},
      {"two lines", "[overload]\nbusy_message = \"a\\nb\"\n",
       "test.toml:2:16: overload.busy_message: must be a single line"},
      {"bool as string", "[worker]\nbanner = \"no\"\n", "test.toml:2:10: worker.banner: expected true or false"},
      {"table as a value", "pool = 4\n", "test.toml:1:8: 'pool' must be a table"},
  };
  for (const BadFile& bad : cases) {
    SCOPED_TRACE(bad.what);
    SupervisorConfig c = defaultConfiguration();
    const ConfigFileResult r = apply(bad.text, c, UnknownKeys::Reject);
    ASSERT_EQ(r.errors.size(), 1u) << diagnostics(r);
    EXPECT_TRUE(r.errors[0].format().starts_with(bad.expected))
        << "got: " << r.errors[0].format() << "\nwant: " << bad.expected;
  }
}

TEST(ConfigFile, UnknownKeysWarnOrFail) {
  const char* text = "lonely = true\n[pool]\nworkers = 2\nwrokers = 3\n\n[pools]\nx = 1\n";
  SupervisorConfig c = defaultConfiguration();
  ConfigFileResult r = apply(text, c, UnknownKeys::Warn);
  ASSERT_TRUE(r.ok()) << diagnostics(r);
  ASSERT_EQ(r.warnings.size(), 3u) << diagnostics(r);
  EXPECT_EQ(r.warnings[0].format(),
            "test.toml:1:1: unknown key 'lonely' (settings live in tables such as [server] and [pool])");
  EXPECT_EQ(r.warnings[1].format(), "test.toml:4:1: unknown key 'pool.wrokers'");
  EXPECT_EQ(r.warnings[2].format(), "test.toml:6:2: unknown table [pools]");
  EXPECT_EQ(c.pool.workers, 2u);
  SupervisorConfig strict = defaultConfiguration();
  r = apply(text, strict, UnknownKeys::Reject);
  EXPECT_EQ(r.errors.size(), 3u) << diagnostics(r);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(ConfigFile, AFileThatCannotBeRead) {
  SupervisorConfig c = defaultConfiguration();
  const ConfigFileResult r = applyConfigFile("/nonexistent/preforkd.toml", UnknownKeys::Warn, c);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].format(), "/nonexistent/preforkd.toml: cannot read: No such file or directory");
}

TEST(ConfigFile, ConsistencyNamesTheKeysInvolved) {
  SupervisorConfig c = defaultConfiguration();
  c.pool.mode = PoolMode::Dynamic;
  c.pool.min_spare = 9;
  c.pool.max_spare = 3;
  auto p = checkConsistency(c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->keys, (std::vector<std::string>{"pool.min_spare", "pool.max_spare"}));
  EXPECT_NE(p->message.find("min-spare (9) exceeds max-spare (3)"), std::string::npos) << p->message;
  c.pool.min_spare = 2;
  c.pool.workers = 100;
  p = checkConsistency(c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->keys, (std::vector<std::string>{"pool.workers", "pool.max_children"}));
}

// The file that ships in systemd/ documents every key, and parses without a warning.
TEST(ConfigFile, TheExampleFileIsCompleteAndClean) {
  const std::string path = PREFORKD_SOURCE_DIR "/systemd/preforkd.toml";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  SupervisorConfig c = defaultConfiguration();
  const ConfigFileResult r = applyConfigFile(path, UnknownKeys::Reject, c);
  EXPECT_TRUE(r.ok() && r.warnings.empty()) << diagnostics(r);
  // Every key appears, set or commented out ("#key = default").
  const std::string body = text.str();
  for (const std::string& name : configKeyNames()) {
    const std::string t = name.substr(0, name.find('.'));
    const std::string key = name.substr(name.find('.') + 1);
    const auto section = body.find("\n[" + t + "]\n");
    ASSERT_NE(section, std::string::npos) << "[" << t << "] is missing";
    const auto next = body.find("\n[", section + 1);
    const std::string part = body.substr(section, next == std::string::npos ? std::string::npos : next - section);
    EXPECT_TRUE(part.find("\n#" + key + " = ") != std::string::npos ||
                part.find("\n" + key + " = ") != std::string::npos)
        << name << " is not documented in " << path;
  }
  // Uncommenting every default changes nothing but the user, which the example sets.
  std::string uncommented;
  std::istringstream lines(body);
  // "#key = value   # comment" -> "key = value"
  const std::regex commented(R"(^#([a-z_]+ = .*?)(\s+#.*)?$)");
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, commented)) line = m[1];
    uncommented += line + "\n";
  }
  SupervisorConfig defaults_in_file = defaultConfiguration();
  const ConfigFileResult r2 = applyConfigText(uncommented, "uncommented.toml", UnknownKeys::Reject, defaults_in_file);
  ASSERT_TRUE(r2.ok()) << diagnostics(r2) << uncommented;
  EXPECT_EQ(r2.positions.size(), configKeyNames().size()) << uncommented;
  SupervisorConfig expected = defaultConfiguration();
  expected.user = "preforkd";
  expected.control_socket = "/run/preforkd/preforkd.sock";  // the default under systemd
  EXPECT_EQ(renderConfig(defaults_in_file), renderConfig(expected));
}

}  // namespace
}  // namespace preforkd
