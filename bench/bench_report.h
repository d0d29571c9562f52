// The report of one preforkd-bench run: a human summary and a JSON object with the same facts.
//
// Contract: pure formatting of (BenchOptions, BenchResult). Latencies are in microseconds with
// nanosecond resolution (3 decimals); `rate` is completed operations per second of measured
// time. JSON keys, all always present:
//   mode, service, host, port, concurrency, rate_target (null in closed loop), duration_s,
//   warmup_s, timeout_ms, payload_bytes (null unless echo/raw-echo), bytes_count (null unless
//   bytes), completed, rate, connections, errors{refused, reset, timeout, short_read, mismatch,
//   other}, errors_total, latency_us{p50, p90, p99, p999, max, mean} (each null when nothing
//   completed), behind_schedule, abandoned, interrupted, first_errors{CLASS: text} (only
//   classes that occurred).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "bench/bench_options.h"
#include "bench/load_generator.h"

namespace preforkd::bench {

nlohmann::ordered_json jsonReport(const BenchOptions& options, const BenchResult& result);
std::string humanReport(const BenchOptions& options, const BenchResult& result);

}  // namespace preforkd::bench
