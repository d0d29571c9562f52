// The Prometheus exposition of a snapshot, byte for byte, and its helpers.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "supervisor/metrics.h"
#include "tests/unit/stats_sample.h"

namespace preforkd {
namespace {

using testing_sample::sample;

TEST(Metrics, SecondsLabels) {
  struct Case {
    std::uint64_t ns;
    const char* text;
  };
  for (const Case& c : {Case{0, "0"}, Case{1, "0.000000001"}, Case{1'000, "0.000001"},
                        Case{20'000, "0.00002"}, Case{500'000'000, "0.5"},
                        Case{1'000'000'000, "1"}, Case{10'000'000'000, "10"},
                        Case{1'250'000'000, "1.25"}}) {
    EXPECT_EQ(secondsLabel(c.ns), c.text) << c.ns;
  }
  std::vector<std::string> labels;
  for (std::uint64_t b : kMetricBucketBoundsNs) labels.push_back(secondsLabel(b));
  EXPECT_EQ(labels.front(), "0.000001");
  EXPECT_EQ(labels.back(), "10");
  for (std::size_t i = 1; i < kMetricBucketBoundsNs.size(); ++i) {
    EXPECT_LT(kMetricBucketBoundsNs[i - 1], kMetricBucketBoundsNs[i]);
  }
}

TEST(Metrics, LabelEscaping) {
  EXPECT_EQ(escapeLabelValue("plain"), "plain");
  EXPECT_EQ(escapeLabelValue("a\"b"), "a\\\"b");
  EXPECT_EQ(escapeLabelValue("back\\slash"), "back\\\\slash");
  EXPECT_EQ(escapeLabelValue("two\nlines"), "two\\nlines");
}

TEST(Metrics, CumulativeBucketsNeverCountAValueAboveItsBound) {
  Histogram h;
  EXPECT_EQ(cumulativeBucketCounts(h), (std::array<std::uint64_t, kMetricBucketBoundsNs.size()>{}));
  h.record(500);             // 0.5 us: exact bucket, <= 1 us
  h.record(1'000);           // exactly 1 us: its bucket [992, 1023] reaches past 1 us
  h.record(900'000);         // 0.9 ms
  h.record(20'000'000'000);  // 20 s: only +Inf
  const auto counts = cumulativeBucketCounts(h);
  EXPECT_EQ(counts[0], 1u);   // le 1us
  EXPECT_EQ(counts[1], 2u);   // le 2us
  EXPECT_EQ(counts[8], 2u);   // le 0.5ms
  EXPECT_EQ(counts[9], 3u);   // le 1ms
  EXPECT_EQ(counts.back(), 3u);  // le 10s
  for (std::size_t i = 1; i < counts.size(); ++i) EXPECT_LE(counts[i - 1], counts[i]);
  // The rule holds for every bucket: a value counts toward a bound only if it is <= it.
  for (std::uint64_t v : {999ull, 1'024ull, 2'000ull, 4'999ull, 5'000ull, 123'456ull}) {
    Histogram one;
    one.record(v);
    const auto c = cumulativeBucketCounts(one);
    for (std::size_t k = 0; k < c.size(); ++k) {
      if (c[k] == 1) {
        EXPECT_LE(v, kMetricBucketBoundsNs[k]) << v;
      }
    }
  }
}

TEST(Metrics, ByteForByte) {
  EXPECT_EQ(renderMetrics(sample()),
      "# HELP preforkd_build_info Version of the running preforkd (always 1).\n"
      "# TYPE preforkd_build_info gauge\n"
      "preforkd_build_info{version=\"0.1.0\"} 1\n"
      "# HELP preforkd_pool_info Pool mode, dispatch policy and service in force (always 1).\n"
      "# TYPE preforkd_pool_info gauge\n"
      "preforkd_pool_info{mode=\"dynamic\",policy=\"least-served\",service=\"echo\"} 1\n"
      "# HELP preforkd_start_time_seconds When the supervisor started, in Unix time.\n"
      "# TYPE preforkd_start_time_seconds gauge\n"
      "preforkd_start_time_seconds 1795538799\n"
      "# HELP preforkd_uptime_seconds Seconds since the supervisor started.\n"
      "# TYPE preforkd_uptime_seconds gauge\n"
      "preforkd_uptime_seconds 12.345\n"
      "# HELP preforkd_generation Current worker generation (1, then +1 per reload).\n"
      "# TYPE preforkd_generation gauge\n"
      "preforkd_generation 2\n"
      "# HELP preforkd_workers_configured Workers the pool is configured to start.\n"
      "# TYPE preforkd_workers_configured gauge\n"
      "preforkd_workers_configured 4\n"
      "# HELP preforkd_workers Live workers by state.\n"
      "# TYPE preforkd_workers gauge\n"
      "preforkd_workers{state=\"starting\"} 1\n"
      "preforkd_workers{state=\"idle\"} 1\n"
      "preforkd_workers{state=\"busy\"} 1\n"
      "preforkd_workers{state=\"stopping\"} 1\n"
      "# HELP preforkd_workers_old_generation Live workers of older generations (draining after a reload).\n"
      "# TYPE preforkd_workers_old_generation gauge\n"
      "preforkd_workers_old_generation 1\n"
      "# HELP preforkd_throttled 1 while respawning is throttled (workers fail at start-up or crash).\n"
      "# TYPE preforkd_throttled gauge\n"
      "preforkd_throttled 1\n"
      "# HELP preforkd_halted 1 after a worker asked not to be restarted (until reload).\n"
      "# TYPE preforkd_halted gauge\n"
      "preforkd_halted 0\n"
      "# HELP preforkd_draining 1 while the supervisor is shutting down.\n"
      "# TYPE preforkd_draining gauge\n"
      "preforkd_draining 0\n"
      "# HELP preforkd_drain 1 while in the drain state (the agent says drain; clients are still served).\n"
      "# TYPE preforkd_drain gauge\n"
      "preforkd_drain 0\n"
      "# HELP preforkd_queue_length Accepted connections waiting for an idle worker.\n"
      "# TYPE preforkd_queue_length gauge\n"
      "preforkd_queue_length 2\n"
      "# HELP preforkd_queue_length_max Highest queue length seen.\n"
      "# TYPE preforkd_queue_length_max gauge\n"
      "preforkd_queue_length_max 18\n"
      "# HELP preforkd_queue_capacity Size of the overload queue (0: none).\n"
      "# TYPE preforkd_queue_capacity gauge\n"
      "preforkd_queue_capacity 64\n"
      "# HELP preforkd_queue_oldest_age_seconds How long the oldest queued connection has waited.\n"
      "# TYPE preforkd_queue_oldest_age_seconds gauge\n"
      "preforkd_queue_oldest_age_seconds 0.25\n"
      "# HELP preforkd_listen_queue_length Connections in a listener's kernel accept queue (TCP_INFO tcpi_unacked).\n"
      "# TYPE preforkd_listen_queue_length gauge\n"
      "preforkd_listen_queue_length{listener=\"127.0.0.1:2323\"} 3\n"
      "preforkd_listen_queue_length{listener=\"[::1]:2323\"} 0\n"
      "# HELP preforkd_listen_queue_limit A listener's accept queue limit (TCP_INFO tcpi_sacked).\n"
      "# TYPE preforkd_listen_queue_limit gauge\n"
      "preforkd_listen_queue_limit{listener=\"127.0.0.1:2323\"} 511\n"
      "preforkd_listen_queue_limit{listener=\"[::1]:2323\"} 128\n"
      "# HELP preforkd_connections_accepted_total Connections accepted.\n"
      "# TYPE preforkd_connections_accepted_total counter\n"
      "preforkd_connections_accepted_total 100\n"
      "# HELP preforkd_connections_dispatched_total Connections sent to a worker (a redispatch counts again).\n"
      "# TYPE preforkd_connections_dispatched_total counter\n"
      "preforkd_connections_dispatched_total 101\n"
      "# HELP preforkd_connections_redispatched_total Connections given to another worker because the first never took them.\n"
      "# TYPE preforkd_connections_redispatched_total counter\n"
      "preforkd_connections_redispatched_total 3\n"
      "# HELP preforkd_connections_completed_total Connections a worker finished (said Available).\n"
      "# TYPE preforkd_connections_completed_total counter\n"
      "preforkd_connections_completed_total 90\n"
      "# HELP preforkd_connections_dropped_total Accepted connections closed unserved at the shutdown deadline.\n"
      "# TYPE preforkd_connections_dropped_total counter\n"
      "preforkd_connections_dropped_total 5\n"
      "# HELP preforkd_connections_lost_in_service_total Connections whose worker died while serving them.\n"
      "# TYPE preforkd_connections_lost_in_service_total counter\n"
      "preforkd_connections_lost_in_service_total 6\n"
      "# HELP preforkd_connections_handed_over_total Connections received from the previous binary on upgrade.\n"
      "# TYPE preforkd_connections_handed_over_total counter\n"
      "preforkd_connections_handed_over_total 21\n"
      "# HELP preforkd_connections_rejected_total Connections refused with a busy line, by reason.\n"
      "# TYPE preforkd_connections_rejected_total counter\n"
      "preforkd_connections_rejected_total{reason=\"queue_full\"} 14\n"
      "preforkd_connections_rejected_total{reason=\"queue_timeout\"} 15\n"
      "preforkd_connections_rejected_total{reason=\"per_source\"} 16\n"
      "# HELP preforkd_accept_errors_total accept() failures (EMFILE and friends).\n"
      "# TYPE preforkd_accept_errors_total counter\n"
      "preforkd_accept_errors_total 4\n"
      "# HELP preforkd_bad_status_messages_total Status messages from workers that were garbage or out of place.\n"
      "# TYPE preforkd_bad_status_messages_total counter\n"
      "preforkd_bad_status_messages_total 7\n"
      "# HELP preforkd_children_spawned_total Workers started.\n"
      "# TYPE preforkd_children_spawned_total counter\n"
      "preforkd_children_spawned_total 8\n"
      "# HELP preforkd_children_start_failures_total Workers that died before saying Ready.\n"
      "# TYPE preforkd_children_start_failures_total counter\n"
      "preforkd_children_start_failures_total 10\n"
      "# HELP preforkd_children_exited_total Workers reaped, by cause.\n"
      "# TYPE preforkd_children_exited_total counter\n"
      "preforkd_children_exited_total{cause=\"stopped\"} 1\n"
      "preforkd_children_exited_total{cause=\"error\"} 2\n"
      "preforkd_children_exited_total{cause=\"crashed\"} 3\n"
      "preforkd_children_exited_total{cause=\"killed\"} 2\n"
      "preforkd_children_exited_total{cause=\"no_restart\"} 1\n"
      "# HELP preforkd_children_recycled_total Workers retired after their maximum number of connections.\n"
      "# TYPE preforkd_children_recycled_total counter\n"
      "preforkd_children_recycled_total 11\n"
      "# HELP preforkd_children_retired_idle_total Idle workers retired by the pool.\n"
      "# TYPE preforkd_children_retired_idle_total counter\n"
      "preforkd_children_retired_idle_total 12\n"
      "# HELP preforkd_time_limit_kills_total Signals sent to workers by a time limit.\n"
      "# TYPE preforkd_time_limit_kills_total counter\n"
      "preforkd_time_limit_kills_total 13\n"
      "# HELP preforkd_max_children_reached_total Times the max-children cap refused a new worker.\n"
      "# TYPE preforkd_max_children_reached_total counter\n"
      "preforkd_max_children_reached_total 17\n"
      "# HELP preforkd_reloads_total Generations started by reload.\n"
      "# TYPE preforkd_reloads_total counter\n"
      "preforkd_reloads_total 19\n"
      "# HELP preforkd_reloads_failed_total Reloads refused.\n"
      "# TYPE preforkd_reloads_failed_total counter\n"
      "preforkd_reloads_failed_total 20\n"
      "# HELP preforkd_queue_wait_seconds Time from accept() to the hand-off to a worker.\n"
      "# TYPE preforkd_queue_wait_seconds histogram\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.000001\"} 0\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.000002\"} 0\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.000005\"} 0\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.00001\"} 0\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.00002\"} 9\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.00005\"} 9\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.0001\"} 9\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.0002\"} 9\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.0005\"} 9\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.001\"} 9\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.002\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.005\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.01\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.02\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.05\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.1\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.2\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"0.5\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"1\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"2\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"5\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"10\"} 10\n"
      "preforkd_queue_wait_seconds_bucket{le=\"+Inf\"} 10\n"
      "preforkd_queue_wait_seconds_sum 0.00109\n"
      "preforkd_queue_wait_seconds_count 10\n"
      "# HELP preforkd_handoff_seconds Time from sending a connection to a worker until it says Taken.\n"
      "# TYPE preforkd_handoff_seconds histogram\n"
      "preforkd_handoff_seconds_bucket{le=\"0.000001\"} 0\n"
      "preforkd_handoff_seconds_bucket{le=\"0.000002\"} 0\n"
      "preforkd_handoff_seconds_bucket{le=\"0.000005\"} 0\n"
      "preforkd_handoff_seconds_bucket{le=\"0.00001\"} 0\n"
      "preforkd_handoff_seconds_bucket{le=\"0.00002\"} 0\n"
      "preforkd_handoff_seconds_bucket{le=\"0.00005\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.0001\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.0002\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.0005\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.001\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.002\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.005\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.01\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.02\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.05\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.1\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.2\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"0.5\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"1\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"2\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"5\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"10\"} 4\n"
      "preforkd_handoff_seconds_bucket{le=\"+Inf\"} 4\n"
      "preforkd_handoff_seconds_sum 0.0001\n"
      "preforkd_handoff_seconds_count 4\n"
      "# HELP preforkd_service_time_seconds Time a worker spends on one connection (Taken to Available).\n"
      "# TYPE preforkd_service_time_seconds histogram\n"
      "preforkd_service_time_seconds_bucket{le=\"0.000001\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.000002\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.000005\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.00001\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.00002\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.00005\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.0001\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.0002\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.0005\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.001\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.002\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.005\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.01\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.02\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.05\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.1\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.2\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"0.5\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"1\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"2\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"5\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"10\"} 0\n"
      "preforkd_service_time_seconds_bucket{le=\"+Inf\"} 0\n"
      "preforkd_service_time_seconds_sum 0\n"
      "preforkd_service_time_seconds_count 0\n"
      "# HELP preforkd_startup_seconds Time from fork() until a new worker says Ready.\n"
      "# TYPE preforkd_startup_seconds histogram\n"
      "preforkd_startup_seconds_bucket{le=\"0.000001\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.000002\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.000005\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.00001\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.00002\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.00005\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.0001\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.0002\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.0005\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.001\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.002\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.005\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.01\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.02\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.05\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.1\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.2\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"0.5\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"1\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"2\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"5\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"10\"} 0\n"
      "preforkd_startup_seconds_bucket{le=\"+Inf\"} 0\n"
      "preforkd_startup_seconds_sum 0\n"
      "preforkd_startup_seconds_count 0\n");
}

TEST(Metrics, EveryFamilyIsAnnouncedOnceAndCountersEndInTotal) {
  const std::string out = renderMetrics(sample());
  std::istringstream in(out);
  std::map<std::string, std::string> types;
  for (std::string line; std::getline(in, line);) {
    ASSERT_FALSE(line.empty());
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream f(line.substr(7));
      std::string name, type;
      f >> name >> type;
      EXPECT_EQ(types.count(name), 0u) << name;
      types[name] = type;
      EXPECT_EQ(name.ends_with("_total"), type == "counter") << name;
    }
  }
  EXPECT_EQ(types.at("preforkd_service_time_seconds"), "histogram");
  EXPECT_EQ(types.at("preforkd_workers"), "gauge");
}

}  // namespace
}  // namespace preforkd
