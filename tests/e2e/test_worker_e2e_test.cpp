// End-to-end smoke test of preforkd-test-worker (tests/tools/test_worker.cpp), the worker that
// misbehaves on purpose for supervisor robustness tests: in its well-behaved `echo` mode the
// real supervisor runs it like any exec'd worker.
#include <csignal>
#include <string>
#include <thread>

#include "harness.h"

#ifndef PREFORKD_TEST_WORKER_BINARY
#error "PREFORKD_TEST_WORKER_BINARY must name the preforkd-test-worker binary"
#endif

namespace e2e {
namespace {

TEST(TestWorker, EchoModeServesARoundTrip) {
  PreforkdProcess p({"--workers", "1", "--worker-exec", PREFORKD_TEST_WORKER_BINARY, "echo"});
  ASSERT_TRUE(p.waitReady());
  const std::vector<pid_t> workers = p.workerPids();
  ASSERT_EQ(workers.size(), 1u);

  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(c.send("hello test worker\r\n"));
  EXPECT_EQ(c.readLine(3s), "hello test worker");
  c.shutdownWrite();
  const Client::AllResult rest = c.readAll(3s);
  EXPECT_TRUE(rest.eof) << "error " << rest.error << " timed_out " << rest.timed_out;
  EXPECT_EQ(rest.data, "");

  ASSERT_TRUE(p.waitCompleted(1));
  ASSERT_TRUE(p.waitPoolFull(1));
  const auto rows = p.workers();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].pid, workers[0]);
  EXPECT_EQ(rows[0].served, 1u);
  EXPECT_EQ(p.infoNumber("bad_status_messages"), 0u);

  // Stop -> Quitting, exit 0: a clean shutdown with nothing left behind (the harness checks).
  p.signal(SIGTERM);
  EXPECT_TRUE(p.waitExit(5s).exitedWith(0)) << p.log();
  EXPECT_TRUE(p.waitForLog(std::regex(R"(\[test-worker \d+\] info: stop requested: exiting)"),
                           2s))
      << p.log();
}

// Forked workers get clients whose reads wake every second (common/client_read_wake.h); a
// foreign exec'd program must get plain sockets: its blocking recv() waits as long as the
// client is silent, or its sessions would end after a second of silence.
TEST(TestWorker, AForeignWorkersBlockingReadsHaveNoTimeout) {
  PreforkdProcess p(
      {"--workers", "1", "--worker-exec", PREFORKD_TEST_WORKER_BINARY, "blocking-echo"});
  ASSERT_TRUE(p.waitReady());
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(c.send("before the silence\r\n"));
  EXPECT_EQ(c.readLine(3s), "before the silence");
  // The silence is what is tested: longer than the forked workers' wake period.
  std::this_thread::sleep_for(1500ms);
  ASSERT_TRUE(c.send("after the silence\r\n"));
  EXPECT_EQ(c.readLine(3s), "after the silence") << p.log();
  c.shutdownWrite();
  EXPECT_TRUE(c.readAll(3s).eof);
  EXPECT_EQ(p.log().find("recv from the client"), std::string::npos) << p.log();
  ASSERT_TRUE(p.waitCompleted(1));
  p.signal(SIGTERM);
  EXPECT_TRUE(p.waitExit(5s).exitedWith(0)) << p.log();
}

}  // namespace
}  // namespace e2e
