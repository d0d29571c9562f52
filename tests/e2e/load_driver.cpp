#include "load_driver.h"

namespace e2e {

void LoadDriver::start() {
  running_ = true;
  for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] { loop(); });
}

void LoadDriver::stop() {
  running_ = false;
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void LoadDriver::noteFailure(const std::string& what) {
  std::lock_guard lock(mu_);
  if (failure_notes_.size() < 10) failure_notes_.push_back(what);
}

std::string LoadDriver::failures() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const std::string& f : failure_notes_) out += "\n  " + f;
  return out;
}

std::string LoadDriver::summary() const {
  return "ok " + std::to_string(ok_) + ", refused " + std::to_string(refused_) + ", cut " +
         std::to_string(cut_) + ", failed " + std::to_string(failed_) + failures();
}

void LoadDriver::loop() {
  std::uint64_t n = 0;
  while (running_) {
    ++n;
    Client c;
    if (!c.connect(port_)) {
      ++refused_;
      noteFailure("connect refused");
      continue;
    }
    const auto banner = c.readLine(5s);
    if (!banner) {
      // EOF or a reset before the banner: the worker that had taken it died first. A
      // timeout means it was never served at all.
      const auto rest = c.readAll(1s);
      if ((rest.eof || rest.error != 0) && rest.data.empty()) {
        ++cut_;
      } else {
        ++failed_;
        noteFailure("no banner: '" + c.pending() + rest.data + "'");
      }
      continue;
    }
    if (!parseBanner(*banner)) {
      ++failed_;
      noteFailure("not a banner: '" + *banner + "'");
      continue;
    }
    const std::string payload = "load " + std::to_string(n);
    auto cutOrFail = [&](const char* step) {
      // After the banner, EOF or a reset means the serving worker died (or was killed).
      const auto rest = c.readAll(2s);
      if (rest.eof || rest.error != 0) {
        ++cut_;
      } else {
        ++failed_;
        noteFailure(std::string(step) + ": '" + rest.data + "'");
      }
    };
    if (!c.send(payload + "\r\n")) {
      cutOrFail("send");
      continue;
    }
    const auto echo = c.readLine(5s);
    if (!echo) {
      cutOrFail("echo");
      continue;
    }
    if (*echo != payload) {
      ++failed_;
      noteFailure("echo mismatch: '" + *echo + "'");
      continue;
    }
    if (!c.send("quit\r\n")) {
      cutOrFail("quit");
      continue;
    }
    const auto bye = c.readLine(5s);
    if (!bye) {
      cutOrFail("goodbye");
      continue;
    }
    if (*bye != "Goodbye.") {
      ++failed_;
      noteFailure("expected Goodbye, got '" + *bye + "'");
      continue;
    }
    const auto end = c.readAll(5s);
    if (!end.eof) {
      ++failed_;
      noteFailure("no clean EOF after Goodbye");
      continue;
    }
    ++ok_;
  }
}

}  // namespace e2e
