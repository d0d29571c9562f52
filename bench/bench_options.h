// BenchOptions: what one preforkd-bench run does, as parsed from the command line.
//
// Contract: plain data plus name <-> enum conversions; validation of ranges happens in the CLI
// (preforkd_bench.cpp), so a LoadGenerator may assume every field is within the documented
// bounds. `rate` == 0 means closed loop (each of `concurrency` slots runs operations back to
// back); `rate` > 0 means open loop (operations scheduled every 1/rate seconds, at most
// `concurrency` in flight, latency measured from the scheduled time).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace preforkd::bench {

enum class Mode {
  Crr,    // connect, request, reply, close: one connection per operation
  Rr,     // persistent connections, one request/reply round trip per operation
  Churn,  // connect, the shortest complete session, close: one connection per operation
};

enum class Service {
  Echo,     // preforkd --service echo (banner, line echo, quit)
  RawEcho,  // preforkd --service echo --no-banner (byte-exact RFC 862 echo)
  Shell,    // preforkd --service shell (banner, PING -> PONG, QUIT)
  Bytes,    // preforkd --service bytes ("N\n" -> N pattern bytes)
};

std::string_view modeName(Mode mode) noexcept;
std::string_view serviceName(Service service) noexcept;
std::optional<Mode> parseMode(std::string_view name) noexcept;
std::optional<Service> parseService(std::string_view name) noexcept;
bool isLineService(Service service) noexcept;

struct BenchOptions {
  std::string host = "127.0.0.1";  // numeric IPv4 or IPv6, never resolved
  std::uint16_t port = 0;
  Mode mode = Mode::Crr;
  Service service = Service::RawEcho;
  std::uint32_t concurrency = 1;  // closed loop: busy slots; open loop: cap on ops in flight
  double rate = 0;                // operations per second in total; 0 = closed loop
  std::chrono::nanoseconds duration = std::chrono::seconds(10);  // measured part of the run
  std::chrono::nanoseconds warmup{0};                            // unmeasured load before it
  std::uint64_t requests = 0;  // stop once this many measured operations completed; 0 = no cap
  std::size_t payload = 64;    // raw-echo bytes per request, or echo line length
  std::uint64_t bytes_count = 1024;  // bytes service: bytes asked for per request
  std::chrono::milliseconds timeout{5000};  // per operation (and per connection set-up)
};

}  // namespace preforkd::bench
