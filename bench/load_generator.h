// LoadGenerator: drives one preforkd-bench run on a single thread with one epoll loop and
// non-blocking sockets (TCP_NODELAY), a small state machine per connection slot.
//
// Contract:
//  - Closed loop (rate == 0): each of `concurrency` slots starts its next operation as soon as
//    the previous one ends; latency runs from the operation's actual start (for crr and churn
//    that includes socket() and connect()).
//  - Open loop (rate > 0): operation i is scheduled at start + i/rate; due operations wait in a
//    queue for a free slot (at most `concurrency` in flight). Latency runs from the SCHEDULED
//    time, so a stalled server shows up as latency instead of fewer samples. An operation that
//    starts more than kBehindSlack after its scheduled time counts as behind_schedule; one that
//    waits in the queue longer than the timeout is a timeout error without ever being sent.
//  - Only operations whose origin (start or scheduled time) falls after the warm-up count.
//    New operations stop at warm-up + duration, or once `requests` measured operations have
//    completed; operations already under way are then allowed to finish or time out (drain),
//    so every measured operation ends as exactly one completion or one error. The run ends at
//    the latest timeout + 2 s after the duration (anything left then is "abandoned"), or right
//    away once nothing has connected after the first attempts (connected_ever == false).
//  - Each operation (and, for rr, each connection set-up: connect and banner) has its own
//    timeout; an expired one is a timeout error and its connection is closed. After any error
//    a slot rests until the next housekeeping tick (at most 10 ms) before it tries again, so
//    a dead server costs errors, not a busy loop.
//  - requestStop() (async-signal-safe, for SIGINT/SIGTERM) stops new operations and drains;
//    a second call abandons what is left.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "bench/bench_options.h"
#include "common/histogram.h"
#include "common/socket_address.h"

namespace preforkd::bench {

enum class ErrorClass : std::uint8_t {
  Refused,    // ECONNREFUSED
  Reset,      // ECONNRESET, EPIPE, ECONNABORTED
  Timeout,    // the operation (or set-up) outlived --timeout-ms
  ShortRead,  // EOF before the full reply
  Mismatch,   // wrong bytes, or bytes where none (or EOF) were expected
  Other,      // anything else: EADDRNOTAVAIL, EMFILE, ...
};
inline constexpr std::size_t kErrorClassCount = 6;
std::string_view errorClassName(ErrorClass error) noexcept;  // "refused", "short_read", ...

inline constexpr std::chrono::milliseconds kBehindSlack{1};

struct BenchResult {
  std::uint64_t completed = 0;         // measured operations that ended with the right reply
  std::array<std::uint64_t, kErrorClassCount> errors{};  // measured, by ErrorClass
  std::uint64_t behind_schedule = 0;   // open loop: measured operations started late
  std::uint64_t connections = 0;       // measured connections established
  std::uint64_t abandoned = 0;         // measured operations cut off by the hard stop
  std::chrono::nanoseconds elapsed{0};  // from the end of the warm-up to the end of the drain
  Histogram latency_ns;                // completed operations only
  bool connected_ever = false;         // any connection at all succeeded, warm-up included
  bool interrupted = false;            // requestStop() was called
  std::array<std::string, kErrorClassCount> first_error;  // a description of the first of each
  std::string first_connect_error;  // the first failed connection attempt, warm-up included

  std::uint64_t errorTotal() const noexcept;
};

class LoadGenerator {
 public:
  LoadGenerator(const BenchOptions& options, const SocketAddress& target);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Runs the whole benchmark. Throws std::system_error only if epoll itself cannot be set up.
  BenchResult run();

  static void requestStop() noexcept;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace preforkd::bench
