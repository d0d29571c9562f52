// preforkd behind a real HAProxy 2.6 with agent-check (docs/scale-out.md): two hosts, 8 and 2
// children, `balance leastconn`, `weight 100`, agent-inter 500 ms, --agent-reference 8 (so
// the agent says 100% and 25%, maxconn 8 and 2). Each scenario prints its measurements on a
// `[figures]` line.
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tests/e2e/harness.h"
#include "tests/haproxy/agent_relay.h"
#include "tests/haproxy/haproxy_process.h"
#include "tests/haproxy/session_load.h"

using namespace e2e;
using namespace haproxy;

namespace {

constexpr Ms kAgentInter{500};
// How long HAProxy may take to act on a changed answer: one agent interval and a margin for
// the check itself and our 20 ms polling.
constexpr Ms kApplyBound = kAgentInter + 250ms;
constexpr Ms kPoll{20};
constexpr Ms kHold{50};
constexpr std::size_t kBigChildren = 8, kSmallChildren = 2;

double msSince(SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

void figures(const std::string& text) { std::cout << "[figures] " << text << std::endl; }

// A preforkd host: `workers` children, the echo service, an agent endpoint.
struct Host {
  std::unique_ptr<PreforkdProcess> proc;
  int port = -1;
  int agent_port = -1;
};

testing::AssertionResult startHost(Host* h, std::size_t workers, int port = 0, int agent_port = 0,
                                   std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--workers", std::to_string(workers),
                                "--listen", "127.0.0.1:" + std::to_string(port),
                                "--agent-listen", "127.0.0.1:" + std::to_string(agent_port),
                                "--agent-reference", std::to_string(kBigChildren),
                                "--agent-announce", "2s"};
  args.insert(args.end(), extra.begin(), extra.end());
  h->proc = std::make_unique<PreforkdProcess>(args);
  if (auto r = h->proc->waitReady(); !r) return r;
  h->port = h->proc->port();
  const auto m = h->proc->waitForLog(
      std::regex("agent: answering HAProxy agent checks on 127\\.0\\.0\\.1:(\\d+)"), 2s);
  if (!m) return testing::AssertionFailure() << "no agent line:\n" << h->proc->log();
  h->agent_port = std::stoi((*m)[1]);
  return testing::AssertionSuccess();
}

std::string describe(const std::map<std::string, ServerStat>& stats) {
  std::string out;
  for (const auto& [name, s] : stats) {
    out += fmt::format("  {}: status '{}' weight {} slim {} scur {} smax {} stot {} qcur {} agent '{}'\n",
                       name, s.status, s.weight, s.slim, s.scur, s.smax, s.stot, s.qcur, s.agent_status);
  }
  return out;
}

// Polls `show stat` every kPoll until `pred` holds for the rows; the time it took, or
// nothing (with the last rows in *last) on timeout.
std::optional<double> pollStats(HaproxyProcess& lb,
                                const std::function<bool(const std::map<std::string, ServerStat>&)>& pred,
                                Ms timeout, std::map<std::string, ServerStat>* last = nullptr,
                                SteadyClock::time_point from = SteadyClock::now()) {
  std::map<std::string, ServerStat> rows;
  const bool ok = eventually([&] {
    rows = lb.stats();
    return rows.count("big") == 1 && rows.count("small") == 1 && pred(rows);
  }, timeout, kPoll);
  if (last) *last = rows;
  if (!ok) return std::nullopt;
  return msSince(from);
}

bool serving(const ServerStat& s, std::int64_t weight, std::int64_t slim) {
  return s.weight == weight && s.slim == slim && s.status.find("DRAIN") == std::string::npos &&
         s.status.find("DOWN") == std::string::npos && s.status.find("MAINT") == std::string::npos;
}

bool drained(const ServerStat& s) { return s.status.find("DRAIN") != std::string::npos; }

// `show hist` line `name count p50 p90 p99 p99.9 max mean` (microseconds) as a map.
std::map<std::string, std::uint64_t> histogram(PreforkdProcess& p, const std::string& name) {
  std::map<std::string, std::uint64_t> out;
  std::istringstream in(p.control("show hist").value_or(""));
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string n;
    std::uint64_t count, p50, p90, p99, p999, max, mean;
    if (f >> n >> count >> p50 >> p90 >> p99 >> p999 >> max >> mean && n == name) {
      out = {{"count", count}, {"p50", p50}, {"p99", p99}, {"max", max}};
    }
  }
  return out;
}

