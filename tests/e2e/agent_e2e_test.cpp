// The HAProxy agent endpoint against the real binary (no HAProxy here: tests/haproxy/ has that):
// the answer arrives unasked and ends in a clean close, labels and counts per peer, the allow
// list, drain/undrain, SIGTERM's announce period, down under the crash brake, a hot upgrade.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <fstream>
#include <regex>
#include <string>

#include "tests/e2e/harness.h"

using namespace e2e;

namespace {

// One agent check as HAProxy makes it: connect (from `source`), send `send` (its agent-send
// string) at once, read to EOF.
struct Check {
  std::string data;
  bool eof = false;
  int error = 0;
};

Check agentCheck(int port, const std::string& send = "", const char* source = "127.0.0.1") {
  Check out;
  preforkd::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    out.error = errno;
    return out;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    out.error = errno;
    return out;
  }
  if (!send.empty()) (void)::send(fd.get(), send.data(), send.size(), MSG_NOSIGNAL);
  const auto deadline = SteadyClock::now() + 3s;
  char buf[256];
  while (SteadyClock::now() < deadline) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      out.data.append(buf, static_cast<std::size_t>(n));
    } else {
      if (n == 0) out.eof = true;
      else out.error = errno;
      break;
    }
  }
  return out;
}

int agentPort(PreforkdProcess& p) {
  const auto m = p.waitForLog(std::regex("agent: answering HAProxy agent checks on 127\\.0\\.0\\.1:(\\d+)"), 5s);
  return m ? std::stoi((*m)[1]) : -1;
}

std::string answerOf(PreforkdProcess& p) {
  const auto text = p.control("show agent");
  if (!text) return "";
  std::smatch m;
  return std::regex_search(*text, m, std::regex("answer: ([^\n]*)")) ? m[1].str() : "";
}

}  // namespace

