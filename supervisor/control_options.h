// The control socket's command-line flags: --control-mode, --control-group,
// --control-admin-group, --control-idle-timeout (next to --control-socket).
//
// Contract: addControlOptions() registers the flags on the CLI11 app, keeping their text;
// applyControlOptions() validates that text after parsing and fills ControlSettings: "" on
// success, otherwise a message for the user (the CLI exits 64). Group names are not looked up
// here (that happens when the socket is created).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "supervisor/control_settings.h"

namespace preforkd {

struct ControlOptionText {
  std::string mode = "0600";
  std::string group;
  std::string admin_group;
  std::string idle_timeout = "60s";
};

void addControlOptions(CLI::App& app, ControlOptionText& text);

std::string applyControlOptions(const ControlOptionText& text, ControlSettings* settings);

// "0660", "660" -> 0660; nullopt unless 1 to 4 octal digits with a value <= 0777.
std::optional<mode_t> parseFileMode(std::string_view text);

}  // namespace preforkd
