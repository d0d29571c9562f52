#include "supervisor/control_commands.h"

#include <sstream>
#include <vector>

#include <fmt/format.h>

namespace preforkd {
namespace {

std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  for (std::string w; in >> w;) out.push_back(std::move(w));
  return out;
}

constexpr std::string_view kHelp =
    "help          this list\n"
    "show info     supervisor state and counters (key: value)\n"
    "show workers  one line per worker: slot pid state served conn conn_age_s\n";

}  // namespace

std::string executeControlCommand(std::string_view line,
                                  const std::function<StatsSnapshot()>& snapshot) {
  const auto w = words(line);
  if (w.empty()) return "ERROR empty command; try 'help'\n";
  if (w.size() == 1 && w[0] == "help") return std::string(kHelp);
  if (w.size() == 2 && w[0] == "show" && w[1] == "info") return renderInfo(snapshot());
  if (w.size() == 2 && w[0] == "show" && w[1] == "workers") return renderWorkers(snapshot());
  std::string shown(line.substr(0, 64));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return fmt::format("ERROR unknown command '{}'; try 'help'\n", shown);
}

}  // namespace preforkd
