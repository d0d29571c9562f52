#include "tests/haproxy/session_load.h"

#include <algorithm>
#include <cmath>

namespace haproxy {

using namespace std::chrono_literals;

double LoadResult::percentile(double p) const {
  if (banner_ms.empty()) return 0;
  const auto i = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(banner_ms.size())));
  return banner_ms[std::min(banner_ms.size() - 1, i == 0 ? 0 : i - 1)];
}

OpenLoopLoad::OpenLoopLoad(LoadPlan plan) : plan_(plan), rng_(plan.seed) {}

OpenLoopLoad::~OpenLoopLoad() { stop(); }

void OpenLoopLoad::start() {
  t0_ = e2e::SteadyClock::now();
  running_ = true;
  for (std::size_t i = 0; i < plan_.threads; ++i) threads_.emplace_back([this] { loop(); });
}

void OpenLoopLoad::stop() {
  running_ = false;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

bool OpenLoopLoad::waitDone(Ms timeout) {
  std::unique_lock lock(mu_);
  return done_cv_.wait_for(lock, timeout, [&] { return plan_.count != 0 && ended() >= plan_.count; });
}

LoadResult OpenLoopLoad::result() const {
  std::lock_guard lock(mu_);
  LoadResult r;
  r.ok = ok_;
  r.failed = failed_;
  r.by_pid = by_pid_;
  r.banner_ms = banner_ms_;
  std::sort(r.banner_ms.begin(), r.banner_ms.end());
  r.late_max_ms = late_max_ms_;
  for (const std::string& f : failures_) r.failures += f + "\n";
  return r;
}

e2e::SteadyClock::time_point OpenLoopLoad::due(std::uint64_t n) {
  std::lock_guard lock(mu_);
  std::exponential_distribution<double> gap(plan_.rate);
  while (arrivals_s_.size() <= n) {
    arrivals_s_.push_back((arrivals_s_.empty() ? 0.0 : arrivals_s_.back()) + gap(rng_));
  }
  return t0_ + std::chrono::duration_cast<e2e::SteadyClock::duration>(
                   std::chrono::duration<double>(arrivals_s_[n]));
}

void OpenLoopLoad::loop() {
  while (running_) {
    const std::uint64_t n = next_++;
    if (plan_.count != 0 && n >= plan_.count) return;
    const auto due = this->due(n);
    // Pacing the arrivals is the workload itself, in slices so that stop() is prompt.
    while (running_ && e2e::SteadyClock::now() < due) {
      std::this_thread::sleep_for(std::min<e2e::SteadyClock::duration>(due - e2e::SteadyClock::now(), 50ms));
    }
    if (!running_) return;
    const double late = std::chrono::duration<double, std::milli>(e2e::SteadyClock::now() - due).count();
    {
      std::lock_guard lock(mu_);
      late_max_ms_ = std::max(late_max_ms_, late);
    }
    session(n);
    std::lock_guard lock(mu_);
    done_cv_.notify_all();
  }
}

void OpenLoopLoad::fail(const std::string& what) {
  ++failed_;
  std::lock_guard lock(mu_);
  if (failures_.size() < 10) failures_.push_back(what);
}

void OpenLoopLoad::session(std::uint64_t n) {
  const std::string id = "session " + std::to_string(n) + ": ";
  const auto begin = e2e::SteadyClock::now();
  e2e::Client c;
  if (auto r = c.connect(plan_.port); !r) return fail(id + r.message());
  // HAProxy's queue (timeout queue 10 s) is where a client waits for a free worker.
  const auto banner = c.readLine(12s);
  if (!banner) return fail(id + "no banner ('" + c.pending() + "')");
  const auto b = e2e::parseBanner(*banner);
  if (!b) return fail(id + "not a banner: '" + *banner + "'");
  const double banner_ms = std::chrono::duration<double, std::milli>(e2e::SteadyClock::now() - begin).count();
  const std::string payload = "hold " + std::to_string(n);
  if (!c.send(payload + "\r\n")) return fail(id + "send failed");
  const auto echo = c.readLine(5s);
  if (!echo || *echo != payload) return fail(id + "echo: '" + echo.value_or(c.pending()) + "'");
  std::this_thread::sleep_for(plan_.hold);  // the service time of this workload
  if (!c.send("quit\r\n")) return fail(id + "send quit failed");
  const auto bye = c.readLine(5s);
  if (!bye || *bye != "Goodbye.") return fail(id + "goodbye: '" + bye.value_or(c.pending()) + "'");
  const auto rest = c.readAll(5s);
  if (!rest.eof || !rest.data.empty()) return fail(id + "no clean EOF after Goodbye");
  ++ok_;
  std::lock_guard lock(mu_);
  ++by_pid_[b->pid];
  banner_ms_.push_back(banner_ms);
}

testing::AssertionResult HeldSession::open(int port) {
  if (auto r = client_.connect(port); !r) return r;
  const auto banner = client_.readLine(5s);
  if (!banner) return testing::AssertionFailure() << "no banner ('" << client_.pending() << "')";
  const auto b = e2e::parseBanner(*banner);
  if (!b) return testing::AssertionFailure() << "not a banner: '" << *banner << "'";
  pid_ = b->pid;
  return echo("held session");
}

testing::AssertionResult HeldSession::echo(const std::string& line) {
  if (auto r = client_.send(line + "\r\n"); !r) return r;
  const auto got = client_.readLine(5s);
  if (!got || *got != line) {
    return testing::AssertionFailure() << "echo of '" << line << "': '" << got.value_or(client_.pending()) << "'";
  }
  return testing::AssertionSuccess();
}

testing::AssertionResult HeldSession::finish() {
  if (auto r = client_.send("quit\r\n"); !r) return r;
  const auto bye = client_.readLine(5s);
  if (!bye || *bye != "Goodbye.") {
    return testing::AssertionFailure() << "goodbye: '" << bye.value_or(client_.pending()) << "'";
  }
  const auto rest = client_.readAll(5s);
  if (!rest.eof || !rest.data.empty()) return testing::AssertionFailure() << "no clean EOF after Goodbye";
  client_.close();
  return testing::AssertionSuccess();
}

}  // namespace haproxy
