#include "supervisor/cli.h"

#include <charconv>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/logging.h"
#include "preforkd/version.h"

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

std::string defaultControlSocketPath() {
  const char* runtime = std::getenv("RUNTIME_DIRECTORY");
  if (runtime != nullptr && *runtime != '\0') {
    std::string dir(runtime);
    // systemd may list several directories separated by ':'; the first is ours.
    dir = dir.substr(0, dir.find(':'));
    return dir + "/preforkd.sock";
  }
  return "preforkd.sock";
}

namespace {

// CLI11 validator for durations, so errors are reported like any other bad value.
struct DurationValidator : CLI::Validator {
  DurationValidator() {
    name_ = "DURATION";
    func_ = [](std::string& text) -> std::string {
      const auto d = parseDuration(text);
      if (!d || d->count() == 0) {
        return "expected a positive duration such as 500ms, 30s, 5m (plain numbers are seconds)";
      }
      return {};
    };
  }
};

}  // namespace

CommandLine parseCommandLine(int argc, char** argv) {
  CLI::App app{"preforkd: a descriptor-passing prefork supervisor.\n"
               "The supervisor accepts TCP connections and hands each one to an idle pre-forked "
               "worker over a Unix socket (SCM_RIGHTS).",
               "preforkd"};
  app.set_version_flag("-V,--version", "preforkd " PREFORKD_VERSION);
  app.get_formatter()->column_width(34);

  std::vector<std::string> listen{"127.0.0.1:2323"};
  std::size_t workers = 4;
  std::string service = "echo";
  bool no_banner = false;
  std::string control_socket = defaultControlSocketPath();
  std::string idle_timeout = "300s";
  std::size_t max_line = 4096;
  std::string shutdown_timeout = "10s";
  std::string log_level = "info";
  const DurationValidator duration;

  app.add_option("-l,--listen", listen,
                 "address to accept on, HOST:PORT or [IPV6]:PORT, numeric; repeatable; port 0 "
                 "picks a free port")
      ->default_str("127.0.0.1:2323");
  app.add_option("-w,--workers", workers, "number of worker processes")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}))
      ->capture_default_str();
  app.add_option("--service", service, "service the workers run")
      ->check(CLI::IsMember({"echo"}))
      ->capture_default_str();
  app.add_flag("--no-banner", no_banner,
               "echo service: byte-exact RFC 862 echo (no banner, no commands, no telnet handling)");
  app.add_option("--control-socket", control_socket,
                 "path of the stats control socket (Unix stream socket, mode 0600); '' disables it")
      ->capture_default_str();
  app.add_option("--idle-timeout", idle_timeout,
                 "close a client connection after this long without input")
      ->check(duration)
      ->capture_default_str();
  app.add_option("--max-line", max_line, "longest accepted input line in bytes")
      ->check(CLI::Range(std::size_t{16}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--shutdown-timeout", shutdown_timeout,
                 "on SIGTERM/SIGINT, how long busy workers may finish before they are killed")
      ->check(duration)
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();

  CommandLine result;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive here as "successes" (exit code 0).
    const int code = app.exit(e);
    result.exit_status = code == 0 ? kExitOk : kExitUsage;
    return result;
  }

  SupervisorConfig config;
  for (const std::string& text : listen) {
    std::string error;
    auto addr = parseHostPort(text, &error);
    if (!addr) {
      std::cerr << "preforkd: --listen: " << error << "\n";
      result.exit_status = kExitUsage;
      return result;
    }
    config.listen.push_back(*addr);
  }
  config.workers = workers;
  config.worker.service = service;
  config.worker.banner = !no_banner;
  config.worker.idle_timeout = *parseDuration(idle_timeout);
  config.worker.max_line_bytes = max_line;
  config.control_socket = control_socket;
  config.shutdown_timeout = *parseDuration(shutdown_timeout);
  config.log_level = *parseLogLevel(log_level);
  config.worker.log_level = config.log_level;
  result.config = std::move(config);
  return result;
}

}  // namespace preforkd
