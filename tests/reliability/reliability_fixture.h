// ReliabilityTest: the fixture of every reliability scenario (tests/reliability/*_test.cpp).
//
// Contract: a test starts the supervisor under test with ASSERT_TRUE(launch(args, pool)) and
// reaches it through sup() (the fixture owns it, so it outlives the test body); launch() waits
// until it is ready with its pool full and idle and records a baseline: the supervisor's open descriptors, its RSS and the descriptors of an
// idle worker. A test whose pool never fills uses launchUnready() and takeBaseline() once
// things have settled (or never: then there is nothing to compare against).
//
// At the end of every test (TearDown), while the supervisor still runs, the fixture
//  - waits (bounded) for the pool to be idle at its baseline size again, then checks that the
//    supervisor holds as many descriptors as at the baseline and no idle worker more than an
//    idle worker did then;
//  - checks that no child of the supervisor stays a zombie (a missed reap);
//  - checks that no worker holds any descriptor of the supervisor (workersShareNoDescriptor:
//    listeners, control socket and its clients, other workers' channels, the log file,
//    libevent's fds; compared by device and inode; stdio excepted, which workers share by
//    design) and that no two workers share one;
//  - reports the supervisor's RSS growth since the baseline (bounded loosely here; the soak
//    scenario bounds it tightly);
//  - stops it with SIGTERM and expects exit status 0;
// and then, whether or not it still ran,
//  - scans its whole log (stderr, or the log file named with useLogFile()) for `critical` and
//    `error` lines not declared with expectLogLine() (and the log file for sanitizer output);
// failing with the offending lines. The harness (PreforkdProcess's destructor) then checks that
// no process of the tree is left and that no sanitizer report was written (to a file or to
// stderr).
//
// A test that followed a hot upgrade names the new supervisor with followSupervisor(): the
// audit then looks at that process, and the fixture stops it (it is the test process's child
// by then: the test is a child subreaper) instead of the original.
//
// figures() prints one `[figures] scenario: key=value ...` line on stdout (and records the
// values as test properties) so the measured numbers can be quoted.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/e2e/harness.h"

namespace e2e {

// True in a PREFORKD_SANITIZE=ON build (ASan + UBSan): RSS figures mean nothing there (the
// quarantine keeps freed memory resident) and everything runs a few times slower.
#ifdef PREFORKD_SANITIZED_BUILD
inline constexpr bool kSanitizedBuild = true;
#else
inline constexpr bool kSanitizedBuild = false;
#endif

// ------------------------------------------------------------------ /proc measurements

// VmRSS of `pid` in KiB, or -1 if the process is gone.
long rssKiB(pid_t pid);
// utime + stime of `pid` in clock ticks (sysconf(_SC_CLK_TCK) per second), or -1.
long cpuTicks(pid_t pid);
// Children of `pid` that are zombies (exited, not reaped yet).
std::vector<pid_t> zombieChildren(pid_t pid);

// One open descriptor, identified by what it refers to (device and inode of the open file;
// sockets, pipes and files all have one).
struct FdIdentity {
  int fd = -1;
  std::string target;  // readlink, e.g. "socket:[1234]"
  dev_t dev = 0;
  ino_t ino = 0;
};
// Every descriptor of `pid` (empty if the process is gone).
std::vector<FdIdentity> fdIdentities(pid_t pid);

// Checks that no descriptor of `supervisor` other than its stdio (0-2) is open in any of
// `workers`, that no two workers share a descriptor (stdio again excepted), and that no worker
// holds an anonymous inode (epoll, eventfd, timerfd, signalfd: every one of them shares a
// single inode, so they cannot be told apart and must not be there at all). Processes that are
// gone are skipped. The failure names each shared descriptor, its number on both sides and
// what it is.
testing::AssertionResult workersShareNoDescriptor(pid_t supervisor, const std::vector<pid_t>& workers);

// ------------------------------------------------------------------ the fixture

class ReliabilityTest : public testing::Test {
 protected:
  // Starts preforkd with `args`, waits for ready and a full idle pool of `pool` workers, and
  // takes the baseline.
  testing::AssertionResult launch(std::vector<std::string> args, std::size_t pool,
                                  LaunchOptions options = {});
  // Starts preforkd and returns at once: no waiting, no baseline.
  PreforkdProcess& launchUnready(std::vector<std::string> args, LaunchOptions options = {});
  PreforkdProcess& sup() { return *process_; }

  // Waits for a full idle pool of `pool` workers, then records the baseline. Returns whether
  // the pool filled.
  testing::AssertionResult takeBaseline(std::size_t pool);
  // The audit's subject from now on is `pid` (a hot upgrade's successor): re-baselined with
  // a full pool of `pool`.
  testing::AssertionResult followSupervisor(pid_t pid, std::size_t pool);
  pid_t supervisorPid() const;

  // A `critical` or `error` log line matching `pattern` (ECMAScript, searched in the line) is
  // expected in this test and does not fail it.
  void expectLogLine(const std::string& pattern);
  // The log goes to this file (--log-file; call before launch()): launch() waits for the
  // ready line there, and TearDown scans it.
  void useLogFile(const std::string& path) { log_file_ = path; }
  // The first listening port (with a log file, from `show info`: stderr says nothing).
  int port() const { return port_; }
  // Skips the /proc comparisons against the baseline at the end (the pool ends up in a
  // different shape on purpose); zombies, shared descriptors and the log are still checked.
  void skipBaselineAudit() { baseline_.reset(); }
  // Skips the shared-descriptor check at the end: a connection is still being handed off
  // then (a worker that never says Taken), so the supervisor and that worker both hold it.
  void skipSharingAudit() { sharing_audit_ = false; }

  // A fresh temporary directory that lives as long as the fixture (the supervisor may keep a
  // log file or its control socket there until TearDown).
  std::string newScratchDir();

  // Prints "[figures] SCENARIO: k1=v1 k2=v2 ..." and records each value as a test property.
  void figures(const std::string& scenario,
               const std::vector<std::pair<std::string, std::string>>& values);

  void TearDown() override;

  struct Baseline {
    std::size_t pool = 0;
    std::size_t supervisor_fds = 0;
    std::size_t worker_fds = 0;  // the most any idle worker held
    long rss_kib = 0;
  };
  const std::optional<Baseline>& baseline() const { return baseline_; }

 private:
  void auditProcesses();
  void stopSupervisor();
  void scanLog();

  std::vector<std::unique_ptr<TempDir>> scratch_;  // destroyed after process_
  std::unique_ptr<PreforkdProcess> process_;
  pid_t followed_ = -1;  // a hot upgrade's successor, or -1: the launched process
  std::optional<Baseline> baseline_;
  std::vector<std::pair<std::string, std::regex>> expected_lines_;
  std::string log_file_;
  int port_ = -1;
  bool sharing_audit_ = true;
};

// Every critical/error line of `log` not matched by one of `expected`.
std::vector<std::string> unexpectedLogLines(const std::string& log,
                                            const std::vector<std::regex>& expected);

}  // namespace e2e
