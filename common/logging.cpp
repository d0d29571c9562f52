#include "common/logging.h"

#include <unistd.h>

#include <ctime>

#include <spdlog/sinks/stdout_sinks.h>

#include <fmt/format.h>

namespace preforkd {

void setupLogging(std::string_view role, spdlog::level::level_enum level) {
  // Log timestamps are local time: load the zone now, so the first log line does not open
  // /usr/share/zoneinfo behind the caller's back (an exec'd worker would otherwise do it
  // after saying Ready, with an fd nobody expects).
  ::tzset();
  spdlog::drop_all();
  // Plain (uncoloured) stderr sink: one write per line, so lines of the supervisor and its
  // workers sharing one stderr never interleave mid-line.
  auto logger = spdlog::stderr_logger_mt(fmt::format("{} {}", role, ::getpid()));
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%n] %l: %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

std::string reopenLogs() { return {}; }  // stderr only: nothing to reopen

std::optional<spdlog::level::level_enum> parseLogLevel(std::string_view text) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
      {"off", spdlog::level::off},
  };
  for (const auto& [name, level] : kLevels) {
    if (name == text) return level;
  }
  return std::nullopt;
}

}  // namespace preforkd