// The log lines a supervisor writes when it has to force a worker out.
std::size_t forcedKills(const std::string& log) {
  return countMatches(log, std::regex("SIGKILL|sending SIGTERM|time limit|killing worker"));
}

class HaproxyAgent : public testing::Test {
 protected:
  void SetUp() override {
    if (haproxyBinary().empty()) {
      GTEST_SKIP() << "haproxy not installed: apt-get install haproxy (scripts/install-deps --test does)";
    }
  }

  // Both hosts and HAProxy, and HAProxy has taken both agents' first answers.
  void startFleet(const std::vector<std::string>& host_flags = {}) {
    ASSERT_TRUE(startHost(&big, kBigChildren, 0, 0, host_flags));
    ASSERT_TRUE(startHost(&small, kSmallChildren, 0, 0, host_flags));
    startBalancer(big.agent_port);
  }

  // HAProxy in front of both hosts; it asks the big host's agent on `big_agent_port` (its
  // own, or a relay's).
  void startBalancer(int big_agent_port) {
    lb = std::make_unique<HaproxyProcess>(std::vector<HaproxyServer>{
        {"big", big.port, big_agent_port}, {"small", small.port, small.agent_port}},
        HaproxyOptions{.agent_inter = kAgentInter});
    ASSERT_TRUE(lb->waitReady());
    std::map<std::string, ServerStat> last;
    const auto t = pollStats(*lb, [](const auto& s) {
      return serving(s.at("big"), 100, kBigChildren) && serving(s.at("small"), 25, kSmallChildren);
    }, 5s, &last);
    ASSERT_TRUE(t) << "HAProxy never took the agents' answers:\n" << describe(last) << lb->log();
    // Counters start from here (smax, stot): the agents' answers are in force for all of it.
    ASSERT_TRUE(lb->command("clear counters all"));
  }

  // Declared in stopping order: HAProxy first, then the hosts.
  Host small, big;
  std::unique_ptr<HaproxyProcess> lb;
};

