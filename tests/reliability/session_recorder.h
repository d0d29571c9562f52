// SessionRecorder: continuous echo-service sessions from threads (like LoadDriver), each one
// recorded, so the clients' view can be matched against the supervisor's own account.
//
// Contract: start() launches `threads` client loops against 127.0.0.1:port; each runs complete
// sessions (connect, banner, one echo round trip, quit, Goodbye, EOF) until stop(), every step
// bounded by a timeout. Every session gets a record: the client's local port, the connection id
// and worker pid from the banner (when one arrived) and how it ended:
//   Served   the whole session, Goodbye and a clean EOF;
//   Cut      EOF or a reset before the session was complete (its worker died);
//   Refused  connect() failed;
//   Failed   anything else (a wrong byte, a timeout, no banner): never expected.
// With Keep::All every record is kept; with Keep::Problems (long runs) only the counts and the
// records of sessions that were not Served. records() may be called after stop().
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace e2e {

enum class SessionEnd { Served, Cut, Refused, Failed };
const char* toString(SessionEnd end);

struct SessionRecord {
  int local_port = 0;
  std::uint64_t conn = 0;  // 0: no banner arrived
  pid_t worker = -1;
  SessionEnd end = SessionEnd::Failed;
  std::string note;  // what went wrong (Failed, Cut)
};

class SessionRecorder {
 public:
  enum class Keep { All, Problems };
  SessionRecorder(int port, int threads, Keep keep = Keep::All)
      : port_(port), threads_(threads), keep_(keep) {}
  ~SessionRecorder() { stop(); }
  SessionRecorder(const SessionRecorder&) = delete;
  SessionRecorder& operator=(const SessionRecorder&) = delete;

  void start();
  void stop();

  std::uint64_t served() const { return counts_[0]; }
  std::uint64_t cut() const { return counts_[1]; }
  std::uint64_t refused() const { return counts_[2]; }
  std::uint64_t failed() const { return counts_[3]; }
  std::uint64_t total() const { return served() + cut() + refused() + failed(); }
  std::vector<SessionRecord> records() const;
  // "served N, cut N, refused N, failed N" and the first few failures.
  std::string summary() const;

 private:
  void loop();
  SessionRecord runOne(std::uint64_t n);
  void note(SessionRecord record);

  int port_;
  int threads_;
  Keep keep_;
  std::atomic<bool> running_{false};
  std::vector<std::thread> workers_;
  std::atomic<std::uint64_t> counts_[4] = {0, 0, 0, 0};
  mutable std::mutex mu_;
  std::vector<SessionRecord> records_;
};

}  // namespace e2e
