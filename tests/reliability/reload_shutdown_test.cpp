// Reliability scenario 5, reload and shutdown: twenty reloads and a hot upgrade under load
// refuse nothing; a SIGTERM with busy workers that ignore it (and Stop) leaves nothing running
// after the shutdown deadline (shutdown timeout + kill grace) plus a second; a wedged worker is
// killed on time; a supervisor killed with SIGKILL takes every worker with it within a second
// and leaves its port free to bind again.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "tests/e2e/load_driver.h"
#include "tests/reliability/reliability_fixture.h"

namespace e2e {
namespace {

class Reload : public ReliabilityTest {};
class HotUpgrade : public ReliabilityTest {};
class Shutdown : public ReliabilityTest {};
class Supervision : public ReliabilityTest {};

std::string n(std::uint64_t v) { return std::to_string(v); }

// ---------------------------------------------------------------- reload

TEST_F(Reload, TwentyReloadsUnderLoadRefuseNothing) {
  ASSERT_TRUE(launch({"--workers", "4", "--reload-timeout", "3s", "--kill-grace", "500ms"}, 4));
  PreforkdProcess& p = sup();
  LoadDriver load(p.port(), 4);
  load.start();
  std::size_t cursor = 0;
  const auto t0 = SteadyClock::now();
  for (int g = 2; g <= 21; ++g) {
    // Each generation serves some clients before the next reload replaces it.
    const std::uint64_t served = load.ok();
    ASSERT_TRUE(eventually([&] { return load.ok() >= served + 10; }, 10s)) << load.summary();
    p.signal(SIGHUP);
    ASSERT_TRUE(p.waitForLog(std::regex("reload: generation " + std::to_string(g) + " is up"), 10s, &cursor))
        << "generation " << g;
  }
  const auto reload_time = std::chrono::duration_cast<Ms>(SteadyClock::now() - t0);
  // Keep the load on a little past the last reload.
  const std::uint64_t before = load.ok();
  ASSERT_TRUE(eventually([&] { return load.ok() >= before + 20; }, 10s));
  load.stop();
  EXPECT_EQ(load.refused(), 0u) << load.summary();
  EXPECT_EQ(load.cut(), 0u) << load.summary();
  EXPECT_EQ(load.failed(), 0u) << load.summary();
  EXPECT_GT(load.ok(), 100u) << load.summary();
  // Only generation 21 remains once the drains are over.
  ASSERT_TRUE(p.waitPoolFull(4, 10s));
  const std::string log = p.log();
  EXPECT_EQ(countMatches(log, std::regex("drain time limit")), 0u)
      << "no old child needed killing: every one finished in time";
  std::set<pid_t> alive;
  for (pid_t w : p.workerPids()) alive.insert(w);
  EXPECT_EQ(alive.size(), 4u);
  const auto info = p.info();
  EXPECT_EQ(infoValue(info, "reloads"), 20u);
  EXPECT_EQ(infoValue(info, "generation"), 21u);
  figures("reload", {{"reloads", "20"},
                     {"reload_time_ms", n(static_cast<std::uint64_t>(reload_time.count()))},
                     {"sessions", n(load.total())},
                     {"served", n(load.ok())},
                     {"refused", n(load.refused())},
                     {"cut", n(load.cut())},
                     {"failed", n(load.failed())},
                     {"children_spawned", n(infoValue(info, "children_spawned"))}});
}

// ---------------------------------------------------------------- hot upgrade

TEST_F(HotUpgrade, NewBinaryTakesOverUnderLoad) {
  ASSERT_TRUE(launch({"--workers", "3", "--log-level", "info"}, 3));
  PreforkdProcess& p = sup();
  const pid_t old_pid = p.pid();
  LoadDriver load(p.port(), 3);
  load.start();
  const std::uint64_t warm = load.ok();
  ASSERT_TRUE(eventually([&] { return load.ok() >= warm + 20; }, 10s));
  std::size_t cursor = 0;
  p.signal(SIGUSR2);
  const auto started = p.waitForLog(std::regex("hot upgrade: started .* as pid (\\d+)"), 5s, &cursor);
  ASSERT_TRUE(started);
  const pid_t new_pid = std::stoi((*started)[1]);
  ASSERT_TRUE(p.waitForLog(std::regex("hot upgrade: took over from the previous supervisor"), 10s));
  const ExitStatus old_exit = p.waitExit(10s);
  EXPECT_TRUE(old_exit.exitedWith(0)) << old_exit.describe();
  const std::uint64_t after = load.ok();
  ASSERT_TRUE(eventually([&] { return load.ok() >= after + 20; }, 10s)) << "served by the new supervisor";
  load.stop();
  EXPECT_EQ(load.refused(), 0u) << load.summary();
  EXPECT_EQ(load.cut(), 0u) << load.summary();
  EXPECT_EQ(load.failed(), 0u) << load.summary();
  // The control socket now answers from the new supervisor, which the audit follows (and the
  // fixture stops: it is the test process's child now, the test being a subreaper).
  const auto info = p.info();
  EXPECT_EQ(infoValue(info, "pid"), static_cast<std::uint64_t>(new_pid));
  EXPECT_NE(new_pid, old_pid);
  ASSERT_TRUE(followSupervisor(new_pid, 3));
  figures("hot-upgrade", {{"sessions", n(load.total())},
                          {"served", n(load.ok())},
                          {"refused", n(load.refused())},
                          {"cut", n(load.cut())},
                          {"failed", n(load.failed())},
                          {"handed_over", n(infoValue(info, "conns_handed_over"))}});
}

TEST_F(HotUpgrade, AFailingNewBinaryLeavesTheOldOneServing) {
  expectLogLine(R"(hot upgrade failed: .*keeps serving)");
  expectLogLine(R"(cannot start: .*control)");
  // A bad worker command line makes the new supervisor's workers fail: it never becomes
  // ready, misses the upgrade deadline and is killed; the old one keeps serving.
  ASSERT_TRUE(launch({"--workers", "2", "--upgrade-timeout", "1s"}, 2));
  PreforkdProcess& p = sup();
  // Make the re-exec fail outright: the control socket's temporary path is a directory.
  ASSERT_EQ(::mkdir((p.controlPath() + ".upgrade").c_str(), 0700), 0);
  p.signal(SIGUSR2);
  EXPECT_TRUE(p.waitForLog(std::regex("hot upgrade failed: .*keeps serving"), 5s));
  Banner b;
  EXPECT_TRUE(serveOne(p.port(), &b));
  EXPECT_EQ(p.infoNumber("pid"), static_cast<std::uint64_t>(p.pid()));
  ::rmdir((p.controlPath() + ".upgrade").c_str());
}

// ---------------------------------------------------------------- shutdown

// A worker that cannot finish (SIGSTOPped mid-session): after the shutdown timeout the
// supervisor sends SIGTERM, after the 2 s grace SIGKILL, and still exits 0.
TEST_F(Shutdown, WedgedWorkerIsKilledAfterTheTimeouts) {
  ASSERT_TRUE(launch({"--workers", "2", "--shutdown-timeout", "1s"}, 2));
  PreforkdProcess& p = sup();
  const std::vector<pid_t> pids = p.workerPids();
  ASSERT_EQ(pids.size(), 2u);

  Client c;
  Banner b;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(readBanner(c, &b));
  ASSERT_EQ(::kill(b.pid, SIGSTOP), 0);
  ASSERT_TRUE(eventually([&] { return processState(b.pid) == 'T'; }, 2s))
      << "worker " << b.pid << " did not stop";

  const auto t0 = SteadyClock::now();
  std::size_t cursor = 0;
  p.signal(SIGTERM);
  ASSERT_TRUE(p.waitForLog(std::regex("shutting down"), 2s, &cursor)) << p.log();
  // The idle worker's goodbye comes after the supervisor closed its listeners and sent Stop
  // (in that order), so from here on the port must refuse.
  ASSERT_TRUE(p.waitForLog(std::regex(R"(debug: worker \d+ quitting: stopped)"), 2s, &cursor))
      << p.log();
  // While draining: new clients are refused, the control socket still answers.
  Client late;
  EXPECT_FALSE(late.connect(p.port())) << "the listener must be closed at SIGTERM";
  const auto info = p.info();
  EXPECT_EQ(info.count("state") ? info.at("state") : "?", "draining");

  const std::regex term_re(R"(warning: shutdown: 1 worker\(s\) still running: sending SIGTERM)");
  const std::regex kill_re(R"(warning: shutdown: 1 worker\(s\) ignored SIGTERM: sending SIGKILL)");
  EXPECT_TRUE(p.waitForLog(term_re, 3s, &cursor)) << p.log();
  EXPECT_TRUE(p.waitForLog(kill_re, 4s, &cursor)) << p.log();
  const ExitStatus st = p.waitExit(6s);
  const auto elapsed = SteadyClock::now() - t0;
  ASSERT_TRUE(st.exited) << "still running 6 s after SIGTERM\n" << p.log();
  EXPECT_TRUE(st.exitedWith(0)) << st.describe();
  // 1 s shutdown timeout + 2 s grace: not before, and not much after.
  EXPECT_GE(elapsed, 2800ms);
  EXPECT_LE(elapsed, 5500ms);

  const auto rest = c.readAll(2s);
  EXPECT_TRUE(rest.eof) << "error=" << rest.error << " timed_out=" << rest.timed_out;
  for (pid_t w : pids) {
    EXPECT_TRUE(goneFromTree(w, p.pid())) << "worker " << w << " survived (state "
                                          << processState(w) << ")";
  }
  EXPECT_TRUE(p.leftoverProcesses().empty()) << joinPids(p.leftoverProcesses());
}

// SIGTERM while every worker is busy with a client, in a worker mode that ignores SIGTERM:
// the whole tree is gone by the shutdown deadline (shutdown timeout + kill grace) plus a
// second. `mode` ignore-term still obeys the Stop sent at the shutdown timeout; ignore-stop
// does not, so only the final SIGKILL ends it.
struct BusyShutdown {
  Ms gone_after{0};
  Ms deadline{0};
};

void shutdownWithBusyWorkers(PreforkdProcess& p, bool killed_at_the_end, BusyShutdown* out) {
  constexpr auto kShutdownTimeout = 1s;
  constexpr auto kKillGrace = 1s;
  std::vector<Client> clients(3);
  for (Client& c : clients) {
    ASSERT_TRUE(c.connect(p.port()));
    ASSERT_TRUE(c.send("busy\r\n"));
    ASSERT_EQ(c.readLine(3s), "busy");
  }
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "workers_busy") == 3; }, 3s, "3 busy"));
  const std::vector<pid_t> workers = p.workerPids();
  ASSERT_EQ(workers.size(), 3u);
  const pid_t supervisor = p.pid();
  const auto t0 = SteadyClock::now();
  p.signal(SIGTERM);
  const ExitStatus st = p.waitExit(10s);
  ASSERT_TRUE(st.exited) << p.log();
  EXPECT_TRUE(st.exitedWith(0)) << st.describe();
  ASSERT_TRUE(eventually([&] {
    for (pid_t w : workers) {
      if (!goneFromTree(w, supervisor)) return false;
    }
    return true;
  }, 10s, 5ms));
  out->gone_after = std::chrono::duration_cast<Ms>(SteadyClock::now() - t0);
  out->deadline = std::chrono::duration_cast<Ms>(kShutdownTimeout + kKillGrace);
  EXPECT_LE(out->gone_after, out->deadline + 1s) << "the tree outlived the shutdown deadline";
  if (killed_at_the_end) {
    // They really ignored TERM and Stop: only the deadline's SIGKILL ended them.
    EXPECT_GE(out->gone_after, out->deadline - 100ms);
    EXPECT_EQ(countMatches(p.log(), std::regex(R"(shutdown: 3 worker\(s\) ignored SIGTERM: sending SIGKILL)")), 1u)
        << p.log();
  } else {
    EXPECT_GE(out->gone_after, kShutdownTimeout - 100ms) << "busy workers get the shutdown timeout";
  }
  for (Client& c : clients) {
    const auto rest = c.readAll(2s);
    EXPECT_TRUE(rest.eof || rest.error != 0);
  }
  EXPECT_TRUE(p.leftoverProcesses().empty()) << joinPids(p.leftoverProcesses());
}

