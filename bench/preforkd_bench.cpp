// preforkd-bench: a loopback load generator for preforkd. Parses the command line, runs one
// LoadGenerator, prints the report (human or --json) on stdout.
// Exit statuses: 0 the run completed (even with errors), 1 nothing could connect at all,
// 64 bad command line, 70 internal error (epoll could not be set up).
#include <sys/resource.h>

#include <csignal>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "bench/bench_options.h"
#include "bench/bench_report.h"
#include "bench/load_generator.h"
#include "common/socket_address.h"
#include "preforkd/version.h"

namespace {

using namespace preforkd;
using namespace preforkd::bench;

constexpr int kExitOk = 0;
constexpr int kExitNoConnection = 1;
constexpr int kExitUsage = 64;
constexpr int kExitSoftware = 70;

constexpr std::uint32_t kMaxConcurrency = 100'000;
constexpr std::uint32_t kOpenLoopDefaultConcurrency = 64;  // crr and churn with --rate
constexpr int kSpareDescriptors = 32;

extern "C" void onStopSignal(int) { LoadGenerator::requestStop(); }

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: epoll_wait returns EINTR and the loop sees the request
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // sends use MSG_NOSIGNAL; this is belt and braces
}

// Raises the soft descriptor limit to the hard one; false if `needed` still does not fit.
bool ensureDescriptors(std::uint64_t needed, rlim_t* limit) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return true;
  if (rl.rlim_cur < needed && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  *limit = rl.rlim_cur;
  return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= needed;
}

std::chrono::nanoseconds secondsToNanos(double s) {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"preforkd-bench: a load generator for preforkd over loopback TCP.\n"
               "crr: one connection per request (exercises accept and hand-off); rr: "
               "persistent connections; churn: the shortest complete session per connection.\n"
               "Closed loop by default (-c slots back to back); --rate R is open loop, with "
               "latency measured from each operation's scheduled time.",
               "preforkd-bench"};
  app.set_version_flag("-V,--version", "preforkd-bench " PREFORKD_VERSION);
  app.get_formatter()->column_width(30);

  BenchOptions options;
  int port = 0;
  std::string mode_text, service_text;
  double duration_s = 10, warmup_s = 0;
  std::int64_t timeout_ms = 5000;
  bool json = false;

  app.add_option("--port", port, "preforkd's TCP port")
      ->required()
      ->check(CLI::Range(1, 65535));
  app.add_option("--host", options.host,
                 "numeric IPv4 or IPv6 address, [brackets] optional (never resolved)")
      ->capture_default_str();
  app.add_option("--mode", mode_text, "crr | rr | churn")
      ->required()
      ->check(CLI::IsMember({"crr", "rr", "churn"}));
  app.add_option("--service", service_text,
                 "echo | raw-echo | shell | bytes (what preforkd serves: raw-echo is "
                 "--service echo --no-banner)")
      ->required()
      ->check(CLI::IsMember({"echo", "raw-echo", "shell", "bytes"}));
  auto* concurrency_opt =
      app.add_option("-c,--concurrency", options.concurrency,
                     "closed loop: connections/slots running back to back (default 1); open "
                     "loop: most operations in flight (default 64 for crr and churn, 1 for rr)")
          ->check(CLI::Range(std::uint32_t{1}, kMaxConcurrency));
  app.add_option("--rate", options.rate,
                 "open loop: operations per second in total, at fixed intervals")
      ->check(CLI::Range(0.001, 1e7));
  app.add_option("--duration", duration_s, "seconds of measured load (at most 600)")
      ->check(CLI::Range(0.001, 600.0))
      ->capture_default_str();
  app.add_option("--requests", options.requests,
                 "stop once N measured operations completed (the duration still bounds the run)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 48));
  app.add_option("--payload", options.payload,
                 "raw-echo: request bytes (binary); echo: line length ('a'..'z')")
      ->check(CLI::Range(std::size_t{1}, std::size_t{16} << 20))
      ->capture_default_str();
  app.add_option("--bytes-count", options.bytes_count, "bytes service: bytes asked per request")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms,
                 "per operation (and per rr connection set-up); an expired one is a timeout "
                 "error and its connection is closed")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{600'000}))
      ->capture_default_str();
  app.add_option("--warmup", warmup_s, "seconds of unmeasured load before the measured part")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app.add_flag("--json", json, "print one JSON object instead of the human summary");
  app.footer("rr holds one connection per slot for the whole run: keep -c at or below the "
             "server's worker count, or the extra connections wait in its backlog and time out.\n"
             "Exit status: 0 the run completed (even with errors), 1 nothing could connect, "
             "64 bad command line.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // --help and --version are "errors" with code 0
    return code == 0 ? kExitOk : kExitUsage;
  }

  options.port = static_cast<std::uint16_t>(port);
  options.mode = *parseMode(mode_text);
  options.service = *parseService(service_text);
  options.duration = secondsToNanos(duration_s);
  options.warmup = secondsToNanos(warmup_s);
  options.timeout = std::chrono::milliseconds(timeout_ms);
  if (options.rate > 0 && concurrency_opt->count() == 0) {
    options.concurrency = options.mode == Mode::Rr ? 1 : kOpenLoopDefaultConcurrency;
  }

  std::string host = options.host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string error;
  const std::string host_port = host.find(':') != std::string::npos
                                    ? fmt::format("[{}]:{}", host, port)
                                    : fmt::format("{}:{}", host, port);
  const auto target = parseHostPort(host_port, &error);
  if (!target) {
    std::cerr << "preforkd-bench: --host: " << error << "\n";
    return kExitUsage;
  }
  rlim_t limit = 0;
  if (!ensureDescriptors(std::uint64_t{options.concurrency} + kSpareDescriptors, &limit)) {
    std::cerr << fmt::format("preforkd-bench: -c {} needs more descriptors than the limit of {} "
                             "(ulimit -n)\n",
                             options.concurrency, limit);
    return kExitUsage;
  }

  installSignalHandlers();
  BenchResult result;
  try {
    LoadGenerator generator(options, *target);
    result = generator.run();
  } catch (const std::exception& e) {
    std::cerr << "preforkd-bench: internal error: " << e.what() << "\n";
    return kExitSoftware;
  }

  if (json) {
    std::cout << jsonReport(options, result).dump() << "\n";
  } else {
    std::cout << humanReport(options, result);
  }
  std::cout.flush();
  if (!result.connected_ever) {
    const std::string& why = result.first_connect_error;
    std::cerr << fmt::format("preforkd-bench: could not connect to {}{}{}\n", host_port,
                             why.empty() ? "" : ": ", why);
    return kExitNoConnection;
  }
  return kExitOk;
}
