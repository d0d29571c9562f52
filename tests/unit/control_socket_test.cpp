// The control socket on a real event loop and real Unix sockets: framing, ';' commands,
// asynchronous answers in order, prompt mode, bounds, mode and group of the socket file.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>

#include "common/unique_fd.h"
#include "supervisor/control_socket.h"

namespace preforkd {
namespace {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

TEST(ControlSocketFraming, FrameResponse) {
  struct Case {
    std::string_view body;
    std::string framed;
  };
  for (const Case& c : {Case{"a\n", "a\n\n"}, Case{"a", "a\n\n"}, Case{"a\n\nb\n", "a\nb\n\n"},
                        Case{"", "\n"}, Case{"\n\n\n", "\n"}, Case{"x\ny", "x\ny\n\n"}}) {
    EXPECT_EQ(ControlSocket::frameResponse(c.body), c.framed) << "'" << c.body << "'";
  }
}

class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // libevent writes with writev(): like the supervisor, ignore SIGPIPE so a vanished client
    // is an EPIPE, not the end of the process.
    std::signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/preforkd-ctl-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/c.sock";
    base_.reset(event_base_new());
    ASSERT_TRUE(base_);
  }
  void TearDown() override {
    socket_.reset();
    base_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start(ControlSettings settings = {}) {
    socket_ = std::make_unique<ControlSocket>(
        base_.get(), path_, settings,
        [this](std::string_view cmd, const ControlPeer& peer, ControlSocket::Reply reply) {
          last_peer_ = peer;
          if (handler_) {
            handler_(std::string(cmd), std::move(reply));
          } else {
            reply("got " + std::string(cmd) + "\n");
          }
        });
  }

  UniqueFd connectClient() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
        << std::strerror(errno);
    return fd;
  }

  static void sendAll(int fd, std::string_view s) {
    ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
  }

  // Runs the loop and reads `fd` until `done(received, eof)` holds or `timeout` passes.
  struct Received {
    std::string data;
    bool eof = false;
  };
  Received pump(int fd, const std::function<bool(const Received&)>& done, Ms timeout = 2s) {
    Received r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      event_base_loop(base_.get(), EVLOOP_NONBLOCK);
      if (fd >= 0 && !r.eof) {
        char buf[65536];
        for (;;) {
          const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
          if (n > 0) {
            r.data.append(buf, static_cast<std::size_t>(n));
            continue;
          }
          if (n == 0) r.eof = true;
          break;
        }
      }
      if (done(r)) return r;
      // Wait for either side to have something to do (bounded, no fixed sleep).
      pollfd p[1] = {{fd, POLLIN, 0}};
      ::poll(p, fd >= 0 ? 1 : 0, 5);
    }
    return r;
  }
  Received until(int fd, std::string_view text, Ms timeout = 2s) {
    return pump(fd, [&](const Received& r) { return r.data.find(text) != std::string::npos; },
                timeout);
  }
  Received untilEof(int fd, Ms timeout = 2s) {
    return pump(fd, [](const Received& r) { return r.eof; }, timeout);
  }

  std::string dir_, path_;
  EventBasePtr base_;
  std::unique_ptr<ControlSocket> socket_;
  std::function<void(const std::string&, ControlSocket::Reply)> handler_;
  ControlPeer last_peer_;
};

TEST_F(ControlSocketTest, SocketFileIs0600ByDefaultAndRemovedAtTheEnd) {
  start();
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  socket_.reset();
  EXPECT_NE(::lstat(path_.c_str(), &st), 0);
}

TEST_F(ControlSocketTest, ModeAndGroupAreApplied) {
  ControlSettings s;
  s.mode = 0660;
  s.group = std::to_string(::getegid());
  start(s);
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, ::getegid());
}

TEST_F(ControlSocketTest, UnknownGroupIsAStartupErrorAndLeavesNoFile) {
  ControlSettings s;
  s.admin_group = "no-such-group-preforkd";
  EXPECT_THROW(start(s), std::runtime_error);
  s.admin_group.clear();
  s.group = "no-such-group-preforkd";
  EXPECT_THROW(start(s), std::runtime_error);
  struct stat st {};
  EXPECT_NE(::lstat(path_.c_str(), &st), 0);
}

