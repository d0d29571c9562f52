// LoadDriver: continuous echo-service clients from threads, for tests that change the pool
// under load (chaos kills, reloads, hot upgrade).
//
// Contract: start() launches `threads` client loops against 127.0.0.1:port; each loop runs
// complete sessions (connect, banner, one echo round trip, quit, Goodbye, EOF) until stop(),
// every step bounded by a timeout, and classifies each session: ok, refused (connect failed),
// cut (EOF/reset after the banner: the serving worker died), or other failure (anything else:
// a wrong byte, a timeout, no banner). stop() joins the threads. Counters are atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace e2e {

class LoadDriver {
 public:
  LoadDriver(int port, int threads) : port_(port), threads_(threads) {}
  ~LoadDriver() { stop(); }
  LoadDriver(const LoadDriver&) = delete;
  LoadDriver& operator=(const LoadDriver&) = delete;

  void start();
  void stop();

  std::uint64_t ok() const { return ok_; }
  std::uint64_t refused() const { return refused_; }
  std::uint64_t cut() const { return cut_; }
  std::uint64_t failed() const { return failed_; }
  std::uint64_t total() const { return ok_ + refused_ + cut_ + failed_; }
  // Up to 10 descriptions of failures, for assertion messages.
  std::string failures() const;
  std::string summary() const;

 private:
  void loop();
  void noteFailure(const std::string& what);

  int port_;
  int threads_;
  std::atomic<bool> running_{false};
  std::vector<std::thread> workers_;
  std::atomic<std::uint64_t> ok_{0}, refused_{0}, cut_{0}, failed_{0};
  mutable std::mutex mu_;
  std::vector<std::string> failure_notes_;
};

}  // namespace e2e
