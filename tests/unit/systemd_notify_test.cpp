// sd_notify by hand, against a real AF_UNIX datagram socket (a path and an abstract name),
// and the ServiceNotifier's watchdog and status timers on a real libevent loop.
#include "supervisor/systemd_notify.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "supervisor/service_notifier.h"

namespace preforkd {
namespace {

using namespace std::chrono_literals;

// The receiving end systemd would hold.
class FakeNotifySocket {
 public:
  // `abstract`: an abstract name instead of a file.
  explicit FakeNotifySocket(bool abstract) {
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socklen_t len;
    if (abstract) {
      name_ = "@preforkd-notify-test-" + std::to_string(::getpid());
      std::memcpy(addr.sun_path + 1, name_.data() + 1, name_.size() - 1);
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    } else {
      char tmpl[] = "/tmp/preforkd-notify-test-XXXXXX";
      dir_ = ::mkdtemp(tmpl);
      name_ = dir_ + "/notify";
      std::memcpy(addr.sun_path, name_.c_str(), name_.size() + 1);
      len = sizeof addr;
    }
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
      ADD_FAILURE() << "bind " << name_ << ": " << std::strerror(errno);
    }
  }
  ~FakeNotifySocket() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  FakeNotifySocket(const FakeNotifySocket&) = delete;
  FakeNotifySocket& operator=(const FakeNotifySocket&) = delete;

  const std::string& name() const { return name_; }

