// The HAProxy agent answer: every state, the weight's rounding and bounds, maxconn's floor.
#include "supervisor/agent_answer.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "supervisor/agent_settings.h"

namespace preforkd {
namespace {

TEST(AgentAnswer, Table) {
  struct Case {
    const char* what;
    AgentView view;
    AgentState state;
    const char* line;
  };
  // {draining, spawn_blocked, usable, capacity, reference, balancers}
  const std::vector<Case> cases = {
      {"healthy, own capacity", {false, false, 4, 4, 0, 1}, AgentState::Ready, "up ready 100% maxconn:4\n"},
      {"small host of a fleet", {false, false, 2, 2, 8, 1}, AgentState::Ready, "up ready 25% maxconn:2\n"},
      {"big host of a fleet", {false, false, 8, 8, 8, 1}, AgentState::Ready, "up ready 100% maxconn:8\n"},
      {"lost one of four", {false, false, 3, 4, 0, 1}, AgentState::Ready, "up ready 75% maxconn:3\n"},
      {"rounds half up", {false, false, 1, 8, 0, 1}, AgentState::Ready, "up ready 13% maxconn:1\n"},
      {"rounds down below half", {false, false, 1, 3, 0, 1}, AgentState::Ready, "up ready 33% maxconn:1\n"},
      {"never 0%", {false, false, 1, 1000, 0, 1}, AgentState::Ready, "up ready 1% maxconn:1\n"},
      {"starting: minimum, never 0", {false, false, 0, 4, 0, 1}, AgentState::Ready, "up ready 1% maxconn:1\n"},
      {"capped at 256%", {false, false, 100, 100, 10, 1}, AgentState::Ready, "up ready 256% maxconn:100\n"},
      {"two balancers share", {false, false, 8, 8, 0, 2}, AgentState::Ready, "up ready 100% maxconn:4\n"},
      {"balancer share floors", {false, false, 5, 5, 0, 2}, AgentState::Ready, "up ready 100% maxconn:2\n"},
      {"never maxconn:0", {false, false, 2, 2, 0, 3}, AgentState::Ready, "up ready 100% maxconn:1\n"},
      {"balancers 0 counts as 1", {false, false, 4, 4, 0, 0}, AgentState::Ready, "up ready 100% maxconn:4\n"},
      {"capacity 0 counts as 1", {false, false, 1, 0, 0, 1}, AgentState::Ready, "up ready 100% maxconn:1\n"},
      {"draining", {true, false, 4, 4, 0, 1}, AgentState::Drain, "up drain\n"},
      {"draining wins over down", {true, true, 0, 4, 0, 1}, AgentState::Drain, "up drain\n"},
      {"brake, nothing left", {false, true, 0, 4, 0, 1}, AgentState::Down, "down\n"},
      {"brake, some still serving", {false, true, 2, 4, 0, 1}, AgentState::Ready, "up ready 50% maxconn:2\n"},
      {"huge numbers", {false, false, 4096, 4096, 1'000'000, 1}, AgentState::Ready, "up ready 1% maxconn:4096\n"},
  };
  for (const Case& c : cases) {
    const AgentAnswer a = agentAnswer(c.view);
    EXPECT_EQ(a.state, c.state) << c.what;
    EXPECT_EQ(a.line, c.line) << c.what;
    EXPECT_LE(a.line.size(), kMaxAgentLine) << c.what;
    EXPECT_FALSE(a.reason.empty()) << c.what;
    EXPECT_EQ(a.line.find(" 0%"), std::string::npos) << c.what;
    EXPECT_EQ(a.line.find("maxconn:0"), std::string::npos) << c.what;
  }
}

TEST(AgentAnswer, WeightAndMaxconnFieldsMatchTheLine) {
  const AgentAnswer a = agentAnswer({false, false, 6, 8, 0, 2});
  EXPECT_EQ(a.weight_percent, 75u);
  EXPECT_EQ(a.maxconn, 3u);
  EXPECT_EQ(a.line, "up ready 75% maxconn:3\n");
  const AgentAnswer d = agentAnswer({true, false, 6, 8, 0, 2});
  EXPECT_EQ(d.weight_percent, 0u);
  EXPECT_EQ(d.maxconn, 0u);
}

TEST(AgentAnswer, EveryUsableCountGivesABoundedLine) {
  for (std::size_t usable = 0; usable <= 600; ++usable) {
    for (std::size_t balancers : {1, 2, 3, 7}) {
      const AgentAnswer a = agentAnswer({false, false, usable, 256, 0, balancers});
      ASSERT_GE(a.weight_percent, 1u);
      ASSERT_LE(a.weight_percent, kMaxAgentWeight);
      ASSERT_GE(a.maxconn, 1u);
      ASSERT_LE(a.maxconn, std::max<std::size_t>(usable, 1));
      ASSERT_LE(a.line.size(), kMaxAgentLine);
    }
  }
}

TEST(AgentSettings, Validation) {
  AgentSettings ok;
  EXPECT_EQ(validateAgentSettings(ok), "");
  AgentSettings s = ok;
  s.balancers = 0;
  EXPECT_NE(validateAgentSettings(s).find("agent balancers"), std::string::npos);
  s = ok;
  s.allow = {"127.0.0.1", "::1", "10.1.2.3"};
  EXPECT_EQ(validateAgentSettings(s), "");
  s.allow.push_back("lb1.example");
  EXPECT_NE(validateAgentSettings(s).find("'lb1.example' is not a numeric IP"), std::string::npos);
  s = ok;
  s.announce = std::chrono::hours(1);
  EXPECT_NE(validateAgentSettings(s).find("agent announce"), std::string::npos);
  s = ok;
  s.reference = kMaxAgentReference + 1;
  EXPECT_NE(validateAgentSettings(s).find("agent reference"), std::string::npos);
}

}  // namespace
}  // namespace preforkd