// (1) About 70% of the capacity, open loop: traffic follows capacity (0.8 / 0.2) and HAProxy
// queues the excess itself, so no connection waits for a child inside preforkd.
TEST_F(HaproxyAgent, SharesFollowCapacityAndNoClientWaitsInsidePreforkd) {
  // --queue: a client that found no idle child would be accepted and wait in preforkd's queue,
  // where queue_wait times it, instead of waiting unseen in the listen backlog.
  startFleet({"--queue", "64"});
  if (HasFatalFailure()) return;
  const std::size_t kSessions = 1000;
  const double capacity = static_cast<double>(kBigChildren + kSmallChildren) /
                          std::chrono::duration<double>(kHold).count();  // sessions per second
  OpenLoopLoad load({.port = lb->port(), .rate = 0.7 * capacity, .hold = kHold, .count = kSessions});
  load.start();
  ASSERT_TRUE(load.waitDone(20s)) << load.ended() << " of " << kSessions << " sessions ended";
  load.stop();
  const LoadResult r = load.result();
  EXPECT_EQ(r.failed, 0u) << r.failures;
  EXPECT_EQ(r.ok, kSessions);

  const auto stats = lb->stats();
  ASSERT_EQ(stats.count("big") + stats.count("small") + stats.count("BACKEND"), 3u) << lb->log();
  const ServerStat& b = stats.at("big");
  const ServerStat& s = stats.at("small");
  const double share = static_cast<double>(b.stot) / static_cast<double>(b.stot + s.stot);
  const double capacity_share = static_cast<double>(kBigChildren) / (kBigChildren + kSmallChildren);
  EXPECT_NEAR(share, capacity_share, 0.05) << describe(stats);
  EXPECT_EQ(static_cast<std::uint64_t>(b.stot + s.stot), kSessions) << describe(stats);
  // HAProxy never had more sessions on a host than it has children...
  EXPECT_LE(b.smax, static_cast<std::int64_t>(kBigChildren)) << describe(stats);
  EXPECT_LE(s.smax, static_cast<std::int64_t>(kSmallChildren)) << describe(stats);
  // ...and preforkd agrees: every client went to a child at once. A child closes its client
  // before it reports Available, so HAProxy's next connection can arrive a little before the
  // report does: microseconds on a quiet machine, longer when the child waits for a CPU. The
  // load generator's own lateness measures that wait on this machine during this run, so the
  // bound is half a session plus it; a client queued behind a child still serving would wait
  // for the rest of that session. conns_queued_max is printed only: it counts a client from
  // its accept() to its hand-off in the same pass, so it is at least 1 once anything came.
  const auto wait_bound_us = static_cast<std::uint64_t>((static_cast<double>(kHold.count()) / 2 + r.late_max_ms) * 1000);
  std::map<std::string, std::map<std::string, std::uint64_t>> waits;
  std::map<std::string, std::uint64_t> accepted, queued_max, busy_rejects;
  for (auto& [name, h] : {std::pair<std::string, Host*>{"big", &big}, {"small", &small}}) {
    const auto info = h->proc->info();
    accepted[name] = infoValue(info, "conns_accepted");
    queued_max[name] = infoValue(info, "conns_queued_max");
    busy_rejects[name] = infoValue(info, "conns_rejected_queue_full") + infoValue(info, "conns_rejected_queue_timeout");
    waits[name] = histogram(*h->proc, "queue_wait");
    EXPECT_EQ(busy_rejects[name], 0u) << name;
    EXPECT_LT(waits[name]["max"], wait_bound_us)
        << name << ": a connection waited for a busy child (queue_wait max, us)";
  }
  EXPECT_EQ(accepted["big"], static_cast<std::uint64_t>(b.stot));
  EXPECT_EQ(accepted["small"], static_cast<std::uint64_t>(s.stot));
  figures(fmt::format(
      "shares: {} sessions at {:.0f}/s (70% of {:.0f}/s), hold {} ms: big {} small {} -> share {:.3f} "
      "(capacity {:.2f}); smax big {}/{} small {}/{}; HAProxy queue max {} (backend); failed {}; "
      "banner wait p50 {:.1f} ms p99 {:.1f} ms max {:.1f} ms; preforkd queue_wait max big {} us "
      "small {} us (p99 {} / {} us, bound {} us), conns_queued_max big {} small {}; arrivals late max {:.1f} ms",
      kSessions, 0.7 * capacity, capacity, kHold.count(), b.stot, s.stot, share, capacity_share,
      b.smax, kBigChildren, s.smax, kSmallChildren, stats.at("BACKEND").qmax, r.failed, r.percentile(50),
      r.percentile(99), r.percentile(100), waits["big"]["max"], waits["small"]["max"],
      waits["big"]["p99"], waits["small"]["p99"], wait_bound_us, queued_max["big"], queued_max["small"],
      r.late_max_ms));
}

