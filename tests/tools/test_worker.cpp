// preforkd-test-worker: a worker that misbehaves on purpose, for supervisor robustness tests.
//
// Run by `preforkd ... --worker-exec preforkd-test-worker MODE [ARG]`; speaks the channel
// protocol (docs/protocol.md) on fd 3 with the same codec and syscalls as the real workers
// (common/status_protocol.h, common/fd_passing.h). MODE says how it behaves:
//
//   echo                          well: Ready; per connection Taken, echo until the client's EOF,
//                                 Available; Stop -> Quitting, exit 0
//   blocking-echo                 like echo, but a session is plain blocking recv()/send() on
//                                 the client alone, as a naive foreign worker would write it
//                                 (a read timeout it never set would end its session early)
//   exit-at-start CODE            exit(CODE) before Ready (78: "do not restart me")
//   crash-at-start                abort() before Ready
//   crash-on-connection           Ready, then abort() right after Taken on the first connection
//   crash-on-connection-every N   like echo, but abort() after Taken on every Nth connection
//   never-ready                   never says Ready; exits on channel EOF
//   never-taken                   Ready; keeps the first connection's fd, never says Taken
//   hang-in-session               Ready, Taken, then nothing (no read, no reply, no Available);
//                                 ignores SIGTERM, so only SIGKILL (or channel EOF) ends it
//   garbage-status                like echo, but first sends a garbage record, then Taken and
//                                 Available for a connection id it was never given
//   double-available              like echo, but says Available twice
//   ignore-term                   like echo, but ignores SIGTERM
//   ignore-stop                   like ignore-term, and a Stop that arrives during a session is
//                                 ignored too: the session goes on until the client leaves, so
//                                 only SIGKILL ends a busy one
//   asan-heap-overflow            sanitizer builds only: Ready, Taken, then a heap-buffer-overflow
//   ubsan-signed-overflow         sanitizer builds only: Ready, Taken, then a signed overflow
//                                 (these two prove that the test harness collects sanitizer
//                                 reports; without sanitizers they refuse to start, exit 64)
//
// It never spins: it blocks on the channel (and, in a session, on the client and the channel
// together; blocking-echo: on the client alone); client writes are bounded by SO_SNDTIMEO. In every mode it exits when its channel
// reaches EOF (the supervisor is gone), and PR_SET_PDEATHSIG SIGKILL is the second line, so a
// test never leaves one behind. Crashes leave no core file (RLIMIT_CORE 0). Logs go to stderr.
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/fd_passing.h"
#include "common/logging.h"
#include "common/status_protocol.h"
#include "common/unique_fd.h"