TEST_F(ControlSocketTest, SemicolonCommandsAreAnsweredInOrderAndThePeerIsKnown) {
  start();
  UniqueFd c = connectClient();
  sendAll(c.get(), "a;b ; c\r\nd\n");
  const auto r = until(c.get(), "got d\n\n");
  EXPECT_EQ(r.data, "got a\n\ngot b\n\ngot c\n\ngot d\n\n");
  EXPECT_EQ(last_peer_.pid, ::getpid());
  EXPECT_EQ(last_peer_.uid, ::geteuid());
  EXPECT_EQ(last_peer_.level, AccessLevel::Admin);  // the daemon's own user
}

TEST_F(ControlSocketTest, HandlerBodiesAreFramed) {
  handler_ = [](const std::string&, ControlSocket::Reply reply) { reply("one\n\ntwo"); };
  start();
  UniqueFd c = connectClient();
  sendAll(c.get(), "x\n");
  EXPECT_EQ(until(c.get(), "\n\n").data, "one\ntwo\n\n");
}

TEST_F(ControlSocketTest, AnAsynchronousAnswerKeepsTheOrder) {
  std::optional<ControlSocket::Reply> pending;
  handler_ = [&](const std::string& cmd, ControlSocket::Reply reply) {
    if (cmd.starts_with("slow")) {
      pending = std::move(reply);
    } else {
      reply("got " + cmd + "\n");
    }
  };
  start();
  UniqueFd c = connectClient();
  sendAll(c.get(), "slow\nfast\n");
  const auto before = pump(c.get(), [&](const Received& r) { return !r.data.empty(); }, 200ms);
  EXPECT_EQ(before.data, "") << "'fast' was answered before 'slow'";
  ASSERT_TRUE(pending);
  (*pending)("slow done\n");
  (*pending)("a second answer is ignored\n");
  EXPECT_EQ(until(c.get(), "got fast\n\n").data, "slow done\n\ngot fast\n\n");
}

TEST_F(ControlSocketTest, AnAnswerForAClientThatLeftIsDropped) {
  std::optional<ControlSocket::Reply> pending;
  handler_ = [&](const std::string&, ControlSocket::Reply reply) { pending = std::move(reply); };
  start();
  {
    UniqueFd c = connectClient();
    sendAll(c.get(), "slow\n");
    pump(c.get(), [&](const Received&) { return pending.has_value(); });
    ASSERT_TRUE(pending);
  }
  // The client is gone; the socket notices when the answer is written (or at once).
  (*pending)("late\n");
  pump(-1, [&](const Received&) { return socket_->clients() == 0; });
  EXPECT_EQ(socket_->clients(), 0u);
  // Still serving others.
  handler_ = nullptr;
  UniqueFd d = connectClient();
  sendAll(d.get(), "hi\n");
  EXPECT_EQ(until(d.get(), "\n\n").data, "got hi\n\n");
}

TEST_F(ControlSocketTest, AnUnansweredCommandStillGetsAnError) {
  handler_ = [](const std::string&, ControlSocket::Reply) {};  // forgets to answer
  start();
  UniqueFd c = connectClient();
  sendAll(c.get(), "x\n");
  const auto r = until(c.get(), "\n\n");
  EXPECT_EQ(r.data.rfind("ERROR internal error", 0), 0u) << r.data;
}

TEST_F(ControlSocketTest, PromptModeAndQuit) {
  start();
  UniqueFd c = connectClient();
  sendAll(c.get(), "prompt\nhelp\n");
  const auto r = until(c.get(), "got help\n\n> ");
  EXPECT_EQ(r.data,
            "interactive mode: 'prompt' again to leave it, 'quit' to close\n\n> got help\n\n> ");
  sendAll(c.get(), "prompt\nhelp\nquit\nhelp\n");
  const auto after = untilEof(c.get());
  EXPECT_TRUE(after.eof);
  EXPECT_EQ(after.data, "interactive mode off\n\ngot help\n\n");
}