// (2) `set workers` on a host reaches HAProxy's weight and maxconn within one agent interval.
TEST_F(HaproxyAgent, CapacityChangeReachesHaproxyWithinOneAgentInterval) {
  startFleet();
  if (HasFatalFailure()) return;
  struct Step {
    std::size_t workers;
    std::int64_t weight;  // --agent-reference 8
  };
  std::vector<double> latencies;
  for (const Step step : {Step{4, 50}, Step{8, 100}, Step{6, 75}, Step{8, 100}}) {
    const auto t0 = SteadyClock::now();
    ASSERT_EQ(big.proc->control("set workers " + std::to_string(step.workers)).value_or(""),
              "OK workers " + std::to_string(step.workers) + "\n");
    std::map<std::string, ServerStat> last;
    const auto took = pollStats(*lb, [&](const auto& s) {
      return serving(s.at("big"), step.weight, static_cast<std::int64_t>(step.workers));
    }, 3s, &last, t0);
    ASSERT_TRUE(took) << "set workers " << step.workers << " never reached HAProxy:\n" << describe(last);
    EXPECT_LE(*took, static_cast<double>(kApplyBound.count())) << "set workers " << step.workers;
    latencies.push_back(*took);
    // `show servers state` says the same (its user weight; it has no maxconn column).
    const auto state = lb->serversState();
    ASSERT_EQ(state.count("big"), 1u);
    EXPECT_EQ(state.at("big").uweight, step.weight);
    // The other host is untouched.
    EXPECT_TRUE(serving(last.at("small"), 25, kSmallChildren)) << describe(last);
  }
  figures(fmt::format("capacity change (set workers 4, 8, 6, 8 on the 8-child host) to HAProxy's "
                      "weight and slim: {:.0f} ms, {:.0f} ms, {:.0f} ms, {:.0f} ms (bound {} ms, "
                      "agent-inter {} ms)",
                      latencies[0], latencies[1], latencies[2], latencies[3], kApplyBound.count(),
                      kAgentInter.count()));
}

