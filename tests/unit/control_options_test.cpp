// The control socket's flags: --control-mode, --control-group, --control-admin-group,
// --control-idle-timeout, through the real command-line parser.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "supervisor/cli.h"
#include "supervisor/control_options.h"

namespace preforkd {
namespace {

CommandLine parse(std::vector<std::string> args) {
  args.insert(args.begin(), "preforkd");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parseCommandLine(static_cast<int>(args.size()), argv.data());
}

TEST(ControlOptions, FileModes) {
  struct Case {
    const char* text;
    std::optional<mode_t> mode;
  };
  for (const Case& c : {Case{"0600", 0600}, Case{"600", 0600}, Case{"0660", 0660},
                        Case{"777", 0777}, Case{"0", 0}, Case{"", std::nullopt},
                        Case{"0800", std::nullopt}, Case{"1777", std::nullopt},
                        Case{"00600", std::nullopt}, Case{"rw", std::nullopt},
                        Case{"-600", std::nullopt}}) {
    EXPECT_EQ(parseFileMode(c.text), c.mode) << c.text;
  }
}

TEST(ControlOptions, Defaults) {
  const CommandLine c = parse({});
  ASSERT_TRUE(c.config);
  EXPECT_EQ(c.config->control.mode, 0600u);
  EXPECT_EQ(c.config->control.group, "");
  EXPECT_EQ(c.config->control.admin_group, "");
  EXPECT_EQ(c.config->control.idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(c.config->control.max_clients, 64u);
}

TEST(ControlOptions, FlagsFillTheSettings) {
  const CommandLine c = parse({"--control-mode", "0660", "--control-group", "ops",
                               "--control-admin-group", "admins", "--control-idle-timeout",
                               "1500ms"});
  ASSERT_TRUE(c.config);
  EXPECT_EQ(c.config->control.mode, 0660u);
  EXPECT_EQ(c.config->control.group, "ops");  // looked up when the socket is created
  EXPECT_EQ(c.config->control.admin_group, "admins");
  EXPECT_EQ(c.config->control.idle_timeout, std::chrono::milliseconds(1500));
}

TEST(ControlOptions, BadValuesExit64) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--control-mode", "0999"},
                                             {"--control-mode", "0066"},  // owner cannot connect
                                             {"--control-mode", "rw-------"},
                                             {"--control-idle-timeout", "0"},
                                             {"--control-idle-timeout", "soon"}}) {
    const CommandLine c = parse(args);
    EXPECT_FALSE(c.config) << args[0] << " " << args[1];
    EXPECT_EQ(c.exit_status, kExitUsage) << args[0] << " " << args[1];
  }
}

}  // namespace
}  // namespace preforkd