namespace preforkd {
namespace {

constexpr int kChannelFd = 3;     // docs/protocol.md
constexpr int kExitUsage = 64;    // bad command line
constexpr int kExitChannel = 3;   // the channel failed or carried garbage

enum class Mode {
  Echo,
  BlockingEcho,
  ExitAtStart,
  CrashAtStart,
  CrashOnConnection,
  CrashOnConnectionEvery,
  NeverReady,
  NeverTaken,
  HangInSession,
  GarbageStatus,
  DoubleAvailable,
  IgnoreTerm,
  IgnoreStop,
  AsanHeapOverflow,
  UbsanSignedOverflow,
};

struct ModeName {
  std::string_view name;
  Mode mode;
  bool needs_number;  // takes one decimal argument
};

constexpr std::array kModes = {
    ModeName{"echo", Mode::Echo, false},
    ModeName{"blocking-echo", Mode::BlockingEcho, false},
    ModeName{"exit-at-start", Mode::ExitAtStart, true},
    ModeName{"crash-at-start", Mode::CrashAtStart, false},
    ModeName{"crash-on-connection", Mode::CrashOnConnection, false},
    ModeName{"crash-on-connection-every", Mode::CrashOnConnectionEvery, true},
    ModeName{"never-ready", Mode::NeverReady, false},
    ModeName{"never-taken", Mode::NeverTaken, false},
    ModeName{"hang-in-session", Mode::HangInSession, false},
    ModeName{"garbage-status", Mode::GarbageStatus, false},
    ModeName{"double-available", Mode::DoubleAvailable, false},
    ModeName{"ignore-term", Mode::IgnoreTerm, false},
    ModeName{"ignore-stop", Mode::IgnoreStop, false},
    ModeName{"asan-heap-overflow", Mode::AsanHeapOverflow, false},
    ModeName{"ubsan-signed-overflow", Mode::UbsanSignedOverflow, false},
};

// Set by the compiler with -fsanitize=address; the build enables UBSan together with it.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizedBuild = true;
#else
constexpr bool kSanitizedBuild = false;
#endif

// The deliberate faults. Only ever called in a sanitized build, where the sanitizer stops the
// process with a report before anything is corrupted. volatile: the compiler must not see
// through them.
void heapBufferOverflow() {
  spdlog::warn("writing one byte past a heap buffer on purpose");
  volatile std::size_t size = 16;
  char* volatile buffer = new char[size];
  buffer[size] = 'x';  // one past the end
  delete[] buffer;
}

void signedOverflow() {
  spdlog::warn("overflowing a signed integer on purpose");
  volatile int big = INT_MAX;
  volatile int sum = big + 1;
  spdlog::warn("the sum is {}", static_cast<int>(sum));
}

struct Options {
  Mode mode = Mode::Echo;
  std::uint64_t number = 0;  // exit-at-start: the code; crash-on-connection-every: N
};

std::optional<Options> parseArgs(int argc, char** argv) {
  if (argc < 2) return std::nullopt;
  const std::string_view name = argv[1];
  for (const ModeName& m : kModes) {
    if (m.name != name) continue;
    Options opts{.mode = m.mode};
    if (!m.needs_number) return argc == 2 ? std::optional(opts) : std::nullopt;
    if (argc != 3) return std::nullopt;
    const std::string_view arg = argv[2];
    const auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), opts.number);
    if (ec != std::errc() || end != arg.data() + arg.size()) return std::nullopt;
    if (m.mode == Mode::ExitAtStart && opts.number > 255) return std::nullopt;
    if (m.mode == Mode::CrashOnConnectionEvery && opts.number == 0) return std::nullopt;
    return opts;
  }
  return std::nullopt;
}

[[noreturn]] void crash(std::string_view why) {
  spdlog::warn("crashing on purpose: {}", why);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  std::abort();
}

bool sendRecord(std::string_view record) {
  const int err = sendMessage(kChannelFd, std::as_bytes(std::span(record)));
  if (err != 0) spdlog::warn("cannot send to the supervisor (errno {})", err);
  return err == 0;
}

bool report(const ChildStatus& status) { return sendRecord(encodeStatus(status)); }

// Blocks until the channel reaches EOF (or fails), reading and ignoring whatever arrives (a fd
// that comes along is closed). For the modes that must not react to anything but SIGKILL.
[[noreturn]] void waitForChannelEof() {
  for (;;) {
    const ReceivedMessage msg = receiveMessage(kChannelFd);  // blocking: no spin
    if (msg.status == ReceiveStatus::PeerClosed) {
      spdlog::info("channel closed: exiting");
      std::exit(0);
    }
    if (msg.status == ReceiveStatus::Error) std::exit(kExitChannel);
    spdlog::info("ignoring a record from the supervisor");
  }
}

enum class SessionOutcome { Finished, Stop, SupervisorGone };
enum class StopInSession { Obey, Ignore };
enum class SessionWait { PollBoth, ClientOnly };

