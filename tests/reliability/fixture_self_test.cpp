// The fixture's own checks can fail: the log scan flags undeclared critical/error lines and any
// sanitizer output, and the descriptor comparison sees a descriptor a child inherited.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/reliability/reliability_fixture.h"

namespace e2e {
namespace {

TEST(LogScan, UndeclaredErrorsAndCriticalsAreFlagged) {
  struct Case {
    std::string line;
    bool flagged;
  };
  const std::vector<Case> cases = {
      {"2026-11-24 10:00:00.000 [supervisor 1] info: ready: 4 workers serving 127.0.0.1:1", false},
      {"2026-11-24 10:00:00.000 [supervisor 1] warning: worker 7 killed by signal 9 (Killed)", false},
      {"2026-11-24 10:00:00.000 [supervisor 1] error: accept: Too many open files; pausing accepts", false},
      {"2026-11-24 10:00:00.000 [supervisor 1] error: waitpid: No child processes", true},
      {"2026-11-24 10:00:00.000 [worker 7] critical: worker failed: boom", true},
      {"2026-11-24 10:00:00.000 [test-worker 9] error: bad record from the supervisor (garbage)", true},
      {"2026-11-24 10:00:00.000 [supervisor 1] info: an error: in the text is not a level", false},
  };
  const std::vector<std::regex> expected = {std::regex("accept: Too many open files")};
  for (const Case& c : cases) {
    const auto bad = unexpectedLogLines(c.line + "\n", expected);
    EXPECT_EQ(bad.size(), c.flagged ? 1u : 0u) << c.line;
  }
}

TEST(LogScan, SanitizerOutputIsRecognised) {
  struct Case {
    std::string line;
    bool sanitizer;
  };
  const std::vector<Case> cases = {
      {"==12==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602", true},
      {"==12==ERROR: LeakSanitizer: detected memory leaks", true},
      {"worker/telnet.cpp:42:7: runtime error: signed integer overflow", true},
      {"SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior worker/telnet.cpp:42:7", true},
      {"ERROR: Can't open file: /tmp/preforkd-e2e-x/sanitizer.12 (reason: 13)", true},
      {"2026-11-24 10:00:00.000 [supervisor 1] error: accept: Too many open files", false},
      {"2026-11-24 10:00:00.000 [worker 7] info: echo session 3 ended: client-quit", false},
  };
  for (const Case& c : cases) EXPECT_EQ(sanitizerLines(c.line + "\n").size(), c.sanitizer ? 1u : 0u) << c.line;
}

TEST(DescriptorAudit, AnInheritedDescriptorIsFound) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);  // no CLOEXEC: the child keeps it
  preforkd::UniqueFd a(pair[0]), b(pair[1]);
  int gate[2];
  ASSERT_EQ(::pipe2(gate, O_CLOEXEC), 0);
  preforkd::UniqueFd gate_r(gate[0]), gate_w(gate[1]);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char byte;
    gate_w.reset();  // only async-signal-safe calls here: the test process has threads
    [[maybe_unused]] auto n = ::read(gate_r.get(), &byte, 1);  // until the parent closes its end
    ::_exit(0);
  }
  const auto result = workersShareNoDescriptor(::getpid(), {child});
  gate_w.reset();
  ::waitpid(child, nullptr, 0);
  ASSERT_FALSE(result);
  const std::string why = result.message();
  EXPECT_NE(why.find("is the supervisor's fd " + std::to_string(a.get())), std::string::npos) << why;
  EXPECT_NE(why.find("is the supervisor's fd " + std::to_string(b.get())), std::string::npos) << why;
}

TEST(DescriptorAudit, WorkersSharingADescriptorAreFound) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  int gate[2];
  ASSERT_EQ(::pipe2(gate, O_CLOEXEC), 0);
  preforkd::UniqueFd gate_r(gate[0]), gate_w(gate[1]);
  std::vector<pid_t> children;
  for (int i = 0; i < 2; ++i) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      char byte;
      ::close(gate[1]);
      [[maybe_unused]] auto n = ::read(gate[0], &byte, 1);
      ::_exit(0);
    }
    children.push_back(child);
  }
  // The "supervisor" no longer holds the pair: only the two children share it.
  ::close(pair[0]);
  ::close(pair[1]);
  const auto result = workersShareNoDescriptor(::getpid(), children);
  gate_w.reset();
  for (pid_t c : children) ::waitpid(c, nullptr, 0);
  ASSERT_FALSE(result);
  EXPECT_NE(std::string(result.message()).find("is worker " + std::to_string(children[0])), std::string::npos)
      << result.message();
}

}  // namespace
}  // namespace e2e
