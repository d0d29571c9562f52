// `preforkctl top`: one frame of the live view of the pool, as text.
//
// Contract: renderTopFrame() is pure: it turns the JSON of `show info json`,
// `show workers json` and `show hist json` (a TopSample) into at most `height` lines of at
// most `width` columns, each ending in "\n". Rates per second come from the counter deltas
// against the previous sample (shown as "-" on the first frame). The terminal handling
// (alternate screen, raw keys, SIGINT) lives in preforkctl.cpp.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

namespace preforkd::ctl {

struct TopSample {
  nlohmann::ordered_json info;
  nlohmann::ordered_json workers;
  nlohmann::ordered_json hist;
  std::chrono::steady_clock::time_point at{};
};

std::string renderTopFrame(const TopSample& current, const TopSample* previous, int width,
                           int height, double interval_s);

}  // namespace preforkd::ctl
