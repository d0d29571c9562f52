#include "supervisor/metrics.h"

#include <fmt/format.h>

namespace preforkd {
namespace {

class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  template <typename T>
  void sample(std::string_view name, const T& value, std::string_view labels = {}) {
    if (labels.empty()) {
      out_ += fmt::format("{} {}\n", name, value);
    } else {
      out_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
    }
  }
  template <typename T>
  void single(std::string_view name, std::string_view type, std::string_view help, const T& value) {
    family(name, type, help);
    sample(name, value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string label(std::string_view key, std::string_view value) {
  return fmt::format("{}=\"{}\"", key, escapeLabelValue(value));
}

double seconds(std::chrono::nanoseconds d) { return toSeconds(d); }

}  // namespace

std::string secondsLabel(std::uint64_t ns) {
  std::string frac = fmt::format("{:09}", ns % 1'000'000'000);
  while (!frac.empty() && frac.back() == '0') frac.pop_back();
  return frac.empty() ? fmt::format("{}", ns / 1'000'000'000)
                      : fmt::format("{}.{}", ns / 1'000'000'000, frac);
}

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::array<std::uint64_t, kMetricBucketBoundsNs.size()> cumulativeBucketCounts(const Histogram& h) {
  std::array<std::uint64_t, kMetricBucketBoundsNs.size()> counts{};
  if (h.count() == 0) return counts;
  std::size_t bound = 0;
  // Buckets come in increasing order, so the first bound that holds a bucket only moves up.
  for (std::size_t i = 0; i < Histogram::kBucketCount && bound < counts.size(); ++i) {
    const std::uint64_t n = h.bucketCount(i);
    if (n == 0) continue;
    while (bound < counts.size() && Histogram::bucketHigh(i) > kMetricBucketBoundsNs[bound]) ++bound;
    if (bound < counts.size()) counts[bound] += n;
  }
  for (std::size_t k = 1; k < counts.size(); ++k) counts[k] += counts[k - 1];
  return counts;
}

std::string renderMetrics(const StatsSnapshot& s) {
  Exposition e;
  const SupervisorCounters& c = s.counters;

  e.family("preforkd_build_info", "gauge", "Version of the running preforkd (always 1).");
  e.sample("preforkd_build_info", 1, label("version", s.version));
  e.family("preforkd_pool_info", "gauge", "Pool mode, dispatch policy and service in force (always 1).");
  e.sample("preforkd_pool_info", 1,
           label("mode", toString(s.pool.mode)) + "," + label("policy", toString(s.pool.policy)) +
               "," + label("service", s.service));
  e.single("preforkd_start_time_seconds", "gauge", "When the supervisor started, in Unix time.",
           toSeconds(s.started_wall.time_since_epoch()));
  e.single("preforkd_uptime_seconds", "gauge", "Seconds since the supervisor started.",
           seconds(s.uptime));
  e.single("preforkd_generation", "gauge", "Current worker generation (1, then +1 per reload).",
           s.generation);
  e.single("preforkd_workers_configured", "gauge", "Workers the pool is configured to start.",
           s.workers_configured);
  e.family("preforkd_workers", "gauge", "Live workers by state.");
  e.sample("preforkd_workers", s.starting, label("state", "starting"));
  e.sample("preforkd_workers", s.idle, label("state", "idle"));
  e.sample("preforkd_workers", s.busy, label("state", "busy"));
  e.sample("preforkd_workers", s.stopping, label("state", "stopping"));
  e.single("preforkd_workers_old_generation", "gauge",
           "Live workers of older generations (draining after a reload).", s.old_generation);
  e.single("preforkd_throttled", "gauge",
           "1 while respawning is throttled (workers fail at start-up or crash).",
           s.throttled ? 1 : 0);
  e.single("preforkd_halted", "gauge", "1 after a worker asked not to be restarted (until reload).",
           s.halted ? 1 : 0);
  e.single("preforkd_draining", "gauge", "1 while the supervisor is shutting down.",
           s.draining ? 1 : 0);
  e.single("preforkd_drain", "gauge",
           "1 while in the drain state (the agent says drain; clients are still served).",
           s.drain ? 1 : 0);
  if (s.agent.enabled) {
    const AgentSnapshot& a = s.agent;
    e.family("preforkd_agent_state", "gauge", "The HAProxy agent answer's state (1 for the current one).");
    for (AgentState st : {AgentState::Ready, AgentState::Drain, AgentState::Down}) {
      e.sample("preforkd_agent_state", a.answer.state == st ? 1 : 0, label("state", toString(st)));
    }
    e.single("preforkd_agent_weight_percent", "gauge",
             "The weight the agent announces (0 unless ready).", a.answer.weight_percent);
    e.single("preforkd_agent_maxconn", "gauge",
             "The maxconn the agent announces per balancer (0 unless ready).", a.answer.maxconn);
    e.single("preforkd_agent_usable_workers", "gauge",
             "Workers the agent counts as able to take new clients.", a.view.usable);
    e.single("preforkd_agent_checks_total", "counter", "Agent checks answered.", a.counters.checks);
    e.single("preforkd_agent_refused_total", "counter",
             "Agent connections closed unanswered: peer not in the allow list.", a.counters.refused);
    e.single("preforkd_agent_overflow_total", "counter",
             "Agent connections closed unanswered: too many open at once.", a.counters.overflow);
    e.single("preforkd_agent_errors_total", "counter", "Agent answers that could not be sent.",
             a.counters.errors);
  }
  e.single("preforkd_queue_length", "gauge", "Accepted connections waiting for an idle worker.",
           s.queued);
  e.single("preforkd_queue_length_max", "gauge", "Highest queue length seen.", c.queued_max);
  e.single("preforkd_queue_capacity", "gauge", "Size of the overload queue (0: none).",
           s.queue_capacity);
  e.single("preforkd_queue_oldest_age_seconds", "gauge",
           "How long the oldest queued connection has waited.", seconds(s.queue_oldest_age));
  if (!s.listener_stats.empty()) {
    e.family("preforkd_listen_queue_length", "gauge",
             "Connections in a listener's kernel accept queue (TCP_INFO tcpi_unacked).");
    for (const ListenerStats& l : s.listener_stats) {
      e.sample("preforkd_listen_queue_length", l.backlog_now, label("listener", l.address));
    }
    e.family("preforkd_listen_queue_limit", "gauge",
             "A listener's accept queue limit (TCP_INFO tcpi_sacked).");
    for (const ListenerStats& l : s.listener_stats) {
      e.sample("preforkd_listen_queue_limit", l.backlog_limit, label("listener", l.address));
    }
  }

  e.single("preforkd_connections_accepted_total", "counter", "Connections accepted.", c.accepted);
  e.single("preforkd_connections_dispatched_total", "counter",
           "Connections sent to a worker (a redispatch counts again).", c.dispatched);
  e.single("preforkd_connections_redispatched_total", "counter",
           "Connections given to another worker because the first never took them.",
           s.redispatched);
  e.single("preforkd_connections_completed_total", "counter",
           "Connections a worker finished (said Available).", c.completed);
  e.single("preforkd_connections_dropped_total", "counter",
           "Accepted connections closed unserved at the shutdown deadline.", c.dropped);
  e.single("preforkd_connections_lost_in_service_total", "counter",
           "Connections whose worker died while serving them.", c.lost_in_service);
  e.single("preforkd_connections_handed_over_total", "counter",
           "Connections received from the previous binary on upgrade.", c.handed_over);
  e.family("preforkd_connections_rejected_total", "counter",
           "Connections refused with a busy line, by reason.");
  e.sample("preforkd_connections_rejected_total", c.rejected_queue_full, label("reason", "queue_full"));
  e.sample("preforkd_connections_rejected_total", c.rejected_queue_timeout,
           label("reason", "queue_timeout"));
  e.sample("preforkd_connections_rejected_total", c.rejected_per_source, label("reason", "per_source"));
  e.single("preforkd_accept_errors_total", "counter", "accept() failures (EMFILE and friends).",
           c.accept_errors);
  e.single("preforkd_bad_status_messages_total", "counter",
           "Status messages from workers that were garbage or out of place.", c.bad_messages);
  e.single("preforkd_children_spawned_total", "counter", "Workers started.", c.children_spawned);
  e.single("preforkd_children_start_failures_total", "counter",
           "Workers that died before saying Ready.", c.start_failures);
  e.family("preforkd_children_exited_total", "counter", "Workers reaped, by cause.");
  e.sample("preforkd_children_exited_total", c.exited_stopped, label("cause", "stopped"));
  e.sample("preforkd_children_exited_total", c.exited_error, label("cause", "error"));
  e.sample("preforkd_children_exited_total", c.exited_crashed, label("cause", "crashed"));
  e.sample("preforkd_children_exited_total", c.exited_killed, label("cause", "killed"));
  e.sample("preforkd_children_exited_total", c.exited_no_restart, label("cause", "no_restart"));
  e.single("preforkd_children_recycled_total", "counter",
           "Workers retired after their maximum number of connections.", c.recycled);
  e.single("preforkd_children_retired_idle_total", "counter",
           "Idle workers retired by the pool.", c.retired_idle);
  e.single("preforkd_time_limit_kills_total", "counter",
           "Signals sent to workers by a time limit.", c.time_limit_kills);
  e.single("preforkd_max_children_reached_total", "counter",
           "Times the max-children cap refused a new worker.", c.max_children_reached);
  e.single("preforkd_reloads_total", "counter", "Generations started by reload.", c.reloads);
  e.single("preforkd_reloads_failed_total", "counter", "Reloads refused.", c.reloads_failed);

  for (const NamedHistogram& n : namedHistograms(s.histograms)) {
    const Histogram& h = *n.histogram;
    const std::string name = fmt::format("preforkd_{}_seconds", n.name);
    e.family(name, "histogram", n.help);
    const auto counts = cumulativeBucketCounts(h);
    const std::string bucket = name + "_bucket";
    for (std::size_t k = 0; k < counts.size(); ++k) {
      e.sample(bucket, counts[k], label("le", secondsLabel(kMetricBucketBoundsNs[k])));
    }
    e.sample(bucket, h.count(), label("le", "+Inf"));
    e.sample(name + "_sum", h.mean() * static_cast<double>(h.count()) / 1e9);
    e.sample(name + "_count", h.count());
  }
  return e.take();
}

}  // namespace preforkd