// Echoes what the client sends until its EOF. Watches the channel at the same time: a hang-up
// means the supervisor is gone, a Stop ends the session at once (unless told to ignore it).
SessionOutcome echoSession(int client, std::uint64_t& bytes_in, std::uint64_t& bytes_out,
                           StopInSession on_stop, SessionWait wait = SessionWait::PollBoth) {
  // Hand-offs arrive non-blocking; blocking reads (after poll) and bounded blocking writes
  // keep this loop simple.
  const int flags = ::fcntl(client, F_GETFL);
  if (flags >= 0) ::fcntl(client, F_SETFL, flags & ~O_NONBLOCK);
  const timeval send_timeout{5, 0};
  ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  std::array<char, 4096> buf;
  for (;;) {
    if (wait == SessionWait::ClientOnly) {
      const ssize_t got = ::recv(client, buf.data(), buf.size(), 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        if (got < 0) spdlog::warn("recv from the client: {}", std::strerror(errno));
        return SessionOutcome::Finished;
      }
      bytes_in += static_cast<std::uint64_t>(got);
      if (::send(client, buf.data(), static_cast<std::size_t>(got), MSG_NOSIGNAL) != got) {
        return SessionOutcome::Finished;
      }
      bytes_out += static_cast<std::uint64_t>(got);
      continue;
    }
    std::array<pollfd, 2> fds{{{client, POLLIN, 0}, {kChannelFd, POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return SessionOutcome::Finished;
    }
    if (fds[1].revents & (POLLHUP | POLLERR)) return SessionOutcome::SupervisorGone;
    if (fds[1].revents & POLLIN) {
      const ReceivedMessage msg = receiveMessage(kChannelFd);
      if (msg.status == ReceiveStatus::PeerClosed) return SessionOutcome::SupervisorGone;
      const auto cmd = decodeCommand(msg.payload);
      if (cmd && cmd->type == CommandType::Stop) {
        if (on_stop == StopInSession::Obey) return SessionOutcome::Stop;
        spdlog::warn("Stop while serving: ignored on purpose");
        continue;
      }
      spdlog::warn("unexpected record while serving: ignored");
      continue;
    }
    if (fds[0].revents == 0) continue;
    const ssize_t got = ::recv(client, buf.data(), buf.size(), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return SessionOutcome::Finished;  // EOF or reset
    bytes_in += static_cast<std::uint64_t>(got);
    if (::send(client, buf.data(), static_cast<std::size_t>(got), MSG_NOSIGNAL) != got) {
      return SessionOutcome::Finished;  // the client went away or stopped reading
    }
    bytes_out += static_cast<std::uint64_t>(got);
  }
}

class TestWorker {
 public:
  explicit TestWorker(Options opts) : opts_(opts) {}

  int run() {
    switch (opts_.mode) {
      case Mode::ExitAtStart:
        spdlog::info("exiting with {} before Ready", opts_.number);
        return static_cast<int>(opts_.number);
      case Mode::CrashAtStart: crash("before Ready");
      case Mode::NeverReady: waitForChannelEof();
      default: break;
    }
    if (!report({.type = StatusType::Ready})) return kExitChannel;
    for (;;) {
      ReceivedMessage msg = receiveMessage(kChannelFd);  // blocking: the supervisor wakes us
      if (msg.status == ReceiveStatus::PeerClosed) {
        spdlog::info("channel closed: exiting");
        return 0;
      }
      const auto cmd = msg.status == ReceiveStatus::Message ? decodeCommand(msg.payload)
                                                            : std::nullopt;
      if (!cmd) {
        spdlog::error("bad record from the supervisor ({})", toString(msg.status));
        return kExitChannel;
      }
      if (cmd->type == CommandType::Stop) return quit();
      if (!msg.fd) {
        spdlog::error("Connection {} without a descriptor", cmd->conn_id);
        return kExitChannel;
      }
      if (const std::optional<int> status = serve(cmd->conn_id, std::move(msg.fd))) {
        return *status;
      }
    }
  }

 private:
  // Serves one connection; returns an exit status when the worker should exit.
  std::optional<int> serve(ConnectionId id, UniqueFd client) {
    ++served_;
    spdlog::info("connection {} arrived ({} so far)", id, served_);
    if (opts_.mode == Mode::NeverTaken) {
      held_ = std::move(client);  // kept open, never answered
      waitForChannelEof();
    }
    if (opts_.mode == Mode::GarbageStatus) {
      sendRecord("Zgarbage");  // an unknown type byte
      const ConnectionId stranger = id ^ (ConnectionId{1} << 63);
      report({.type = StatusType::Taken, .conn_id = stranger});
      report({.type = StatusType::Available, .conn_id = stranger});
    }
    if (!report({.type = StatusType::Taken, .conn_id = id})) return kExitChannel;
    if (opts_.mode == Mode::CrashOnConnection) crash("after Taken");
    if (opts_.mode == Mode::CrashOnConnectionEvery && served_ % opts_.number == 0) {
      crash("after Taken, connection " + std::to_string(served_) + " of this process");
    }
    if (opts_.mode == Mode::HangInSession) {
      held_ = std::move(client);
      waitForChannelEof();
    }
    if (opts_.mode == Mode::AsanHeapOverflow) heapBufferOverflow();
    if (opts_.mode == Mode::UbsanSignedOverflow) signedOverflow();
    std::uint64_t in = 0, out = 0;
    const SessionOutcome outcome =
        echoSession(client.get(), in, out,
                    opts_.mode == Mode::IgnoreStop ? StopInSession::Ignore : StopInSession::Obey,
                    opts_.mode == Mode::BlockingEcho ? SessionWait::ClientOnly
                                                     : SessionWait::PollBoth);
    if (outcome == SessionOutcome::SupervisorGone) return 0;
    client.reset();  // the client sees EOF before we say Available
    const ChildStatus available{.type = StatusType::Available, .conn_id = id, .bytes_in = in,
                                .bytes_out = out};
    if (!report(available)) return kExitChannel;
    if (opts_.mode == Mode::DoubleAvailable) report(available);
    if (outcome == SessionOutcome::Stop) return quit();
    return std::nullopt;
  }

  int quit() {
    spdlog::info("stop requested: exiting");
    report({.type = StatusType::Quitting, .reason = QuitReason::Stopped});
    return 0;
  }

  Options opts_;
  std::uint64_t served_ = 0;
  UniqueFd held_;  // never-taken, hang-in-session: the client we keep and ignore
};

void usage() {
  std::string text = "usage: preforkd --worker-exec preforkd-test-worker MODE [ARG]; modes:";
  for (const ModeName& m : kModes) {
    text += std::string(" ") + std::string(m.name) + (m.needs_number ? " N" : "");
  }
  spdlog::error("{}", text);
}

}  // namespace
}  // namespace preforkd

int main(int argc, char** argv) {
  using namespace preforkd;
  setupLogging("test-worker", spdlog::level::debug);
  const auto opts = parseArgs(argc, argv);
  if (!opts) {
    usage();
    return kExitUsage;
  }
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(kChannelFd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET) {
    spdlog::critical("fd {} is not a preforkd channel: run me with `preforkd --worker-exec`",
                     kChannelFd);
    return kExitUsage;
  }
  // Die with the supervisor even in the modes that ignore SIGTERM and every record.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (const char* supervisor = std::getenv("PREFORKD_SUPERVISOR_PID");
      supervisor != nullptr && std::to_string(::getppid()) != supervisor) {
    return 0;  // the supervisor died before the line above took effect
  }
  if ((opts->mode == Mode::AsanHeapOverflow || opts->mode == Mode::UbsanSignedOverflow) &&
      !kSanitizedBuild) {
    spdlog::error("mode {} needs a sanitizer build (PREFORKD_SANITIZE=ON)", argv[1]);
    return kExitUsage;
  }
  if (opts->mode == Mode::HangInSession || opts->mode == Mode::IgnoreTerm ||
      opts->mode == Mode::IgnoreStop) {
    std::signal(SIGTERM, SIG_IGN);
  }
  spdlog::info("mode {}", argv[1]);
  return TestWorker(*opts).run();
}
