#include "worker/worker_options.h"

#include <charconv>

#include <fmt/format.h>

#include "common/logging.h"
#include "worker/service_registry.h"

namespace preforkd {

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::uint64_t factor_ms;
  if (unit.empty() || unit == "s") {
    factor_ms = 1000;
  } else if (unit == "ms") {
    factor_ms = 1;
  } else if (unit == "m") {
    factor_ms = 60'000;
  } else if (unit == "h") {
    factor_ms = 3'600'000;
  } else {
    return std::nullopt;
  }
  constexpr std::uint64_t kMaxMs = 366ull * 24 * 3'600'000;  // a year is plenty
  if (value > kMaxMs / factor_ms) return std::nullopt;
  return std::chrono::milliseconds(value * factor_ms);
}

CLI::Validator positiveDuration() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto d = parseDuration(text);
        if (!d || d->count() == 0) {
          return "expected a positive duration such as 500ms, 30s, 5m (plain numbers are seconds)";
        }
        return {};
      },
      "DURATION");
}

CLI::Validator durationOrZero() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (!parseDuration(text)) {
          return "expected a duration such as 500ms, 30s, 5m (plain numbers are seconds), or 0 "
                 "for no limit";
        }
        return {};
      },
      "DURATION");
}

void addWorkerOptions(CLI::App& app, WorkerOptionText& raw) {
  std::vector<std::string> names;
  for (const ServiceDefinition& s : builtinServices()) names.emplace_back(s.name);
  app.add_option("--service", raw.service, "service the workers run (see --list-services)")
      ->check(CLI::IsMember(names))
      ->capture_default_str();
  app.add_flag("--no-banner", raw.no_banner,
               "echo service: byte-exact RFC 862 echo (no banner, no commands, no telnet handling)");
  app.add_option("--idle-timeout", raw.idle_timeout,
                 "close a client connection after this long without input")
      ->check(positiveDuration())
      ->capture_default_str();
  app.add_option("--max-session", raw.max_session,
                 "end a client session after this long, however busy the client is; 0: no limit")
      ->check(durationOrZero())
      ->capture_default_str();
  app.add_option("--max-line", raw.max_line, "longest accepted input line in bytes")
      ->check(CLI::Range(std::size_t{16}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--bytes-max", raw.bytes_max, "bytes service: largest byte count a client may ask for")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 32))
      ->capture_default_str();
  app.add_option("--rpc-max-frame", raw.rpc_max_frame, "rpc service: largest request frame in bytes")
      ->check(CLI::Range(std::uint32_t{64}, std::uint32_t{64} << 20))
      ->capture_default_str();
  app.add_option("--log-level", raw.log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
}

WorkerSettings applyWorkerOptions(const WorkerOptionText& raw) {
  WorkerSettings w;
  w.service = raw.service;
  w.banner = !raw.no_banner;
  w.idle_timeout = *parseDuration(raw.idle_timeout);
  w.max_session = *parseDuration(raw.max_session);
  w.max_line_bytes = raw.max_line;
  w.bytes_max = raw.bytes_max;
  w.rpc_max_frame = raw.rpc_max_frame;
  w.log_level = *parseLogLevel(raw.log_level);
  return w;
}

std::string listServices() {
  std::string out;
  for (const ServiceDefinition& s : builtinServices()) {
    out += fmt::format("{:<8} {}\n", s.name, s.description);
  }
  return out;
}

}  // namespace preforkd