TEST_F(Shutdown, BusyWorkersIgnoringTermAreGoneByTheDeadline) {
  ASSERT_TRUE(launch(withTestWorker({"--workers", "3", "--shutdown-timeout", "1s", "--kill-grace", "1s"},
                                    {"ignore-term"}),
                     3));
  BusyShutdown r;
  shutdownWithBusyWorkers(sup(), false, &r);
  figures("shutdown.ignore-term", {{"busy_workers", "3"},
                                   {"deadline_ms", n(static_cast<std::uint64_t>(r.deadline.count()))},
                                   {"tree_gone_after_ms", n(static_cast<std::uint64_t>(r.gone_after.count()))}});
}

TEST_F(Shutdown, BusyWorkersIgnoringTermAndStopAreKilledAtTheDeadline) {
  ASSERT_TRUE(launch(withTestWorker({"--workers", "3", "--shutdown-timeout", "1s", "--kill-grace", "1s"},
                                    {"ignore-stop"}),
                     3));
  BusyShutdown r;
  shutdownWithBusyWorkers(sup(), true, &r);
  figures("shutdown.ignore-stop", {{"busy_workers", "3"},
                                   {"deadline_ms", n(static_cast<std::uint64_t>(r.deadline.count()))},
                                   {"tree_gone_after_ms", n(static_cast<std::uint64_t>(r.gone_after.count()))}});
}