// (3) Drain a host under load, then stop it: within one agent interval it gets nothing new, no
// client fails or is refused, its established sessions finish, and it exits 0 without killing
// a worker.
TEST_F(HaproxyAgent, DrainUnderLoadThenStopLosesNoClient) {
  startFleet();
  if (HasFatalFailure()) return;
  const std::vector<pid_t> big_pids = big.proc->workerPids();
  auto onBig = [&](pid_t pid) { return std::find(big_pids.begin(), big_pids.end(), pid) != big_pids.end(); };
  // Two sessions established through HAProxy on the big host, held open across the drain and
  // the shutdown. With both hosts idle HAProxy may pick either, so the first may land on the
  // small host: such a session stays open until two are on the big host (while it is open,
  // leastconn prefers the big one), then ends (it would halve the small host's capacity).
  std::vector<std::unique_ptr<HeldSession>> held, elsewhere;
  for (int i = 0; i < 4 && held.size() < 2; ++i) {
    auto h = std::make_unique<HeldSession>();
    ASSERT_TRUE(h->open(lb->port()));
    (onBig(h->pid()) ? held : elsewhere).push_back(std::move(h));
  }
  ASSERT_EQ(held.size(), 2u) << "HAProxy did not put two of four sessions on the big host";
  for (auto& h : elsewhere) ASSERT_TRUE(h->finish());
  // A load the small host alone can carry (60% of its capacity), so the drain costs nothing.
  const double rate = 0.6 * kSmallChildren / std::chrono::duration<double>(kHold).count();
  OpenLoopLoad load({.port = lb->port(), .rate = rate, .hold = kHold});
  load.start();
  ASSERT_TRUE(pollStats(*lb, [](const auto& s) { return s.at("big").stot >= 15; }, 5s))
      << "the big host gets no traffic before the drain";

  // preforkctl drain, as an operator does.
  const auto t_drain = SteadyClock::now();
  const CommandResult drain = runCommand({PREFORKCTL_BINARY, "-s", big.proc->controlPath(), "drain"}, 5s);
  ASSERT_EQ(drain.output, "OK draining\n");
  std::map<std::string, ServerStat> last;
  const auto applied = pollStats(*lb, [](const auto& s) { return drained(s.at("big")); }, 3s, &last, t_drain);
  ASSERT_TRUE(applied) << "HAProxy never saw the drain:\n" << describe(last);
  EXPECT_LE(*applied, static_cast<double>(kApplyBound.count()));
  // From the moment HAProxy shows the drain, nothing new reaches the big host.
  const std::int64_t big_stot_at_drain = last.at("big").stot;
  const std::string agent_text = runCommand({PREFORKCTL_BINARY, "-s", big.proc->controlPath(), "agent"}, 5s).output;
  EXPECT_NE(agent_text.find("answer: up drain\n"), std::string::npos) << agent_text;
  const std::int64_t small_before = last.at("small").stot;
  ASSERT_TRUE(pollStats(*lb, [&](const auto& s) { return s.at("small").stot >= small_before + 20; }, 5s))
      << "the small host does not take over";
  // preforkd's own count agrees: it accepted nothing after the drain reached HAProxy.
  EXPECT_EQ(big.proc->infoNumber("conns_accepted"), static_cast<std::uint64_t>(big_stot_at_drain));

  // Stop it, as systemd would: SIGTERM keeps announcing the drain for what is left of the 2 s
  // announce period (the drain began about a second ago), then the graceful shutdown waits
  // for the held sessions.
  EXPECT_EQ(big.proc->infoNumber("children_exited_killed"), 0u);
  std::size_t cursor = 0;
  big.proc->signal(SIGTERM);
  ASSERT_TRUE(big.proc->waitForLog(std::regex("SIGTERM: shutting down"), 4s, &cursor)) << big.proc->log();
  const double shutdown_after = msSince(t_drain);
  // The listeners are closed now; the established sessions still work and end normally.
  for (auto& h : held) EXPECT_TRUE(h->echo("after shutdown began"));
  EXPECT_EQ(big.proc->infoNumber("children_exited_killed"), 0u);
  for (auto& h : held) EXPECT_TRUE(h->finish());
  const ExitStatus st = big.proc->waitExit(8s);
  EXPECT_TRUE(st.exitedWith(0)) << st.describe() << "\n" << big.proc->log();
  const std::string big_log = big.proc->log();
  EXPECT_EQ(forcedKills(big_log), 0u) << big_log;
  EXPECT_EQ(countMatches(big_log, std::regex("closed unserved at shutdown")), 0u) << big_log;

  // The load goes on against the small host alone, with the big one gone.
  const std::int64_t small_at_exit = lb->stats().at("small").stot;
  ASSERT_TRUE(pollStats(*lb, [&](const auto& s) { return s.at("small").stot >= small_at_exit + 20; }, 5s));
  load.stop();
  const LoadResult r = load.result();
  const auto end = lb->stats();
  EXPECT_EQ(r.failed, 0u) << r.failures;
  EXPECT_EQ(end.at("big").stot, big_stot_at_drain) << "new sessions reached the drained host";
  // No connection attempt to the drained (and then gone) host, none retried or redispatched.
  for (const char* f : {"econ", "wretr", "wredis"}) {
    EXPECT_TRUE(end.at("big").fields.at(f) == "0" || end.at("big").fields.at(f).empty()) << f << describe(end);
  }
  std::uint64_t on_big = 0;
  for (const auto& [pid, n] : r.by_pid) on_big += onBig(pid) ? n : 0;
  figures(fmt::format(
      "drain under load ({:.0f}/s, hold {} ms, 2 held sessions): HAProxy shows DRAIN {:.0f} ms after "
      "preforkctl drain (bound {} ms); big stot {} when HAProxy showed it, {} at the end; small stot {}; "
      "sessions ok {} failed {} (on big {}); SIGTERM -> shutting down {:.0f} ms after the drain; "
      "held sessions finished after the listeners closed; exit {}; forced kills {}",
      rate, kHold.count(), *applied, kApplyBound.count(), big_stot_at_drain, end.at("big").stot,
      end.at("small").stot, r.ok, r.failed, on_big, shutdown_after, st.describe(), forcedKills(big_log)));
}

