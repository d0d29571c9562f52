// Echo sessions for the HAProxy tests: an open-loop load whose offered load is known, and a
// single session the test holds open for as long as it likes.
//
// Contract:
//  - OpenLoopLoad starts sessions at a fixed average rate as a Poisson process (exponential
//    gaps from a seeded generator: the same arrival times every run), whatever happened to
//    the sessions before (open loop: a slow server does not slow the arrivals down), from a
//    pool of threads large enough that arrivals are not held back (`late_max` says by how
//    much they were). Evenly spaced arrivals would lock a balancer into one pattern (e.g.
//    always 6 + 1 sessions on two hosts) instead of sampling the states real traffic visits.
//    A session is: connect, banner, one line echoed, hold for `hold`, quit, Goodbye,
//    EOF; every step bounded. The hold is the workload's service time (what "70% of the
//    capacity" is computed from), not a synchronisation. Each session is ok or failed (with
//    a note); ok sessions record the serving worker's pid (from the banner) and the time
//    from connect() to the banner (the wait for a worker, in HAProxy's queue or preforkd's).
//  - HeldSession is one session opened by open(), answered by echo() and ended by finish().
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/harness.h"

namespace haproxy {

using e2e::Ms;

struct LoadPlan {
  int port = 0;             // on 127.0.0.1
  double rate = 100;        // sessions per second
  Ms hold{50};              // per session, between the echo and quit
  std::size_t count = 0;    // sessions in all; 0: until stop()
  std::size_t threads = 48;
  std::uint64_t seed = 1;
};

struct LoadResult {
  std::uint64_t ok = 0, failed = 0;
  std::map<pid_t, std::uint64_t> by_pid;  // ok sessions per serving worker
  std::vector<double> banner_ms;          // per ok session, sorted
  double late_max_ms = 0;                 // worst lateness of an arrival against its schedule
  std::string failures;                   // up to 10, one per line
  double percentile(double p) const;      // of banner_ms; 0 when empty
};

class OpenLoopLoad {
 public:
  explicit OpenLoopLoad(LoadPlan plan);
  ~OpenLoopLoad();
  OpenLoopLoad(const OpenLoopLoad&) = delete;
  OpenLoopLoad& operator=(const OpenLoopLoad&) = delete;

  void start();
  // Waits (bounded) until `count` sessions have ended; false on timeout.
  bool waitDone(Ms timeout);
  // No new arrivals; joins the threads (sessions under way finish first).
  void stop();
  std::uint64_t ended() const { return ok_ + failed_; }
  std::uint64_t failed() const { return failed_; }
  LoadResult result() const;

 private:
  void loop();
  void session(std::uint64_t n);
  void fail(const std::string& what);
  e2e::SteadyClock::time_point due(std::uint64_t n);

  LoadPlan plan_;
  e2e::SteadyClock::time_point t0_;
  std::atomic<bool> running_{false};
  std::atomic<std::uint64_t> next_{0}, ok_{0}, failed_{0};
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  std::map<pid_t, std::uint64_t> by_pid_;
  std::vector<double> banner_ms_;
  double late_max_ms_ = 0;
  std::vector<std::string> failures_;
  std::mt19937_64 rng_;
  std::vector<double> arrivals_s_;  // arrival n, in seconds after the start
};

class HeldSession {
 public:
  // Connects, reads the banner and has one line echoed.
  testing::AssertionResult open(int port);
  testing::AssertionResult echo(const std::string& line);
  // quit, Goodbye, EOF.
  testing::AssertionResult finish();
  pid_t pid() const { return pid_; }

 private:
  e2e::Client client_;
  pid_t pid_ = -1;
};

}  // namespace haproxy
