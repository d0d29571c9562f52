// takeInheritedListeners (the sd_listen_fds protocol) and the upgrade channel, on real
// sockets. Each case runs in a forked child, because the protocol fixes fd numbers (3, 4...)
// and the pid, and the child reports with its exit status.
#include "supervisor/inherited_listeners.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "common/fd_passing.h"
#include "supervisor/upgrade.h"

namespace preforkd {
namespace {

int listeningSocket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0) std::abort();
  return fd;
}

// Runs `body` in a child whose fds 3.. hold `fds` (in order); returns its exit status or -1.
int inChild(const std::function<int()>& make_fds_and_run) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(make_fds_and_run());
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Places `fd` at `target` (and nothing else changes).
void placeAt(int fd, int target) {
  if (fd != target && ::dup2(fd, target) < 0) std::abort();
}

void setEnv(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

TEST(InheritedListeners, NothingWithoutTheVariables) {
  EXPECT_EQ(inChild([] {
              ::unsetenv("LISTEN_PID");
              ::unsetenv("LISTEN_FDS");
              return takeInheritedListeners().empty() ? 0 : 1;
            }),
            0);
}

TEST(InheritedListeners, AnotherProcessesVariablesAreIgnoredAndCleared) {
  EXPECT_EQ(inChild([] {
              setEnv("LISTEN_PID", std::to_string(::getppid()));
              setEnv("LISTEN_FDS", "1");
              if (!takeInheritedListeners().empty()) return 1;
              return std::getenv("LISTEN_FDS") == nullptr && std::getenv("LISTEN_PID") == nullptr ? 0 : 2;
            }),
            0);
}

TEST(InheritedListeners, TakesTwoListenersWithNames) {
  EXPECT_EQ(inChild([] {
              const int a = listeningSocket(), b = listeningSocket();
              const int a_high = ::fcntl(a, F_DUPFD, 50), b_high = ::fcntl(b, F_DUPFD, 50);
              placeAt(a_high, 3);
              placeAt(b_high, 4);
              setEnv("LISTEN_PID", std::to_string(::getpid()));
              setEnv("LISTEN_FDS", "2");
              setEnv("LISTEN_FDNAMES", "web:admin");
              auto got = takeInheritedListeners();
              if (got.size() != 2) return 1;
              if (got[0].name != "web" || got[1].name != "admin") return 2;
              if (got[0].listener.fd.get() != 3 || got[1].listener.fd.get() != 4) return 3;
              if (got[0].listener.address.rfind("127.0.0.1:", 0) != 0) return 4;
              if ((::fcntl(3, F_GETFD) & FD_CLOEXEC) == 0) return 5;
              if ((::fcntl(3, F_GETFL) & O_NONBLOCK) == 0) return 6;
              if (std::getenv("LISTEN_FDNAMES") != nullptr) return 7;
              return 0;
            }),
            0);
}

TEST(InheritedListeners, RejectsASocketThatIsNotListening) {
  EXPECT_EQ(inChild([] {
              const int s = ::socket(AF_INET, SOCK_STREAM, 0);
              placeAt(::fcntl(s, F_DUPFD, 50), 3);
              setEnv("LISTEN_PID", std::to_string(::getpid()));
              setEnv("LISTEN_FDS", "1");
              try {
                takeInheritedListeners();
              } catch (const std::runtime_error& e) {
                return std::string(e.what()).find("not a listening TCP socket") != std::string::npos ? 0 : 2;
              }
              return 1;
            }),
            0);
}

TEST(UpgradeChannel, TakenOnlyWhenTheVariableNamesASeqpacketSocket) {
  EXPECT_EQ(inChild([] {
              ::unsetenv("PREFORKD_UPGRADE_FD");
              if (takeUpgradeChannel()) return 1;
              FdPair pair = makeChannelPair();
              setEnv("PREFORKD_UPGRADE_FD", std::to_string(pair.second.get()));
              UniqueFd ch = takeUpgradeChannel();
              if (!ch || ch.get() != pair.second.get()) return 2;
              [[maybe_unused]] int released = pair.second.release();  // now owned by `ch`
              if (std::getenv("PREFORKD_UPGRADE_FD") != nullptr) return 3;
              const int s = ::socket(AF_INET, SOCK_STREAM, 0);
              setEnv("PREFORKD_UPGRADE_FD", std::to_string(s));
              if (takeUpgradeChannel()) return 4;  // a TCP socket is not an upgrade channel
              return 0;
            }),
            0);
}

TEST(UpgradeChannel, FirstGenerationDefaultsToOne) {
  EXPECT_EQ(inChild([] {
              ::unsetenv("PREFORKD_FIRST_GENERATION");
              if (takeFirstGeneration() != 1) return 1;
              setEnv("PREFORKD_FIRST_GENERATION", "7");
              if (takeFirstGeneration() != 7) return 2;
              setEnv("PREFORKD_FIRST_GENERATION", "x");
              return takeFirstGeneration() == 1 ? 0 : 3;
            }),
            0);
}

}  // namespace
}  // namespace preforkd