// (4) kill -9 a drained host and start it again on the same ports: HAProxy kept the drain
// through the outage (an agent that cannot be reached changes nothing), and the new
// instance's first answer, "up ready ...", clears it: traffic comes back by itself.
TEST_F(HaproxyAgent, KilledDrainedHostComesBackReadyByItself) {
  startFleet();
  if (HasFatalFailure()) return;
  ASSERT_EQ(big.proc->control("drain").value_or(""), "OK draining\n");
  ASSERT_TRUE(pollStats(*lb, [](const auto& s) { return drained(s.at("big")); }, 3s));
  const int port = big.port, agent_port = big.agent_port;
  big.proc->signal(SIGKILL);
  ASSERT_TRUE(big.proc->waitExit(5s).exited);
  big.proc.reset();  // reaps what is left of its workers and checks nothing remains

  // Dead: the agent's port refuses; HAProxy keeps the drain.
  std::map<std::string, ServerStat> last;
  const auto t_dead = SteadyClock::now();
  ASSERT_TRUE(pollStats(*lb, [](const auto& s) { return s.at("big").agent_status == "L4CON"; }, 3s, &last))
      << describe(last);
  EXPECT_TRUE(drained(last.at("big"))) << describe(last);
  const double dead_seen = msSince(t_dead);

  ASSERT_TRUE(startHost(&big, kBigChildren, port, agent_port));
  EXPECT_EQ(big.port, port);
  EXPECT_EQ(big.agent_port, agent_port);
  const auto t_up = SteadyClock::now();
  const auto back = pollStats(*lb, [](const auto& s) { return serving(s.at("big"), 100, kBigChildren); }, 3s, &last, t_up);
  ASSERT_TRUE(back) << "the restarted host never became ready in HAProxy:\n" << describe(last);
  EXPECT_LE(*back, static_cast<double>(kApplyBound.count()));
  const auto state = lb->serversState();
  EXPECT_EQ(state.at("big").admin_state & 0x08, 0) << "forced drain still set";

  // Traffic resumes: half the capacity for 200 sessions, shared by capacity again.
  const std::int64_t big_before = last.at("big").stot;
  const double capacity = static_cast<double>(kBigChildren + kSmallChildren) / std::chrono::duration<double>(kHold).count();
  OpenLoopLoad load({.port = lb->port(), .rate = 0.5 * capacity, .hold = kHold, .count = 200});
  load.start();
  ASSERT_TRUE(load.waitDone(20s));
  load.stop();
  const LoadResult r = load.result();
  EXPECT_EQ(r.failed, 0u) << r.failures;
  const auto end = lb->stats();
  const std::int64_t to_big = end.at("big").stot - big_before;
  EXPECT_GT(to_big, 100) << describe(end);
  EXPECT_EQ(big.proc->infoNumber("conns_accepted"), static_cast<std::uint64_t>(to_big));
  figures(fmt::format("kill -9 while drained: HAProxy agent_status L4CON after {:.0f} ms, still DRAIN; "
                      "restarted on the same ports: ready in HAProxy {:.0f} ms after preforkd's ready "
                      "(bound {} ms); then {} of 200 sessions to it, failed {}",
                      dead_seen, *back, kApplyBound.count(), to_big, r.failed));
}

// (5) The agent unreachable for 3 s: HAProxy keeps the last state it was told (weight,
// maxconn, ready) and no client notices. HAProxy asks the big host's agent through a relay the
// test owns, which refuses connections (port closed) or swallows them (no answer ever), while
// preforkd itself keeps serving; SIGSTOP would stop the service too.
class HaproxyAgentOutage : public HaproxyAgent, public testing::WithParamInterface<bool> {};

