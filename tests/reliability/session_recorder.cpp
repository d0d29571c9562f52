#include "tests/reliability/session_recorder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tests/e2e/harness.h"

namespace e2e {
namespace {

int localPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return 0;
  return ntohs(a.sin_port);
}

}  // namespace

const char* toString(SessionEnd end) {
  switch (end) {
    case SessionEnd::Served: return "served";
    case SessionEnd::Cut: return "cut";
    case SessionEnd::Refused: return "refused";
    case SessionEnd::Failed: return "failed";
  }
  return "?";
}

void SessionRecorder::start() {
  running_ = true;
  for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] { loop(); });
}

void SessionRecorder::stop() {
  running_ = false;
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

std::vector<SessionRecord> SessionRecorder::records() const {
  std::lock_guard lock(mu_);
  return records_;
}

std::string SessionRecorder::summary() const {
  std::string out = "served " + std::to_string(served()) + ", cut " + std::to_string(cut()) +
                    ", refused " + std::to_string(refused()) + ", failed " +
                    std::to_string(failed());
  std::lock_guard lock(mu_);
  int shown = 0;
  for (const SessionRecord& r : records_) {
    if (r.end != SessionEnd::Failed && r.end != SessionEnd::Refused) continue;
    out += "\n  " + std::string(toString(r.end)) + " (port " + std::to_string(r.local_port) +
           ", connection " + std::to_string(r.conn) + "): " + r.note;
    if (++shown == 10) break;
  }
  return out;
}

void SessionRecorder::note(SessionRecord record) {
  ++counts_[static_cast<int>(record.end)];
  if (keep_ == Keep::Problems && record.end == SessionEnd::Served) return;
  std::lock_guard lock(mu_);
  records_.push_back(std::move(record));
}

void SessionRecorder::loop() {
  std::uint64_t n = 0;
  while (running_) note(runOne(++n));
}

SessionRecord SessionRecorder::runOne(std::uint64_t n) {
  SessionRecord r;
  Client c;
  if (auto ok = c.connect(port_); !ok) {
    r.end = SessionEnd::Refused;
    r.note = ok.message();
    return r;
  }
  r.local_port = localPort(c.fd());
  // After a step fails: EOF or a reset means the serving worker died (Cut); bytes or
  // silence mean something else went wrong.
  auto cutOrFail = [&](const std::string& step) {
    const auto rest = c.readAll(2s);
    if ((rest.eof || rest.error != 0) && rest.data.empty()) {
      r.end = SessionEnd::Cut;
      r.note = step;
    } else {
      r.end = SessionEnd::Failed;
      r.note = step + ": got '" + rest.data + "'" + (rest.timed_out ? " then nothing" : "");
    }
    return r;
  };
  const auto banner_line = c.readLine(5s);
  if (!banner_line) return cutOrFail("banner");
  const auto banner = parseBanner(*banner_line);
  if (!banner) {
    r.note = "not a banner: '" + *banner_line + "'";
    return r;
  }
  r.conn = banner->conn;
  r.worker = banner->pid;
  const std::string payload = "load " + std::to_string(n);
  if (!c.send(payload + "\r\n")) return cutOrFail("send");
  const auto echo = c.readLine(5s);
  if (!echo) return cutOrFail("echo");
  if (*echo != payload) {
    r.note = "echo mismatch: '" + *echo + "'";
    return r;
  }
  if (!c.send("quit\r\n")) return cutOrFail("quit");
  const auto bye = c.readLine(5s);
  if (!bye) return cutOrFail("goodbye");
  if (*bye != "Goodbye.") {
    r.note = "expected Goodbye., got '" + *bye + "'";
    return r;
  }
  const auto end = c.readAll(5s);
  if (!end.eof || !end.data.empty()) {
    r.note = "no clean EOF after Goodbye (error " + std::to_string(end.error) + ")";
    return r;
  }
  r.end = SessionEnd::Served;
  return r;
}

}  // namespace e2e
