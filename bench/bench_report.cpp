#include "bench/bench_report.h"

#include <array>

#include <fmt/format.h>

namespace preforkd::bench {
namespace {

constexpr ErrorClass kErrorClasses[] = {ErrorClass::Refused,   ErrorClass::Reset,
                                        ErrorClass::Timeout,   ErrorClass::ShortRead,
                                        ErrorClass::Mismatch,  ErrorClass::Other};

double seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

double micros(std::uint64_t ns) { return static_cast<double>(ns) / 1e3; }

double achievedRate(const BenchResult& result) {
  const double s = seconds(result.elapsed);
  return s > 0 ? static_cast<double>(result.completed) / s : 0.0;
}

bool usesPayload(Service service) {
  return service == Service::Echo || service == Service::RawEcho;
}

struct LatencyRow {
  const char* key;    // JSON key
  const char* label;  // human label
  double value_us;
};

// p50, p90, p99, p99.9, max (exact) and mean, in microseconds.
std::array<LatencyRow, 6> latencyRows(const Histogram& h) {
  return {{{"p50", "p50", micros(h.percentile(50))},
           {"p90", "p90", micros(h.percentile(90))},
           {"p99", "p99", micros(h.percentile(99))},
           {"p999", "p99.9", micros(h.percentile(99.9))},
           {"max", "max", micros(h.max())},
           {"mean", "mean", h.mean() / 1e3}}};
}

}  // namespace

nlohmann::ordered_json jsonReport(const BenchOptions& options, const BenchResult& result) {
  using json = nlohmann::ordered_json;
  json errors = json::object();
  json first_errors = json::object();
  for (ErrorClass e : kErrorClasses) {
    const auto i = static_cast<std::size_t>(e);
    errors[std::string(errorClassName(e))] = result.errors[i];
    if (!result.first_error[i].empty()) {
      first_errors[std::string(errorClassName(e))] = result.first_error[i];
    }
  }
  json latency = json::object();
  for (const LatencyRow& row : latencyRows(result.latency_ns)) {
    latency[row.key] = result.latency_ns.count() == 0 ? json(nullptr) : json(row.value_us);
  }
  json report = {
      {"mode", modeName(options.mode)},
      {"service", serviceName(options.service)},
      {"host", options.host},
      {"port", options.port},
      {"concurrency", options.concurrency},
      {"rate_target", options.rate > 0 ? json(options.rate) : json(nullptr)},
      {"duration_s", seconds(result.elapsed)},
      {"warmup_s", seconds(options.warmup)},
      {"timeout_ms", options.timeout.count()},
      {"payload_bytes", usesPayload(options.service) ? json(options.payload) : json(nullptr)},
      {"bytes_count",
       options.service == Service::Bytes ? json(options.bytes_count) : json(nullptr)},
      {"completed", result.completed},
      {"rate", achievedRate(result)},
      {"connections", result.connections},
      {"errors", errors},
      {"errors_total", result.errorTotal()},
      {"latency_us", latency},
      {"behind_schedule", result.behind_schedule},
      {"abandoned", result.abandoned},
      {"interrupted", result.interrupted},
      {"first_errors", first_errors},
  };
  return report;
}

std::string humanReport(const BenchOptions& options, const BenchResult& result) {
  const bool ipv6 = options.host.find(':') != std::string::npos && options.host[0] != '[';
  std::string out = fmt::format("preforkd-bench: {} {} -> {}{}{}:{}, ", modeName(options.mode),
                                serviceName(options.service), ipv6 ? "[" : "", options.host,
                                ipv6 ? "]" : "", options.port);
  if (options.rate > 0) {
    out += fmt::format("open loop at {:g} ops/s (at most {} in flight)\n", options.rate,
                       options.concurrency);
  } else {
    out += fmt::format("closed loop, concurrency {}\n", options.concurrency);
  }
  std::string request;
  if (usesPayload(options.service)) request = fmt::format(", payload {} B", options.payload);
  if (options.service == Service::Bytes) {
    request = fmt::format(", {} bytes per request", options.bytes_count);
  }
  out += fmt::format("  duration      {:.3f} s (warm-up {:g} s, timeout {} ms{}){}\n",
                     seconds(result.elapsed), seconds(options.warmup), options.timeout.count(),
                     request, result.interrupted ? ", interrupted" : "");
  out += fmt::format("  completed     {} ops, {:.1f} ops/s, {} connections\n", result.completed,
                     achievedRate(result), result.connections);
  std::string by_class;
  for (ErrorClass e : kErrorClasses) {
    by_class += fmt::format("{}{} {}", by_class.empty() ? "" : ", ", errorClassName(e),
                            result.errors[static_cast<std::size_t>(e)]);
  }
  out += fmt::format("  errors        {} ({})\n", result.errorTotal(), by_class);
  if (result.latency_ns.count() == 0) {
    out += "  latency (us)  - (nothing completed)\n";
  } else {
    out += "  latency (us) ";
    for (const LatencyRow& row : latencyRows(result.latency_ns)) {
      out += fmt::format(" {} {:.1f}", row.label, row.value_us);
    }
    out += "\n";
  }
  if (options.rate > 0) {
    out += fmt::format("  behind schedule {} ops (started > {} ms late or never sent)\n",
                       result.behind_schedule, kBehindSlack.count());
  }
  if (result.abandoned > 0) {
    out += fmt::format("  abandoned     {} ops still under way when the run was cut short\n",
                       result.abandoned);
  }
  for (ErrorClass e : kErrorClasses) {
    const std::string& first = result.first_error[static_cast<std::size_t>(e)];
    if (!first.empty()) out += fmt::format("  first {}: {}\n", errorClassName(e), first);
  }
  return out;
}

}  // namespace preforkd::bench