TEST_F(ControlSocketTest, HalfCloseAnswersAnUnterminatedLastLine) {
  start();
  UniqueFd c = connectClient();
  sendAll(c.get(), "first\nlast\r");
  ::shutdown(c.get(), SHUT_WR);
  const auto r = untilEof(c.get());
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(r.data, "got first\n\ngot last\n\n");
}

TEST_F(ControlSocketTest, TooLongLinesAreRefusedAndClosed) {
  ControlSettings s;
  s.max_command_bytes = 16;
  start(s);
  {
    UniqueFd c = connectClient();
    sendAll(c.get(), std::string(40, 'x'));  // no newline ever comes
    const auto r = untilEof(c.get());
    EXPECT_TRUE(r.eof);
    EXPECT_EQ(r.data, "ERROR command longer than 16 bytes\n\n");
  }
  {
    UniqueFd c = connectClient();
    sendAll(c.get(), "ok\n" + std::string(17, 'y') + "\nnever\n");
    const auto r = untilEof(c.get());
    EXPECT_EQ(r.data, "got ok\n\nERROR command longer than 16 bytes\n\n");
  }
  {
    UniqueFd c = connectClient();
    sendAll(c.get(), std::string(16, 'z') + "\r\n");  // exactly the limit
    EXPECT_EQ(until(c.get(), "\n\n").data, "got " + std::string(16, 'z') + "\n\n");
  }
}

TEST_F(ControlSocketTest, TooManyClients) {
  ControlSettings s;
  s.max_clients = 2;
  start(s);
  UniqueFd a = connectClient(), b = connectClient();
  sendAll(a.get(), "a\n");
  sendAll(b.get(), "b\n");
  until(a.get(), "\n\n");
  until(b.get(), "\n\n");
  UniqueFd c = connectClient();
  const auto r = untilEof(c.get());
  EXPECT_EQ(r.data, "ERROR too many control clients\n\n");
  EXPECT_TRUE(r.eof);
}

TEST_F(ControlSocketTest, IdleClientsAreClosed) {
  ControlSettings s;
  s.idle_timeout = 100ms;
  start(s);
  UniqueFd c = connectClient();
  const auto r = untilEof(c.get(), 3s);
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(socket_->clients(), 0u);
}

TEST_F(ControlSocketTest, AClientThatNeverReadsIsBoundedAndClosed) {
  ControlSettings s;
  s.idle_timeout = 300ms;
  handler_ = [](const std::string& cmd, ControlSocket::Reply reply) {
    reply(cmd.starts_with("big") ? std::string(64 * 1024, 'x') + "\n" : "small\n");
  };
  start(s);
  UniqueFd greedy = connectClient();
  // Far more than the pending-output bound plus the kernel's buffers.
  std::string many;
  for (int i = 0; i < 200; ++i) many += "big\n";
  ASSERT_EQ(::send(greedy.get(), many.data(), many.size(), MSG_NOSIGNAL | MSG_DONTWAIT),
            static_cast<ssize_t>(many.size()));
  // Others are still answered while it does not read.
  UniqueFd other = connectClient();
  sendAll(other.get(), "small\n");
  EXPECT_EQ(until(other.get(), "\n\n").data, "small\n\n");
  EXPECT_EQ(socket_->clients(), 2u);
  // The greedy client makes no progress: it is closed after the idle time (and so is the
  // other one, idle too by then).
  pump(-1, [&](const Received&) { return socket_->clients() == 0; }, 3s);
  EXPECT_EQ(socket_->clients(), 0u);
  // Only a bounded part of the 200 answers (12.8 MB) was ever produced for it.
  std::size_t received = 0;
  char buf[65536];
  for (ssize_t n; (n = ::recv(greedy.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0;) {
    received += static_cast<std::size_t>(n);
  }
  EXPECT_GT(received, 0u);
  EXPECT_LT(received, 2u * 1024 * 1024);
}

}  // namespace
}  // namespace preforkd
