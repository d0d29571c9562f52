#include "supervisor/stats.h"

#include <fmt/format.h>

namespace preforkd {
namespace {

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

std::string renderInfo(const StatsSnapshot& s) {
  std::string out;
  auto line = [&out](std::string_view key, const auto& value) {
    out += fmt::format("{}: {}\n", key, value);
  };
  line("pid", s.pid);
  line("version", s.version);
  line("uptime_s", fmt::format("{:.3f}", seconds(s.uptime)));
  line("state", s.draining ? "draining" : "running");
  for (const std::string& l : s.listeners) line("listen", l);
  line("service", s.service);
  line("workers_configured", s.workers_configured);
  line("workers_total", s.workers_total);
  line("workers_idle", s.idle);
  line("workers_busy", s.busy);
  line("workers_starting", s.starting);
  line("workers_stopping", s.stopping);
  line("throttled", s.throttled ? "yes" : "no");
  line("conns_accepted", s.counters.accepted);
  line("conns_dispatched", s.counters.dispatched);
  line("conns_redispatched", s.redispatched);
  line("conns_completed", s.counters.completed);
  line("conns_queued", s.queued);
  line("conns_dropped", s.counters.dropped);
  line("conns_lost_in_service", s.counters.lost_in_service);
  line("accept_errors", s.counters.accept_errors);
  line("bad_status_messages", s.counters.bad_messages);
  line("children_spawned", s.counters.children_spawned);
  line("children_exited", s.counters.children_exited);
  line("children_start_failures", s.counters.start_failures);
  return out;
}

std::string renderWorkers(const StatsSnapshot& s) {
  std::string out = "slot pid state served conn conn_age_s\n";
  for (const ChildRecord& c : s.children) {
    std::string conn = "-", age = "-";
    if (c.state == ChildState::Busy && c.conn) {
      conn = fmt::format("{}", *c.conn);
      age = fmt::format("{:.3f}", seconds(s.now - c.state_since));
    }
    out += fmt::format("{} {} {} {} {} {}\n", c.slot, c.pid, toString(c.state), c.served, conn, age);
  }
  return out;
}

}  // namespace preforkd