// ---------------------------------------------------------------- a killed supervisor

// Binds 127.0.0.1:port and listens, as preforkd does (SO_REUSEADDR: the TIME_WAIT left by the
// cut session would block a plain bind whoever held the port).
testing::AssertionResult portIsFree(int port) {
  preforkd::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return testing::AssertionFailure() << "bind 127.0.0.1:" << port << ": " << std::strerror(errno);
  }
  if (::listen(fd.get(), 1) != 0) return testing::AssertionFailure() << "listen: " << std::strerror(errno);
  return testing::AssertionSuccess();
}

// The workers' own safety nets (channel EOF, PR_SET_PDEATHSIG): a supervisor killed with
// SIGKILL leaves no worker behind, idle or busy, within a second, and nothing holds its port.
void killSupervisorWithABusyWorker(PreforkdProcess& p, bool echo_banner, Ms* gone_after) {
  const std::vector<pid_t> pids = p.workerPids();
  ASSERT_EQ(pids.size(), 2u);
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  if (echo_banner) {
    Banner b;
    ASSERT_TRUE(readBanner(c, &b));
  } else {
    ASSERT_TRUE(c.send("busy\r\n"));
    ASSERT_EQ(c.readLine(3s), "busy");
  }
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "workers_busy") == 1; }, 3s, "1 busy"));
  const pid_t supervisor = p.pid();
  const auto t0 = SteadyClock::now();
  ASSERT_EQ(::kill(supervisor, SIGKILL), 0);
  const ExitStatus st = p.waitExit(2s);
  ASSERT_TRUE(st.exited);
  EXPECT_TRUE(WIFSIGNALED(st.wait_status));
  const bool gone = eventually([&] {
    for (pid_t w : pids) {
      if (!goneFromTree(w, supervisor)) return false;
    }
    return true;
  }, 3s, 5ms);
  *gone_after = std::chrono::duration_cast<Ms>(SteadyClock::now() - t0);
  EXPECT_TRUE(gone) << "workers outlived their supervisor: " << joinPids(p.leftoverProcesses());
  EXPECT_LT(*gone_after, 1s) << "workers took " << gone_after->count() << " ms to follow their supervisor";
  const auto rest = c.readAll(3s);
  EXPECT_TRUE(rest.eof || rest.error != 0) << "the busy worker's client must be disconnected";
  EXPECT_TRUE(portIsFree(p.port()));
}

TEST_F(Supervision, WorkersDoNotOutliveAKilledSupervisor) {
  ASSERT_TRUE(launch({"--workers", "2"}, 2));
  Ms gone_after{0};
  killSupervisorWithABusyWorker(sup(), true, &gone_after);
  figures("supervisor-killed", {{"workers", "2"}, {"gone_after_ms", n(static_cast<std::uint64_t>(gone_after.count()))}});
}

TEST_F(Supervision, ExecdWorkersDoNotOutliveAKilledSupervisor) {
  ASSERT_TRUE(launch(withTestWorker({"--workers", "2"}, {"echo"}), 2));
  Ms gone_after{0};
  killSupervisorWithABusyWorker(sup(), false, &gone_after);
  figures("supervisor-killed.exec", {{"workers", "2"}, {"gone_after_ms", n(static_cast<std::uint64_t>(gone_after.count()))}});
}

}  // namespace
}  // namespace e2e