TEST_P(HaproxyAgentOutage, UnreachableAgentKeepsTheLastState) {
  const bool refuse = GetParam();
  ASSERT_TRUE(startHost(&big, kBigChildren));
  ASSERT_TRUE(startHost(&small, kSmallChildren));
  AgentRelay relay(big.agent_port);
  startBalancer(relay.port());
  if (HasFatalFailure()) return;

  const double capacity = static_cast<double>(kBigChildren + kSmallChildren) / std::chrono::duration<double>(kHold).count();
  OpenLoopLoad load({.port = lb->port(), .rate = 0.5 * capacity, .hold = kHold});
  load.start();
  ASSERT_TRUE(pollStats(*lb, [](const auto& s) { return s.at("big").stot + s.at("small").stot >= 30; }, 5s));

  if (refuse) {
    relay.refuse();
  } else {
    relay.silence();
  }
  const auto t_out = SteadyClock::now();
  const std::int64_t big_at_outage = lb->stats().at("big").stot;
  std::set<std::string> agent_statuses;
  std::size_t samples = 0, changed = 0;
  std::string first_change;
  // The outage lasts 3 s; the state is sampled every 20 ms all along.
  while (SteadyClock::now() < t_out + 3s) {
    const auto s = lb->stats();
    if (s.count("big") == 1) {
      ++samples;
      agent_statuses.insert(s.at("big").agent_status);
      if (!serving(s.at("big"), 100, kBigChildren) && changed++ == 0) first_change = describe(s);
    }
    std::this_thread::sleep_for(kPoll);  // the sampling period
  }
  const std::int64_t big_during = lb->stats().at("big").stot - big_at_outage;
  ASSERT_TRUE(relay.resume());
  const std::uint64_t relayed_before = relay.relayed();
  std::map<std::string, ServerStat> last;
  const auto t_back = SteadyClock::now();
  const auto back = pollStats(*lb, [&](const auto& s) {
    return relay.relayed() > relayed_before && s.at("big").agent_status == "L7OK";
  }, 3s, &last, t_back);
  EXPECT_TRUE(back) << "the agent's answers never came back:\n" << describe(last);
  const std::int64_t total = last.at("big").stot + last.at("small").stot;
  ASSERT_TRUE(pollStats(*lb, [&](const auto& s) { return s.at("big").stot + s.at("small").stot >= total + 30; }, 5s));
  load.stop();
  const LoadResult r = load.result();

  EXPECT_EQ(r.failed, 0u) << r.failures;
  EXPECT_EQ(changed, 0u) << "HAProxy changed the big host's state while its agent was unreachable:\n" << first_change;
  EXPECT_GT(samples, 50u);
  // The outage was real: HAProxy's agent checks failed during it...
  const std::string failure = refuse ? "L4CON" : "TOUT";
  EXPECT_TRUE(std::any_of(agent_statuses.begin(), agent_statuses.end(),
                          [&](const std::string& a) { return a.find(failure) != std::string::npos; }))
      << fmt::format("agent statuses seen: {}", fmt::join(agent_statuses, ", "));
  // ...and the host kept serving its share meanwhile.
  EXPECT_GT(big_during, 100);
  std::string seen;
  for (const std::string& a : agent_statuses) seen += (seen.empty() ? "" : ",") + a;
  figures(fmt::format("agent {} for 3 s under load ({:.0f}/s): {} samples of HAProxy's state, {} changed; "
                      "agent statuses seen {}; big host served {} sessions during the outage; checks "
                      "answered again {:.0f} ms after the relay resumed; sessions ok {} failed {}",
                      refuse ? "refusing" : "silent", 0.5 * capacity, samples, changed, seen,
                      big_during, back.value_or(-1), r.ok, r.failed));
}

INSTANTIATE_TEST_SUITE_P(Refused, HaproxyAgentOutage, testing::Values(true));
INSTANTIATE_TEST_SUITE_P(Silent, HaproxyAgentOutage, testing::Values(false));

}  // namespace
