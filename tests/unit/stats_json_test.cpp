// JSON renderings of a snapshot, byte for byte (and well-formed, one line each).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "supervisor/stats_json.h"
#include "tests/unit/stats_sample.h"

namespace preforkd {
namespace {

using testing_sample::sample;

TEST(StatsJson, Info) {
  EXPECT_EQ(renderJsonLine(infoJson(sample())),
      R"({"pid":42,"version":"0.1.0","uptime_s":12.345,"started":"2026-11-24T16:46:39Z",)"
      R"("state":"running","generation":2,"service":"echo",)"
      R"("listeners":[{"address":"127.0.0.1:2323","queue_now":3,"queue_limit":511},)"
      R"({"address":"[::1]:2323","queue_now":0,"queue_limit":128}],"pool":{"mode":"dynamic",)"
      R"("policy":"least-served","workers":4,"min_spare":1,"max_spare":3,"max_children":10},)"
      R"("workers":{"total":4,"idle":1,"busy":1,"starting":1,"stopping":1,"old_generation":1},)"
      R"("throttled":true,"throttle_reason":"3 start-up failures in a row","halted":false,)"
      R"("drain":false,)"
      R"("queue":{"now":2,"max":18,"capacity":64,"oldest_age_s":0.25},)"
      R"("connections":{"accepted":100,"dispatched":101,"redispatched":3,"completed":90,)"
      R"("dropped":5,"lost_in_service":6,"handed_over":21,"rejected":{"queue_full":14,)"
      R"("queue_timeout":15,"per_source":16}},"children":{"spawned":8,"exited":9,)"
      R"("start_failures":10,"exited_by_cause":{"stopped":1,"error":2,"crashed":3,"killed":2,)"
      R"("no_restart":1},"recycled":11,"retired_idle":12,"time_limit_kills":13},)"
      R"("max_children_reached":17,"accept_errors":4,"bad_status_messages":7,"reloads":19,)"
      R"("reloads_failed":20})"
      "\n");
}

TEST(StatsJson, Workers) {
  EXPECT_EQ(renderJsonLine(workersJson(sample())),
      R"({"scoreboard":"S_WG","workers":[{"slot":0,"pid":1000,"generation":2,"state":"starting",)"
      R"("stop_requested":false,"stop_reason":"","served":0,"conn":null,"peer":null,)"
      R"("conn_age_s":null,"last_conn_s":null,"bytes_in":0,"bytes_out":0,)"
      R"("started":"2026-11-24T16:48:18Z","age_s":1.0},{"slot":1,"pid":1001,"generation":2,)"
      R"("state":"idle","stop_requested":false,"stop_reason":"","served":5,"conn":null,)"
      R"("peer":null,"conn_age_s":null,"last_conn_s":0.012,"bytes_in":0,"bytes_out":0,)"
      R"("started":"2026-11-24T16:46:40Z","age_s":99.0},{"slot":2,"pid":1002,"generation":2,)"
      R"("state":"busy","stop_requested":false,"stop_reason":"","served":4,"conn":77,)"
      R"("peer":"127.0.0.1:5555","conn_age_s":1.5,"last_conn_s":0.003,"bytes_in":10,)"
      R"("bytes_out":20,"started":"2026-11-24T16:46:41Z","age_s":98.0},{"slot":4,"pid":999,)"
      R"("generation":1,"state":"busy","stop_requested":true,"stop_reason":"reload","served":50,)"
      R"("conn":70,"peer":"10.0.0.1:40000","conn_age_s":30.0,"last_conn_s":0.002,"bytes_in":0,)"
      R"("bytes_out":0,"started":"2026-11-24T16:46:39Z","age_s":100.0}]})"
      "\n");
}

TEST(StatsJson, Conns) {
  EXPECT_EQ(renderJsonLine(connsJson(sample())),
      R"({"connections":[{"id":77,"peer":"127.0.0.1:5555","child_pid":1002,"state":"in-service",)"
      R"("age_s":1.502,"queue_wait_s":4e-05},{"id":78,"peer":"127.0.0.1:5556","child_pid":null,)"
      R"("state":"queued","age_s":0.25,"queue_wait_s":0.25}]})"
      "\n");
}

TEST(StatsJson, Hist) {
  EXPECT_EQ(renderJsonLine(histJson(sample())),
      R"({"histograms":{"queue_wait":{"count":10,"p50_us":10.112,"p90_us":10.112,"p99_us":1000.0,)"
      R"("p99_9_us":1000.0,"max_us":1000.0,"mean_us":109.0},"handoff":{"count":4,"p50_us":25.0,)"
      R"("p90_us":25.0,"p99_us":25.0,"p99_9_us":25.0,"max_us":25.0,"mean_us":25.0},)"
      R"("service_time":{"count":0,"p50_us":0.0,"p90_us":0.0,"p99_us":0.0,"p99_9_us":0.0,)"
      R"("max_us":0.0,"mean_us":0.0},"startup":{"count":0,"p50_us":0.0,"p90_us":0.0,"p99_us":0.0,)"
      R"("p99_9_us":0.0,"max_us":0.0,"mean_us":0.0}}})"
      "\n");
}

TEST(StatsJson, EmptySnapshotIsValidJsonOnOneLine) {
  const StatsSnapshot empty;
  for (const std::string& line : {renderJsonLine(infoJson(empty)), renderJsonLine(workersJson(empty)),
                                  renderJsonLine(connsJson(empty)), renderJsonLine(histJson(empty))}) {
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  }
  EXPECT_EQ(renderJsonLine(workersJson(empty)), "{\"scoreboard\":\"-\",\"workers\":[]}\n");
  EXPECT_EQ(renderJsonLine(connsJson(empty)), "{\"connections\":[]}\n");
}

TEST(StatsJson, InvalidUtf8IsReplacedNotThrown) {
  StatsSnapshot s;
  s.service = "bad\xff";
  std::string line;
  ASSERT_NO_THROW(line = renderJsonLine(infoJson(s)));
  EXPECT_TRUE(nlohmann::json::accept(line));
}

}  // namespace
}  // namespace preforkd