TEST(Agent, OffByDefault) {
  PreforkdProcess p({"--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  EXPECT_EQ(p.control("show agent").value_or(""), "agent: off\ndrain: off\n");
  EXPECT_EQ(p.log().find("agent:"), std::string::npos);
}

TEST(Agent, AnswersAtOnceClosesCleanlyAndCountsPeersByLabel) {
  PreforkdProcess p({"--workers", "4", "--agent-listen", "127.0.0.1:0", "--agent-announce", "100ms"});
  ASSERT_TRUE(p.waitReady());
  const int port = agentPort(p);
  ASSERT_GT(port, 0);
  // Nothing sent: the answer still comes, then FIN (not a reset).
  Check c = agentCheck(port);
  EXPECT_EQ(c.data, "up ready 100% maxconn:4\n");
  EXPECT_TRUE(c.eof) << "error " << c.error;
  for (int i = 0; i < 3; ++i) {
    c = agentCheck(port, "lb1\n");
    EXPECT_EQ(c.data, "up ready 100% maxconn:4\n");
    EXPECT_TRUE(c.eof) << "error " << c.error;
  }
  c = agentCheck(port, "lb2\n");
  EXPECT_TRUE(c.eof);
  ASSERT_TRUE(eventually([&] {
    const auto text = p.control("show agent").value_or("");
    return text.find("checks: 5\n") != std::string::npos &&
           std::regex_search(text, std::regex("peer: lb2 from 127\\.0\\.0\\.1:\\d+ checks 1 ")) &&
           std::regex_search(text, std::regex("peer: lb1 from 127\\.0\\.0\\.1:\\d+ checks 3 ")) &&
           std::regex_search(text, std::regex("peer: 127\\.0\\.0\\.1 from 127\\.0\\.0\\.1:\\d+ checks 1 "));
  })) << p.control("show agent").value_or("");
  const auto info = p.info();
  EXPECT_EQ(info.at("agent"), "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(info.at("agent_state"), "ready");
  const std::string metrics = p.control("show metrics").value_or("");
  EXPECT_NE(metrics.find("preforkd_agent_checks_total 5\n"), std::string::npos);
  EXPECT_NE(metrics.find("preforkd_agent_state{state=\"ready\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("preforkd_agent_maxconn 4\n"), std::string::npos);
}

TEST(Agent, FleetReferenceAndBalancersShapeTheAnswer) {
  PreforkdProcess p({"--workers", "4", "--agent-listen", "127.0.0.1:0", "--agent-reference", "8",
                     "--agent-balancers", "2", "--agent-announce", "100ms"});
  ASSERT_TRUE(p.waitReady());
  const int port = agentPort(p);
  ASSERT_GT(port, 0);
  EXPECT_EQ(agentCheck(port).data, "up ready 50% maxconn:2\n");
  // A worker fewer: the answer follows at once.
  ASSERT_EQ(p.control("set workers 2").value_or(""), "OK workers 2\n");
  ASSERT_TRUE(eventually([&] { return agentCheck(port).data == "up ready 25% maxconn:1\n"; }));
}

// Growing an idle pool from the control socket starts the workers at once (the command is an
// event like any other), so the agent announces them at once: nothing else may happen for a long
// time. Both commands run in one pass of the loop, so no timer can fork the workers in between.
TEST(Agent, GrowingAnIdlePoolIsAnnouncedAtOnce) {
  PreforkdProcess p({"--workers", "2", "--agent-listen", "127.0.0.1:0", "--agent-reference", "8",
                     "--agent-balancers", "2", "--agent-announce", "100ms"});
  ASSERT_TRUE(p.waitReady());
  const int port = agentPort(p);
  ASSERT_GT(port, 0);
  ASSERT_TRUE(p.waitPoolFull(2));
  EXPECT_EQ(agentCheck(port).data, "up ready 25% maxconn:1\n");
  Client control;
  ASSERT_TRUE(control.connectUnix(p.controlPath()));
  ASSERT_TRUE(control.send("set workers 4; show info\n"));
  EXPECT_EQ(control.readUntil("\n\n").value_or(""), "OK workers 4\n\n");
  const std::string info = control.readUntil("\n\n").value_or("");
  EXPECT_NE(info.find("\nworkers_total: 4\n"), std::string::npos) << info;
  EXPECT_TRUE(eventually([&] { return agentCheck(port).data == "up ready 50% maxconn:2\n"; }, 2s));
  EXPECT_TRUE(p.waitPoolFull(4, 2s));
}

TEST(Agent, AllowListClosesOthersUnanswered) {
  PreforkdProcess p({"--workers", "2", "--agent-listen", "127.0.0.1:0", "--agent-allow", "127.0.0.2", "--agent-announce", "100ms"});
  ASSERT_TRUE(p.waitReady());
  const int port = agentPort(p);
  ASSERT_GT(port, 0);
  Check refused = agentCheck(port, "", "127.0.0.1");
  EXPECT_EQ(refused.data, "");
  Check allowed = agentCheck(port, "lb\n", "127.0.0.2");
  EXPECT_EQ(allowed.data, "up ready 100% maxconn:2\n");
  EXPECT_TRUE(allowed.eof);
  ASSERT_TRUE(p.waitForLog(std::regex("agent: refused 127\\.0\\.0\\.1:\\d+ \\(not in the agent allow list; 1 refused so far\\)"), 2s));
  const auto text = p.control("show agent").value_or("");
  EXPECT_NE(text.find("refused: 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("allow: 127.0.0.2\n"), std::string::npos) << text;
}

// A reload applies the fleet settings and the allow list; the endpoint's address stays.
TEST(Agent, ReloadAppliesTheAllowListAndTheFleetSettings) {
  TempDir dir;
  const std::string path = dir.path() + "/preforkd.toml";
  const auto writeConfig = [&](const std::string& agent) {
    std::ofstream(path, std::ios::trunc) << "[pool]\nworkers = 2\n[agent]\nannounce = \"100ms\"\n" << agent;
  };
  writeConfig("listen = \"127.0.0.1:0\"\nallow = [\"127.0.0.2\"]\n");
  PreforkdProcess p({"-c", path});
  ASSERT_TRUE(p.waitReady());
  const int port = agentPort(p);
  ASSERT_GT(port, 0);
  EXPECT_EQ(agentCheck(port, "", "127.0.0.1").data, "");
  writeConfig("listen = \"127.0.0.1:1\"\nallow = [\"127.0.0.1\"]\nreference = 4\nbalancers = 2\n");
  const auto reloaded = p.control("reload", 10s);
  ASSERT_TRUE(reloaded && reloaded->starts_with("OK")) << reloaded.value_or("(no answer)");
  EXPECT_TRUE(p.waitForLog(std::regex("reload: the agent endpoint cannot change on reload .*keeping 127\\.0\\.0\\.1:" +
                                      std::to_string(port)),
                           1s));
  EXPECT_EQ(agentCheck(port, "", "127.0.0.1").data, "up ready 50% maxconn:1\n");
  EXPECT_EQ(agentCheck(port, "", "127.0.0.2").data, "");
}

TEST(Agent, DrainAndUndrainKeepServingAndLogEachTransition) {
  PreforkdProcess p({"--workers", "2", "--agent-listen", "127.0.0.1:0", "--agent-announce", "100ms", "--log-level", "info"});
  ASSERT_TRUE(p.waitReady());
  const int port = agentPort(p);
  ASSERT_GT(port, 0);
  ASSERT_TRUE(p.waitForLog(std::regex("agent: state ready: answering 'up ready 100% maxconn:2'"), 2s));
  EXPECT_EQ(p.control("drain").value_or(""), "OK draining\n");
  EXPECT_EQ(agentCheck(port).data, "up drain\n");
  EXPECT_EQ(answerOf(p), "up drain");
  EXPECT_EQ(p.info().at("drain"), "on");
  // Clients are still served while drained.
  Banner b;
  EXPECT_TRUE(serveOne(p.port(), &b));
  EXPECT_EQ(p.control("drain").value_or(""), "OK draining\n") << "idempotent";
  EXPECT_EQ(p.control("undrain").value_or(""), "OK ready\n");
  EXPECT_EQ(agentCheck(port).data, "up ready 100% maxconn:2\n");
  // One line per transition (the log arrives through a pipe: wait for the last one, then count).
  std::size_t cursor = 0;
  ASSERT_TRUE(p.waitForLog(std::regex("agent: state drain: answering 'up drain'"), 2s, &cursor));
  ASSERT_TRUE(p.waitForLog(std::regex("agent: state ready: answering"), 2s, &cursor));
  const std::string log = p.log();
  EXPECT_EQ(countMatches(log, std::regex("agent: state drain: answering 'up drain'")), 1u) << log;
  EXPECT_EQ(countMatches(log, std::regex("agent: state ready: answering")), 2u) << log;
}

TEST(Agent, SigtermAnnouncesTheDrainWhileStillServingThenShutsDown) {
  PreforkdProcess p({"--workers", "2", "--agent-listen", "127.0.0.1:0", "--agent-announce", "1500ms",
                     "--log-level", "info"});
  ASSERT_TRUE(p.waitReady());
  const int port = agentPort(p);
  ASSERT_GT(port, 0);
  std::size_t cursor = 0;
  const auto t0 = SteadyClock::now();
  p.signal(SIGTERM);
  ASSERT_TRUE(p.waitForLog(std::regex("SIGTERM: announcing the drain to balancers for \\d+ ms"), 2s, &cursor));
  EXPECT_EQ(agentCheck(port).data, "up drain\n");
  // The listeners are still open and clients are served during the announce.
  Banner b;
  EXPECT_TRUE(serveOne(p.port(), &b));
  ASSERT_TRUE(p.waitForLog(std::regex("SIGTERM: shutting down"), 4s, &cursor));
  const auto announced = SteadyClock::now() - t0;
  EXPECT_GE(announced, 1400ms);
  const ExitStatus st = p.waitExit(10s);
  EXPECT_TRUE(st.exitedWith(0)) << st.describe();
}

TEST(Agent, SigtermAfterALongEnoughDrainSkipsTheAnnounce) {
  PreforkdProcess p({"--workers", "2", "--agent-listen", "127.0.0.1:0", "--agent-announce", "300ms",
                     "--log-level", "info"});
  ASSERT_TRUE(p.waitReady());
  ASSERT_EQ(p.control("drain").value_or(""), "OK draining\n");
  ASSERT_TRUE(eventually([&] {
    const auto text = p.control("show agent").value_or("");
    std::smatch m;
    return std::regex_search(text, m, std::regex("drain: on \\(control, ([0-9.]+) s\\)")) &&
           std::stod(m[1].str()) > 0.35;
  }));
  std::size_t cursor = 0;
  p.signal(SIGTERM);
  ASSERT_TRUE(p.waitForLog(std::regex("SIGTERM: shutting down"), 2s, &cursor));
  EXPECT_EQ(p.log().find("announcing the drain"), std::string::npos);
  const auto undrain = p.control("undrain");  // gone already, or refusing
  EXPECT_TRUE(!undrain || *undrain == "ERROR shutting down: the drain cannot be left\n") << *undrain;
  EXPECT_TRUE(p.waitExit(10s).exitedWith(0));
}

TEST(Agent, UndrainIsRefusedDuringTheAnnounce) {
  PreforkdProcess p({"--workers", "1", "--agent-listen", "127.0.0.1:0", "--agent-announce", "3s"});
  ASSERT_TRUE(p.waitReady());
  std::size_t cursor = 0;
  p.signal(SIGTERM);
  ASSERT_TRUE(p.waitForLog(std::regex("announcing the drain"), 2s, &cursor));
  EXPECT_EQ(p.control("undrain").value_or(""), "ERROR shutting down: the drain cannot be left\n");
  // A second SIGTERM skips the rest of the announce.
  p.signal(SIGTERM);
  ASSERT_TRUE(p.waitForLog(std::regex("SIGTERM again: not waiting for the drain announce"), 2s, &cursor));
  EXPECT_TRUE(p.waitExit(5s).exitedWith(0));
}

TEST(Agent, DownWhileTheCrashBrakeHoldsAndNothingServes) {
  PreforkdProcess p({"--workers", "2", "--agent-listen", "127.0.0.1:0", "--agent-announce", "100ms", "--respawn-backoff-max", "1s",
                     "--worker-exec", PREFORKD_TEST_WORKER_BINARY, "crash-at-start"},
                    LaunchOptions{});
  const int port = agentPort(p);
  ASSERT_GT(port, 0);
  ASSERT_TRUE(eventually([&] { return agentCheck(port).data == "down\n"; }, 5s));
  ASSERT_TRUE(p.waitForLog(std::regex("agent: state down: answering 'down'"), 2s));
  EXPECT_EQ(p.info().at("agent_state"), "down");
}

TEST(Agent, HotUpgradeKeepsTheAgentPort) {
  PreforkdProcess p({"--workers", "2", "--agent-listen", "127.0.0.1:0", "--agent-announce", "100ms", "--log-level", "info"});
  ASSERT_TRUE(p.waitReady());
  const int port = agentPort(p);
  ASSERT_GT(port, 0);
  std::size_t cursor = 0;
  p.signal(SIGUSR2);
  const auto started = p.waitForLog(std::regex("hot upgrade: started .* as pid (\\d+)"), 5s, &cursor);
  ASSERT_TRUE(started);
  const pid_t new_pid = std::stoi((*started)[1]);
  ASSERT_TRUE(p.waitForLog(std::regex("agent: using inherited socket 127\\.0\\.0\\.1:" + std::to_string(port)), 5s, &cursor));
  ASSERT_TRUE(p.waitExit(10s).exitedWith(0));
  // Every check during and after the takeover is answered (the socket never closed).
  for (int i = 0; i < 20; ++i) EXPECT_EQ(agentCheck(port).data, "up ready 100% maxconn:2\n") << i;
  ASSERT_EQ(::kill(new_pid, SIGTERM), 0);
  int st = 0;
  ASSERT_TRUE(eventually([&] { return ::waitpid(new_pid, &st, WNOHANG) == new_pid; }, 10s));
  p.reapOrphans();
}
