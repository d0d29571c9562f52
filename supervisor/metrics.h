// Metrics: `show metrics`, the StatsSnapshot in the Prometheus text exposition format 0.0.4.
//
// Contract: a pure function of the snapshot, tested byte for byte and accepted by
// `promtool check metrics`. Every family has # HELP and # TYPE; names are preforkd_*, in base
// units (seconds); counters end in _total; gauges carry the instantaneous numbers (workers by
// state, queue, listen queue). The four latency histograms are exported with the fixed
// 1-2-5 bucket bounds kMetricBucketBoundsNs (1 us .. 10 s, then +Inf): a value counts toward
// `le` only if its whole log-linear bucket lies at or below the bound, so a bucket count is
// never too high and is short by at most the values within 1/32 below the bound. _sum is in
// seconds. Lines end in "\n"; no line is empty.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "supervisor/stats.h"

namespace preforkd {

inline constexpr std::array<std::uint64_t, 22> kMetricBucketBoundsNs = {
    1'000,         2'000,         5'000,          10'000,        20'000,        50'000,
    100'000,       200'000,       500'000,        1'000'000,     2'000'000,     5'000'000,
    10'000'000,    20'000'000,    50'000'000,     100'000'000,   200'000'000,   500'000'000,
    1'000'000'000, 2'000'000'000, 5'000'000'000,  10'000'000'000};

std::string renderMetrics(const StatsSnapshot& s);

// Helpers, public for their own tests.
// Nanoseconds as a decimal number of seconds without trailing zeros: 1000 -> "0.000001".
std::string secondsLabel(std::uint64_t ns);
// A label value with \, " and newline escaped as the exposition format requires.
std::string escapeLabelValue(std::string_view value);
// Cumulative counts per bound of kMetricBucketBoundsNs (the +Inf bucket is h.count()).
std::array<std::uint64_t, kMetricBucketBoundsNs.size()> cumulativeBucketCounts(const Histogram& h);

}  // namespace preforkd
