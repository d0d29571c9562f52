#include "supervisor/stats_json.h"

#include "common/socket_address.h"

namespace preforkd {
namespace {

using Json = nlohmann::ordered_json;

double micros(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

}  // namespace

std::string renderJsonLine(const Json& j) {
  // Replace invalid UTF-8 instead of throwing: a peer address or reason is never worth an
  // exception inside the event loop.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

Json agentJson(const StatsSnapshot& s) {
  const AgentSnapshot& a = s.agent;
  Json j;
  j["enabled"] = a.enabled;
  j["address"] = a.enabled ? Json(a.address) : Json(nullptr);
  j["drain"] = {{"on", s.drain},
                {"reason", s.drain ? Json(s.drain_reason) : Json(nullptr)},
                {"age_s", s.drain ? Json(toSeconds(s.drain_age)) : Json(nullptr)}};
  if (!a.enabled) return j;
  std::string answer = a.answer.line;
  while (!answer.empty() && answer.back() == '\n') answer.pop_back();
  j["answer"] = answer;
  j["state"] = toString(a.answer.state);
  j["reason"] = a.answer.reason;
  j["weight_percent"] = a.answer.weight_percent;
  j["maxconn"] = a.answer.maxconn;
  j["usable"] = a.view.usable;
  j["capacity"] = a.view.capacity;
  j["reference"] = a.view.reference != 0 ? a.view.reference : a.view.capacity;
  j["balancers"] = a.view.balancers;
  j["allow"] = a.allow;
  j["counters"] = {{"checks", a.counters.checks},
                   {"refused", a.counters.refused},
                   {"overflow", a.counters.overflow},
                   {"errors", a.counters.errors}};
  Json peers = Json::array();
  for (const AgentPeer& p : a.peers) {
    peers.push_back({{"label", p.label},
                     {"address", p.address},
                     {"checks", p.checks},
                     {"last_check_age_s", toSeconds(s.now - p.last_check)}});
  }
  j["peers"] = std::move(peers);
  return j;
}

Json infoJson(const StatsSnapshot& s) {
  const SupervisorCounters& c = s.counters;
  Json listeners = Json::array();
  for (const std::string& l : s.listeners) {
    Json entry = {{"address", l}, {"queue_now", nullptr}, {"queue_limit", nullptr}};
    for (const ListenerStats& ls : s.listener_stats) {
      if (ls.address == l && ls.ok) {
        entry["queue_now"] = ls.backlog_now;
        entry["queue_limit"] = ls.backlog_limit;
      }
    }
    listeners.push_back(std::move(entry));
  }
  Json j;
  j["pid"] = s.pid;
  j["version"] = s.version;
  j["uptime_s"] = toSeconds(s.uptime);
  j["started"] = formatWallTime(s.started_wall);
  j["state"] = s.draining ? "draining" : "running";
  j["generation"] = s.generation;
  j["service"] = s.service;
  j["listeners"] = std::move(listeners);
  j["pool"] = {{"mode", toString(s.pool.mode)},
               {"policy", toString(s.pool.policy)},
               {"workers", s.workers_configured},
               {"min_spare", s.pool.min_spare},
               {"max_spare", s.pool.max_spare},
               {"max_children", s.pool.max_children}};
  j["workers"] = {{"total", s.workers_total},     {"idle", s.idle},
                  {"busy", s.busy},               {"starting", s.starting},
                  {"stopping", s.stopping},       {"old_generation", s.old_generation}};
  j["throttled"] = s.throttled;
  j["throttle_reason"] = s.throttle_reason;
  j["halted"] = s.halted;
  j["drain"] = s.drain;
  j["queue"] = {{"now", s.queued},
                {"max", c.queued_max},
                {"capacity", s.queue_capacity},
                {"oldest_age_s", toSeconds(s.queue_oldest_age)}};
  j["connections"] = {{"accepted", c.accepted},
                      {"dispatched", c.dispatched},
                      {"redispatched", s.redispatched},
                      {"completed", c.completed},
                      {"dropped", c.dropped},
                      {"lost_in_service", c.lost_in_service},
                      {"handed_over", c.handed_over},
                      {"rejected",
                       {{"queue_full", c.rejected_queue_full},
                        {"queue_timeout", c.rejected_queue_timeout},
                        {"per_source", c.rejected_per_source}}}};
  j["children"] = {{"spawned", c.children_spawned},
                   {"exited", c.children_exited},
                   {"start_failures", c.start_failures},
                   {"exited_by_cause",
                    {{"stopped", c.exited_stopped},
                     {"error", c.exited_error},
                     {"crashed", c.exited_crashed},
                     {"killed", c.exited_killed},
                     {"no_restart", c.exited_no_restart}}},
                   {"recycled", c.recycled},
                   {"retired_idle", c.retired_idle},
                   {"time_limit_kills", c.time_limit_kills}};
  j["max_children_reached"] = c.max_children_reached;
  j["accept_errors"] = c.accept_errors;
  j["bad_status_messages"] = c.bad_messages;
  j["reloads"] = c.reloads;
  j["reloads_failed"] = c.reloads_failed;
  return j;
}

Json workersJson(const StatsSnapshot& s) {
  Json rows = Json::array();
  for (const ChildRecord& c : s.children) {
    if (c.state == ChildState::Empty) continue;
    const bool holds = c.conn.has_value() &&
                       (c.state == ChildState::Busy || c.state == ChildState::Stopping);
    Json row;
    row["slot"] = c.slot;
    row["pid"] = c.pid;
    row["generation"] = c.generation;
    row["state"] = toString(c.state);
    row["stop_requested"] = c.stop_requested;
    row["stop_reason"] = c.stop_reason;
    row["served"] = c.served;
    row["conn"] = holds ? Json(*c.conn) : Json(nullptr);
    row["peer"] = holds && c.conn_peer.length > 0 ? Json(formatAddress(c.conn_peer)) : Json(nullptr);
    row["conn_age_s"] = holds ? Json(toSeconds(s.now - c.state_since)) : Json(nullptr);
    row["last_conn_s"] = c.served > 0 ? Json(toSeconds(c.last_duration)) : Json(nullptr);
    row["bytes_in"] = c.bytes_in;
    row["bytes_out"] = c.bytes_out;
    row["started"] = formatWallTime(childStartedWall(s, c));
    row["age_s"] = toSeconds(s.now - c.started_at);
    rows.push_back(std::move(row));
  }
  Json j;
  j["scoreboard"] = renderScoreboard(s);
  j["workers"] = std::move(rows);
  return j;
}

Json connsJson(const StatsSnapshot& s) {
  Json rows = Json::array();
  for (const ConnectionRow& r : s.connections) {
    rows.push_back({{"id", r.id},
                    {"peer", r.peer},
                    {"child_pid", r.child_pid > 0 ? Json(r.child_pid) : Json(nullptr)},
                    {"state", r.state},
                    {"age_s", toSeconds(r.age)},
                    {"queue_wait_s", toSeconds(r.queue_wait)}});
  }
  Json j;
  j["connections"] = std::move(rows);
  return j;
}

Json histJson(const StatsSnapshot& s) {
  Json all;
  for (const NamedHistogram& n : namedHistograms(s.histograms)) {
    const Histogram& h = *n.histogram;
    all[n.name] = {{"count", h.count()},
                   {"p50_us", micros(h.percentile(50))},
                   {"p90_us", micros(h.percentile(90))},
                   {"p99_us", micros(h.percentile(99))},
                   {"p99_9_us", micros(h.percentile(99.9))},
                   {"max_us", micros(h.max())},
                   {"mean_us", h.mean() / 1000.0}};
  }
  Json j;
  j["histograms"] = std::move(all);
  return j;
}

}  // namespace preforkd
