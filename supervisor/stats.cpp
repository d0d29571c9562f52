#include "supervisor/stats.h"

#include <ctime>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/socket_address.h"

namespace preforkd {
namespace {

std::string secondsText(std::chrono::nanoseconds d) { return fmt::format("{:.3f}", toSeconds(d)); }

// Nanoseconds to whole microseconds, rounded to nearest.
std::uint64_t micros(std::uint64_t ns) { return (ns + 500) / 1000; }

bool holdsConnection(const ChildRecord& c) {
  return c.conn.has_value() && (c.state == ChildState::Busy || c.state == ChildState::Stopping);
}

}  // namespace

std::string formatWallTime(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::chrono::system_clock::time_point childStartedWall(const StatsSnapshot& s, const ChildRecord& c) {
  return s.started_wall +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(c.started_at - s.started_at);
}

std::vector<NamedHistogram> namedHistograms(const SupervisorHistograms& h) {
  return {
      {"queue_wait", "Time from accept() to the hand-off to a worker.", &h.queue_wait},
      {"handoff", "Time from sending a connection to a worker until it says Taken.", &h.handoff},
      {"service_time", "Time a worker spends on one connection (Taken to Available).",
       &h.service_time},
      {"startup", "Time from fork() until a new worker says Ready.", &h.startup},
  };
}

std::string renderAgent(const StatsSnapshot& s) {
  std::string out;
  auto line = [&out](std::string_view key, const auto& value) {
    out += fmt::format("{}: {}\n", key, value);
  };
  const AgentSnapshot& a = s.agent;
  line("agent", a.enabled ? a.address : std::string("off"));
  line("drain", s.drain ? fmt::format("on ({}, {} s)", s.drain_reason, secondsText(s.drain_age))
                        : std::string("off"));
  if (!a.enabled) return out;
  std::string answer = a.answer.line;
  while (!answer.empty() && answer.back() == '\n') answer.pop_back();
  line("answer", answer);
  line("state", toString(a.answer.state));
  line("reason", a.answer.reason);
  line("usable", a.view.usable);
  line("capacity", a.view.capacity);
  line("reference", a.view.reference != 0 ? a.view.reference : a.view.capacity);
  line("balancers", a.view.balancers);
  line("allow", a.allow.empty() ? std::string("any") : fmt::format("{}", fmt::join(a.allow, " ")));
  line("checks", a.counters.checks);
  line("refused", a.counters.refused);
  line("overflow", a.counters.overflow);
  line("errors", a.counters.errors);
  for (const AgentPeer& p : a.peers) {
    out += fmt::format("peer: {} from {} checks {} last {} s ago\n", p.label, p.address, p.checks,
                       secondsText(s.now - p.last_check));
  }
  return out;
}

std::string renderInfo(const StatsSnapshot& s) {
  std::string out;
  auto line = [&out](std::string_view key, const auto& value) {
    out += fmt::format("{}: {}\n", key, value);
  };
  const SupervisorCounters& c = s.counters;
  line("pid", s.pid);
  line("version", s.version);
  line("uptime_s", secondsText(s.uptime));
  line("state", s.draining ? "draining" : "running");
  for (const std::string& l : s.listeners) line("listen", l);
  line("service", s.service);
  line("started", formatWallTime(s.started_wall));
  line("generation", s.generation);
  line("pool_mode", toString(s.pool.mode));
  line("policy", toString(s.pool.policy));
  line("pool_min_spare", s.pool.min_spare);
  line("pool_max_spare", s.pool.max_spare);
  line("pool_max_children", s.pool.max_children);
  line("workers_configured", s.workers_configured);
  line("workers_total", s.workers_total);
  line("workers_idle", s.idle);
  line("workers_busy", s.busy);
  line("workers_starting", s.starting);
  line("workers_stopping", s.stopping);
  line("workers_old_generation", s.old_generation);
  line("throttled", s.throttled ? "yes" : "no");
  line("throttle_reason", s.throttle_reason.empty() ? "-" : s.throttle_reason);
  line("halted", s.halted ? "yes" : "no");
  line("drain", s.drain ? "on" : "off");
  line("agent", s.agent.enabled ? s.agent.address : std::string("off"));
  if (s.agent.enabled) line("agent_state", toString(s.agent.answer.state));
  line("conns_accepted", c.accepted);
  line("conns_dispatched", c.dispatched);
  line("conns_redispatched", s.redispatched);
  line("conns_completed", c.completed);
  line("conns_queued", s.queued);
  line("conns_queued_max", c.queued_max);
  line("queue_capacity", s.queue_capacity);
  line("queue_oldest_age_s", secondsText(s.queue_oldest_age));
  line("conns_dropped", c.dropped);
  line("conns_lost_in_service", c.lost_in_service);
  line("conns_rejected_queue_full", c.rejected_queue_full);
  line("conns_rejected_queue_timeout", c.rejected_queue_timeout);
  line("conns_rejected_per_source", c.rejected_per_source);
  line("conns_handed_over", c.handed_over);
  line("max_children_reached", c.max_children_reached);
  line("accept_errors", c.accept_errors);
  line("bad_status_messages", c.bad_messages);
  line("children_spawned", c.children_spawned);
  line("children_exited", c.children_exited);
  line("children_start_failures", c.start_failures);
  line("children_exited_stopped", c.exited_stopped);
  line("children_exited_error", c.exited_error);
  line("children_exited_crashed", c.exited_crashed);
  line("children_exited_killed", c.exited_killed);
  line("children_exited_no_restart", c.exited_no_restart);
  line("children_recycled", c.recycled);
  line("children_retired_idle", c.retired_idle);
  line("time_limit_kills", c.time_limit_kills);
  line("reloads", c.reloads);
  line("reloads_failed", c.reloads_failed);
  for (const ListenerStats& l : s.listener_stats) {
    line("listen_queue", fmt::format("{} now {} limit {}", l.address, l.backlog_now, l.backlog_limit));
  }
  return out;
}

char scoreboardChar(const ChildRecord& c) noexcept {
  switch (c.state) {
    case ChildState::Starting: return 'S';
    case ChildState::Idle: return c.stop_requested ? 'G' : '_';
    case ChildState::Busy: return c.stop_requested ? 'G' : 'W';
    case ChildState::Stopping: return 'G';
    case ChildState::Empty: break;
  }
  return '.';
}

std::string renderScoreboard(const StatsSnapshot& s) {
  std::string out;
  for (const ChildRecord& c : s.children) {
    if (c.state != ChildState::Empty) out += scoreboardChar(c);
  }
  return out.empty() ? "-" : out;
}

std::string renderWorkers(const StatsSnapshot& s) {
  std::string out = "slot pid state served conn conn_age_s gen peer last_conn_s started\n";
  for (const ChildRecord& c : s.children) {
    if (c.state == ChildState::Empty) continue;
    std::string conn = "-", age = "-", peer = "-";
    if (holdsConnection(c)) {
      conn = fmt::format("{}", *c.conn);
      age = secondsText(s.now - c.state_since);
      if (c.conn_peer.length > 0) peer = formatAddress(c.conn_peer);
    }
    const std::string last = c.served > 0 ? secondsText(c.last_duration) : "-";
    out += fmt::format("{} {} {} {} {} {} {} {} {} {}\n", c.slot, c.pid, toString(c.state),
                       c.served, conn, age, c.generation, peer, last,
                       formatWallTime(childStartedWall(s, c)));
  }
  out += "scoreboard: " + renderScoreboard(s) + "\n";
  return out;
}

std::string renderConns(const StatsSnapshot& s) {
  std::string out = "id peer child state age_s queue_wait_s\n";
  for (const ConnectionRow& r : s.connections) {
    out += fmt::format("{} {} {} {} {} {}\n", r.id, r.peer.empty() ? "-" : r.peer,
                       r.child_pid > 0 ? fmt::format("{}", r.child_pid) : "-",
                       *r.state ? r.state : "-", secondsText(r.age), secondsText(r.queue_wait));
  }
  return out;
}

std::string renderHist(const StatsSnapshot& s) {
  std::string out = "histogram count p50_us p90_us p99_us p99.9_us max_us mean_us\n";
  for (const NamedHistogram& n : namedHistograms(s.histograms)) {
    const Histogram& h = *n.histogram;
    out += fmt::format("{} {} {} {} {} {} {} {}\n", n.name, h.count(), micros(h.percentile(50)),
                       micros(h.percentile(90)), micros(h.percentile(99)),
                       micros(h.percentile(99.9)), micros(h.max()),
                       micros(static_cast<std::uint64_t>(h.mean() + 0.5)));
  }
  return out;
}

}  // namespace preforkd
