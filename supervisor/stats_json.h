// JSON renderings of a StatsSnapshot: `show info json`, `show workers json`,
// `show conns json`, `show hist json`.
//
// Contract: pure functions (nlohmann::ordered_json, so keys keep a fixed order and the output
// is tested byte for byte). Each returns one line of compact JSON ending in "\n" (so it never
// contains an empty line). Durations are seconds (doubles, suffix _s) except histogram values,
// which are microseconds (suffix _us) like the text rendering. Absent values are null.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "supervisor/stats.h"

namespace preforkd {

nlohmann::ordered_json infoJson(const StatsSnapshot& s);
nlohmann::ordered_json workersJson(const StatsSnapshot& s);
nlohmann::ordered_json connsJson(const StatsSnapshot& s);
nlohmann::ordered_json histJson(const StatsSnapshot& s);
nlohmann::ordered_json agentJson(const StatsSnapshot& s);

// j.dump() + "\n".
std::string renderJsonLine(const nlohmann::ordered_json& j);

}  // namespace preforkd
