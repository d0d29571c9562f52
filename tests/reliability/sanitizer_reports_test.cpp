// The harness's sanitizer net really catches a report. In a sanitizer build an exec'd worker
// (tests/tools/test_worker.cpp) commits a heap-buffer-overflow, or a signed overflow, on its
// first connection. ASan writes its report to DIR/sanitizer.PID (the harness set log_path for
// the whole tree); GCC's libubsan, linked beside libasan, ignores log_path and prints on the
// supervisor's stderr, which the harness searches too. Either way the harness's check turns
// it into a test failure. The check runs here under EXPECT_NONFATAL_FAILURE, which expects
// exactly that failure, and consumes the report, so the test itself passes. Without
// sanitizers these two tests are skipped.
#include <filesystem>

#include <gtest/gtest-spi.h>

#include "tests/reliability/reliability_fixture.h"

namespace e2e {
namespace {

class SanitizerReports : public ReliabilityTest {
 protected:
  // Runs one connection against a worker in `mode`; the worker dies with a report.
  void provoke(const std::string& mode, pid_t* worker) {
    ASSERT_TRUE(launch({"--workers", "1", "--worker-exec", PREFORKD_TEST_WORKER_BINARY, mode}, 1));
    PreforkdProcess& p = sup();
    const auto pids = p.workerPids();
    ASSERT_EQ(pids.size(), 1u);
    *worker = pids[0];
    Client c;
    ASSERT_TRUE(c.connect(p.port()));
    const auto rest = c.readAll(5s);
    EXPECT_TRUE(rest.eof || rest.error != 0) << "the faulty worker's client is cut";
    ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "conns_lost_in_service") == 1; }, 5s,
                           "the faulty worker died in service"));
    ASSERT_TRUE(p.waitPoolFull(1));
  }
};

TEST_F(SanitizerReports, HeapBufferOverflowInAWorkerFailsTheTest) {
  if (!kSanitizedBuild) GTEST_SKIP() << "needs a sanitizer build (-DPREFORKD_SANITIZE=ON)";
  pid_t worker = -1;
  provoke("asan-heap-overflow", &worker);
  const std::string file = sup().dir() + "/sanitizer." + std::to_string(worker);
  EXPECT_TRUE(std::filesystem::exists(file)) << "no " << file;
  EXPECT_NONFATAL_FAILURE(sup().checkSanitizerReports(AfterCheck::Consume),
                          "ERROR: AddressSanitizer: heap-buffer-overflow");
  EXPECT_EQ(readSanitizerReports(sup().dir()), "") << "the expected report was consumed";
}

TEST_F(SanitizerReports, UndefinedBehaviourInAWorkerFailsTheTest) {
  if (!kSanitizedBuild) GTEST_SKIP() << "needs a sanitizer build (-DPREFORKD_SANITIZE=ON)";
  pid_t worker = -1;
  provoke("ubsan-signed-overflow", &worker);
  ASSERT_TRUE(sup().waitForLog(std::regex("runtime error: signed integer overflow"), 5s)) << sup().log();
  EXPECT_NONFATAL_FAILURE(sup().checkSanitizerReports(AfterCheck::Consume),
                          "runtime error: signed integer overflow");
  // Still in the log, but consumed: the destructor does not report it again.
  EXPECT_FALSE(sanitizerLines(sup().log()).empty());
}

// Without a fault (and without sanitizers) the variables are set all the same and nothing is
// written.
TEST_F(SanitizerReports, NoReportsWithoutAFault) {
  ASSERT_TRUE(launch({"--workers", "2"}, 2));
  Banner b;
  ASSERT_TRUE(serveOne(sup().port(), &b));
  EXPECT_EQ(readSanitizerReports(sup().dir()), "");
  EXPECT_TRUE(sanitizerLines(sup().log()).empty());
}

TEST(SanitizerOptions, LogPathIsAppendedToWhatIsThere) {
  EXPECT_EQ(withSanitizerLogPath(nullptr, "/t/s"), "log_path=/t/s");
  EXPECT_EQ(withSanitizerLogPath("", "/t/s"), "log_path=/t/s");
  EXPECT_EQ(withSanitizerLogPath("detect_leaks=1", "/t/s"), "detect_leaks=1:log_path=/t/s");
  EXPECT_EQ(withSanitizerLogPath("a=1:log_path=/x:", "/t/s"), "a=1:log_path=/x:log_path=/t/s");
}

}  // namespace
}  // namespace e2e