  // The next datagram, or nothing within `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout = 1s) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  UniqueFd fd_;
  std::string dir_, name_;
};

TEST(SystemdNotify, MessagesArriveAsDatagrams) {
  for (bool abstract : {false, true}) {
    SCOPED_TRACE(abstract ? "abstract" : "path");
    FakeNotifySocket systemd(abstract);
    SystemdNotifier n(systemd.name());
    ASSERT_TRUE(n.enabled()) << n.error();
    EXPECT_EQ(n.ready(), 0);
    EXPECT_EQ(systemd.receive(), "READY=1");
    EXPECT_EQ(n.ready("4 idle"), 0);
    EXPECT_EQ(systemd.receive(), "READY=1\nSTATUS=4 idle");
    EXPECT_EQ(n.status("two\nlines"), 0);
    EXPECT_EQ(systemd.receive(), "STATUS=two lines");  // a newline would start another field
    const std::uint64_t before = monotonicMicroseconds();
    EXPECT_EQ(n.reloading(), 0);
    const auto reloading = systemd.receive();
    ASSERT_TRUE(reloading);
    ASSERT_TRUE(reloading->starts_with("RELOADING=1\nMONOTONIC_USEC=")) << *reloading;
    const std::uint64_t usec = std::stoull(reloading->substr(reloading->find('=', 12) + 1));
    EXPECT_GE(usec, before);
    EXPECT_LE(usec, monotonicMicroseconds());
    EXPECT_EQ(n.stopping(), 0);
    EXPECT_EQ(systemd.receive(), "STOPPING=1");
    EXPECT_EQ(n.mainPid(1234), 0);
    EXPECT_EQ(systemd.receive(), "MAINPID=1234");
    EXPECT_EQ(n.ping(), 0);
    EXPECT_EQ(systemd.receive(), "WATCHDOG=1");
    EXPECT_EQ(systemd.receive(50ms), std::nullopt) << "one datagram per message";
  }
}

TEST(SystemdNotify, DisabledOrUnreachable) {
  SystemdNotifier none;
  EXPECT_FALSE(none.enabled());
  EXPECT_EQ(none.ready(), 0) << "without NOTIFY_SOCKET every call is a successful no-op";
  for (const char* bad : {"relative/path", "x"}) {
    SystemdNotifier n(bad);
    EXPECT_FALSE(n.enabled());
    EXPECT_NE(n.error().find("neither an absolute path nor @abstract"), std::string::npos);
  }
  SystemdNotifier too_long(std::string("/") + std::string(200, 'a'));
  EXPECT_FALSE(too_long.enabled());
  // Nobody listens: an error number, no signal, no block.
  SystemdNotifier gone("/nonexistent/notify");
  ASSERT_TRUE(gone.enabled());
  EXPECT_EQ(gone.ready(), ENOENT);
}

TEST(SystemdNotify, NeverBlocksWhenTheReceiverIsFull) {
  FakeNotifySocket systemd(false);
  SystemdNotifier n(systemd.name());
  int err = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100'000 && err == 0; ++i) err = n.status(std::string(1000, 'x'));
  EXPECT_EQ(err, EAGAIN) << "the receive queue never filled up?";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(SystemdNotify, FromEnvironment) {
  FakeNotifySocket systemd(false);
  ::setenv("NOTIFY_SOCKET", systemd.name().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "400000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  SystemdNotifier n = SystemdNotifier::fromEnvironment();
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
  ASSERT_TRUE(n.enabled());
  EXPECT_EQ(n.watchdogTimeout(), 400ms);
  EXPECT_EQ(n.watchdogPingInterval(), 200ms);
  EXPECT_EQ(n.ready(), 0);
  EXPECT_EQ(systemd.receive(), "READY=1");
  EXPECT_FALSE(SystemdNotifier::fromEnvironment().enabled());
}

TEST(SystemdNotify, ParseWatchdog) {
  const pid_t self = 77;
  struct Case {
    const char* usec;
    const char* pid;
    std::optional<std::chrono::microseconds> expected;
  };
  const Case cases[] = {
      {"400000", nullptr, 400ms},   {"400000", "77", 400ms}, {"400000", "78", std::nullopt},
      {"400000", "x", std::nullopt}, {nullptr, nullptr, std::nullopt}, {"0", nullptr, std::nullopt},
      {"-5", nullptr, std::nullopt}, {"12abc", nullptr, std::nullopt}, {"", nullptr, std::nullopt},
      {"1", "77", std::chrono::microseconds(1)},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(parseWatchdog(c.usec, c.pid, self), c.expected)
        << (c.usec ? c.usec : "null") << " " << (c.pid ? c.pid : "null");
  }
}

// Runs `base` for `duration` (a libevent timer ends it: no sleeping).
void runLoopFor(event_base* base, std::chrono::milliseconds duration) {
  const timeval tv = toTimeval(duration);
  event_base_loopexit(base, &tv);
  event_base_dispatch(base);
}

TEST(ServiceNotifier, PingsAtHalfTheWatchdogAndReportsStatus) {
  FakeNotifySocket systemd(false);
  EventBasePtr base(event_base_new());
  std::size_t served = 0;
  ServiceNotifier notifier(base.get(), SystemdNotifier(systemd.name(), 100ms),
                           [&served] { return formatNotifyStatus(1, 2, 3, served); });
  // The first ping goes out at once.
  EXPECT_EQ(systemd.receive(), "WATCHDOG=1");
  runLoopFor(base.get(), 500ms);
  int pings = 0;
  while (auto m = systemd.receive(0ms)) {
    EXPECT_EQ(*m, "WATCHDOG=1");
    ++pings;
  }
  // Every 50 ms for 500 ms: about 10 (the loop's timing is not exact on a busy machine).
  EXPECT_GE(pings, 6);
  EXPECT_LE(pings, 11);

  notifier.ready();
  EXPECT_EQ(systemd.receive(), "READY=1\nSTATUS=1 idle, 2 busy, 3 queued, 0 served");
  served = 5;
  notifier.stopping();
  EXPECT_EQ(systemd.receive(), "STOPPING=1\nSTATUS=stopping: 1 idle, 2 busy, 3 queued, 5 served");
}

TEST(ServiceNotifier, StatusEveryIntervalWhenItChanged) {
  FakeNotifySocket systemd(false);
  EventBasePtr base(event_base_new());
  std::uint64_t served = 0;
  ServiceNotifier notifier(base.get(), SystemdNotifier(systemd.name()),
                           [&served] { return formatNotifyStatus(4, 0, 0, served); }, 100ms);
  notifier.ready();
  EXPECT_EQ(systemd.receive(), "READY=1\nSTATUS=4 idle, 0 busy, 0 queued, 0 served");
  served = 12;
  runLoopFor(base.get(), 150ms);
  EXPECT_EQ(systemd.receive(0ms), "STATUS=4 idle, 0 busy, 0 queued, 12 served");
  runLoopFor(base.get(), 250ms);
  EXPECT_EQ(systemd.receive(0ms), std::nullopt) << "unchanged: not sent again";
}

TEST(ServiceNotifier, WithoutNotifySocketNothingHappens) {
  EventBasePtr base(event_base_new());
  ServiceNotifier notifier(base.get(), SystemdNotifier(), [] { return std::string("x"); });
  notifier.ready();
  notifier.reloading();
  notifier.stopping();
  EXPECT_EQ(event_base_get_num_events(base.get(), EVENT_BASE_COUNT_ADDED), 0);
}

}  // namespace
}  // namespace preforkd
