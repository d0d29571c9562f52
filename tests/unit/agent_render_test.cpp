// `show agent` (text and JSON) and the agent metrics, byte for byte, from a hand-built snapshot.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "supervisor/metrics.h"
#include "supervisor/stats.h"
#include "supervisor/stats_json.h"
#include "tests/unit/stats_sample.h"

namespace preforkd {
namespace {

using namespace std::chrono_literals;

StatsSnapshot agentSample() {
  StatsSnapshot s = testing_sample::sample();
  s.agent.enabled = true;
  s.agent.address = "127.0.0.1:9100";
  s.agent.allow = {"127.0.0.1", "::1"};
  s.agent.view = AgentView{false, false, 3, 4, 8, 1};
  s.agent.answer = agentAnswer(s.agent.view);
  s.agent.counters = AgentCounters{12, 2, 1, 0};
  AgentPeer lb1{"lb1", "127.0.0.1:40000", 10, s.now - 1500ms};
  AgentPeer lb2{"lb2", "127.0.0.2:40001", 2, s.now - 4s};
  s.agent.peers = {lb1, lb2};
  return s;
}

TEST(AgentRender, ShowAgentText) {
  EXPECT_EQ(renderAgent(agentSample()),
            "agent: 127.0.0.1:9100\n"
            "drain: off\n"
            "answer: up ready 38% maxconn:3\n"
            "state: ready\n"
            "reason: 3 usable worker(s), reference 8, 1 balancer(s)\n"
            "usable: 3\n"
            "capacity: 4\n"
            "reference: 8\n"
            "balancers: 1\n"
            "allow: 127.0.0.1 ::1\n"
            "checks: 12\n"
            "refused: 2\n"
            "overflow: 1\n"
            "errors: 0\n"
            "peer: lb1 from 127.0.0.1:40000 checks 10 last 1.500 s ago\n"
            "peer: lb2 from 127.0.0.2:40001 checks 2 last 4.000 s ago\n");
}

TEST(AgentRender, ShowAgentWhenOffAndWhenDraining) {
  StatsSnapshot s = testing_sample::sample();
  EXPECT_EQ(renderAgent(s), "agent: off\ndrain: off\n");
  s.drain = true;
  s.drain_reason = "control";
  s.drain_age = 2500ms;
  EXPECT_EQ(renderAgent(s), "agent: off\ndrain: on (control, 2.500 s)\n");
  StatsSnapshot d = agentSample();
  d.drain = true;
  d.drain_reason = "SIGTERM";
  d.agent.view.draining = true;
  d.agent.answer = agentAnswer(d.agent.view);
  const std::string text = renderAgent(d);
  EXPECT_NE(text.find("drain: on (SIGTERM, 0.000 s)\nanswer: up drain\nstate: drain\n"),
            std::string::npos)
      << text;
}

TEST(AgentRender, ShowAgentJson) {
  EXPECT_EQ(renderJsonLine(agentJson(agentSample())),
            R"({"enabled":true,"address":"127.0.0.1:9100",)"
            R"("drain":{"on":false,"reason":null,"age_s":null},)"
            R"("answer":"up ready 38% maxconn:3","state":"ready",)"
            R"x("reason":"3 usable worker(s), reference 8, 1 balancer(s)","weight_percent":38,)x"
            R"("maxconn":3,"usable":3,"capacity":4,"reference":8,"balancers":1,)"
            R"("allow":["127.0.0.1","::1"],"counters":{"checks":12,"refused":2,"overflow":1,)"
            R"("errors":0},"peers":[{"label":"lb1","address":"127.0.0.1:40000","checks":10,)"
            R"("last_check_age_s":1.5},{"label":"lb2","address":"127.0.0.2:40001","checks":2,)"
            R"("last_check_age_s":4.0}]})"
            "\n");
  EXPECT_EQ(renderJsonLine(agentJson(testing_sample::sample())),
            R"({"enabled":false,"address":null,"drain":{"on":false,"reason":null,"age_s":null}})"
            "\n");
}

TEST(AgentRender, Metrics) {
  const std::string m = renderMetrics(agentSample());
  for (const char* want : {
           "preforkd_agent_state{state=\"ready\"} 1\n",
           "preforkd_agent_state{state=\"drain\"} 0\n",
           "preforkd_agent_state{state=\"down\"} 0\n",
           "preforkd_agent_weight_percent 38\n",
           "preforkd_agent_maxconn 3\n",
           "preforkd_agent_usable_workers 3\n",
           "preforkd_agent_checks_total 12\n",
           "preforkd_agent_refused_total 2\n",
           "preforkd_agent_overflow_total 1\n",
           "preforkd_agent_errors_total 0\n",
       }) {
    EXPECT_NE(m.find(want), std::string::npos) << want;
  }
  EXPECT_EQ(renderMetrics(testing_sample::sample()).find("preforkd_agent_"), std::string::npos);
}

}  // namespace
}  // namespace preforkd
