#include "supervisor/control_options.h"

#include <fmt/format.h>

#include "worker/worker_options.h"

namespace preforkd {

std::optional<mode_t> parseFileMode(std::string_view text) {
  if (text.empty() || text.size() > 4) return std::nullopt;
  mode_t mode = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + static_cast<mode_t>(c - '0');
  }
  if (mode > 0777) return std::nullopt;
  return mode;
}

void addControlOptions(CLI::App& app, ControlOptionText& text) {
  app.add_option("--control-mode", text.mode,
                 "permission bits of the control socket, octal (who may connect at all)")
      ->capture_default_str();
  app.add_option("--control-group", text.group,
                 "group of the control socket file (with --control-mode 0660: who may connect)");
  app.add_option("--control-admin-group", text.admin_group,
                 "members of this group may run admin commands (besides root and the daemon's "
                 "user)");
  app.add_option("--control-idle-timeout", text.idle_timeout,
                 "close a control client that sends nothing (or reads nothing) for this long")
      ->check(positiveDuration())
      ->capture_default_str();
}

std::string applyControlOptions(const ControlOptionText& text, ControlSettings* settings) {
  const auto mode = parseFileMode(text.mode);
  if (!mode) {
    return fmt::format("--control-mode: '{}' is not an octal permission mode (e.g. 0600, 0660)",
                       text.mode);
  }
  if ((*mode & 0600) != 0600) {
    return fmt::format("--control-mode: {} must let the owner read and write (0600 at least)",
                       text.mode);
  }
  settings->mode = *mode;
  settings->group = text.group;
  settings->admin_group = text.admin_group;
  settings->idle_timeout = *parseDuration(text.idle_timeout);
  return "";
}

}  // namespace preforkd
