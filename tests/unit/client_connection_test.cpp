// ClientConnection's BlockingRead wait (common/client_read_wake.h) on real loopback TCP
// connections accepted from a preforkd listener: the read timeout is inherited from the
// listener, idle deadlines shorter and longer than the wake period hold, the wake signal and
// a hung-up channel end a blocked read, and a non-blocking fd does not make it spin.
#include "worker/client_connection.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include <gtest/gtest.h>

#include "common/client_read_wake.h"
#include "supervisor/listener.h"
#include "worker/wake_signal.h"

namespace preforkd {
namespace {

using namespace std::chrono;
using Clock = steady_clock;

// One accepted TCP connection (the worker's side), its client, and a channel socketpair.
struct Pair {
  UniqueFd served;   // what a worker would get
  UniqueFd client;   // the other end
  UniqueFd channel;  // the worker's end of the channel
  UniqueFd supervisor;

  static Pair make(milliseconds wake = kClientReadWake) {
    std::string error;
    const auto addr = parseHostPort("127.0.0.1:0", &error);
    EXPECT_TRUE(addr) << error;
    Listener l = openListener(*addr, 4);
    setClientReadWake(l, wake);
    const auto bound = parseHostPort(l.address, &error);
    Pair p;
    p.client.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::connect(p.client.get(), bound->get(), bound->length), 0);
    pollUntilReadable(l.fd.get());
    AcceptResult r = acceptOne(l.fd.get());
    EXPECT_EQ(r.outcome, AcceptOutcome::Accepted);
    p.served = std::move(r.fd);
    int ch[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch), 0);
    p.channel.reset(ch[0]);
    p.supervisor.reset(ch[1]);
    return p;
  }
  static void pollUntilReadable(int fd) {
    pollfd q{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&q, 1, 5000), 1);
  }
};

// Waits (bounded) until thread `tid` of this process sleeps in the kernel: blocked in recv().
bool waitUntilBlocked(pid_t tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  for (const auto until = Clock::now() + 5s; Clock::now() < until;) {
    std::ifstream f(path);
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'S') return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

milliseconds readTimeout(int fd) {
  timeval tv{};
  socklen_t len = sizeof tv;
  EXPECT_EQ(::getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len), 0);
  return duration_cast<milliseconds>(seconds(tv.tv_sec) + microseconds(tv.tv_usec));
}

class BlockingRead : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(installWakeSignal()); }
  void SetUp() override { (void)takeWake(); }
};

TEST(ClientReadWake, AcceptedSocketsInheritTheListenersReadTimeout) {
  EXPECT_EQ(readTimeout(Pair::make().served.get()), kClientReadWake);
  EXPECT_EQ(readTimeout(Pair::make(milliseconds(0)).served.get()), milliseconds(0))
      << "an exec'd worker's clients carry no timeout";
}

TEST_F(BlockingRead, ReadsDataThenTheClientsEof) {
  Pair p = Pair::make();
  ClientConnection c(std::move(p.served), p.channel.get(), ClientWait::BlockingRead);
  ASSERT_EQ(::send(p.client.get(), "hello\n", 6, 0), 6);
  std::string got;
  EXPECT_EQ(c.readSome(got, 5s), ReadStatus::Data);
  EXPECT_EQ(got, "hello\n");
  const pid_t reader_tid = ::gettid();
  auto later = std::async(std::launch::async, [&] {
    EXPECT_TRUE(waitUntilBlocked(reader_tid));
    ::shutdown(p.client.get(), SHUT_WR);
  });
  EXPECT_EQ(c.readSome(got, 5s), ReadStatus::Closed);
  later.get();
  EXPECT_EQ(c.bytesIn(), 6u);
}

TEST_F(BlockingRead, ReadsIntoASpanNoMoreThanItsSize) {
  // Both ways of waiting fill the caller's buffer (raw echo's path: no string, no copy), and
  // what does not fit stays for the next read.
  for (const ClientWait wait : {ClientWait::BlockingRead, ClientWait::Poll}) {
    Pair p = Pair::make();
    ClientConnection c(std::move(p.served), p.channel.get(), wait);
    ASSERT_EQ(::send(p.client.get(), "abcdefgh", 8, 0), 8);
    std::array<char, 5> buf{};
    std::size_t got = 0;
    ASSERT_EQ(c.readSome(buf, got, 5s), ReadStatus::Data);
    EXPECT_EQ(std::string_view(buf.data(), got), "abcde");
    ASSERT_EQ(c.readSome(buf, got, 5s), ReadStatus::Data);
    EXPECT_EQ(std::string_view(buf.data(), got), "fgh");
    EXPECT_EQ(c.bytesIn(), 8u);
    ::shutdown(p.client.get(), SHUT_WR);
    got = 99;
    EXPECT_EQ(c.readSome(buf, got, 5s), ReadStatus::Closed);
    EXPECT_EQ(got, 99u) << "only Data sets the count";
  }
}

TEST_F(BlockingRead, AnIdleDeadlineShorterThanThePeriodHolds) {
  Pair p = Pair::make();
  ClientConnection c(std::move(p.served), p.channel.get(), ClientWait::BlockingRead);
  std::string got;
  const auto t0 = Clock::now();
  EXPECT_EQ(c.readSome(got, 200ms), ReadStatus::IdleTimeout);
  const auto took = Clock::now() - t0;
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, kClientReadWake - 100ms) << "waited for the period, not the deadline";
  // The shortened timeout does not stick: a later long wait still gets its input.
  ASSERT_EQ(::send(p.client.get(), "x", 1, 0), 1);
  EXPECT_EQ(c.readSome(got, 5s), ReadStatus::Data);
}

TEST_F(BlockingRead, AnIdleDeadlineLongerThanThePeriodHolds) {
  Pair p = Pair::make();
  ClientConnection c(std::move(p.served), p.channel.get(), ClientWait::BlockingRead);
  std::string got;
  const auto t0 = Clock::now();
  EXPECT_EQ(c.readSome(got, kClientReadWake + 300ms), ReadStatus::IdleTimeout);
  const auto took = Clock::now() - t0;
  EXPECT_GE(took, kClientReadWake + 300ms);
  EXPECT_LT(took, kClientReadWake + 1500ms);
}

// One readSome() in a thread of its own, so the test can signal that thread while it waits.
struct ReaderThread {
  struct Outcome {
    ReadStatus status;
    std::string data;
  };
  explicit ReaderThread(ClientConnection& c) {
    auto ready = ids_.get_future();
    result = std::async(std::launch::async, [&c, this] {
      ids_.set_value({::pthread_self(), ::gettid()});
      Outcome o{};
      o.status = c.readSome(o.data, 10s);
      return o;
    });
    std::tie(thread, tid) = ready.get();
  }
  // Declared before `result`, whose destructor joins the thread: the promise outlives it.
  std::promise<std::pair<pthread_t, pid_t>> ids_;
  pthread_t thread{};
  pid_t tid = 0;
  std::future<Outcome> result;
};

TEST_F(BlockingRead, TheWakeSignalEndsABlockedReadWithTheCommand) {
  Pair p = Pair::make();
  ClientConnection c(std::move(p.served), p.channel.get(), ClientWait::BlockingRead);
  ReaderThread reader(c);
  ASSERT_TRUE(waitUntilBlocked(reader.tid));
  const auto signalled = Clock::now();
  ASSERT_EQ(::send(p.supervisor.get(), "S", 1, 0), 1);
  ASSERT_EQ(::pthread_kill(reader.thread, kWakeSignal), 0);
  ASSERT_EQ(reader.result.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(reader.result.get().status, ReadStatus::ChannelReadable);
  // Without the signal the answer would come at the end of the 1 s period.
  EXPECT_LT(Clock::now() - signalled, kClientReadWake / 2);
}

TEST_F(BlockingRead, ASignalWithoutACommandKeepsWaiting) {
  Pair p = Pair::make();
  ClientConnection c(std::move(p.served), p.channel.get(), ClientWait::BlockingRead);
  ReaderThread reader(c);
  ASSERT_TRUE(waitUntilBlocked(reader.tid));
  ASSERT_EQ(::pthread_kill(reader.thread, kWakeSignal), 0);  // e.g. a terminal resize
  ASSERT_TRUE(waitUntilBlocked(reader.tid)) << "back to waiting for the client";
  ASSERT_EQ(::send(p.client.get(), "after", 5, 0), 5);
  ASSERT_EQ(reader.result.wait_for(5s), std::future_status::ready);
  const ReaderThread::Outcome o = reader.result.get();
  EXPECT_EQ(o.status, ReadStatus::Data);
  EXPECT_EQ(o.data, "after");
}

TEST_F(BlockingRead, AHungUpChannelIsSeenWithinThePeriod) {
  Pair p = Pair::make();
  ClientConnection c(std::move(p.served), p.channel.get(), ClientWait::BlockingRead);
  p.supervisor.reset();
  std::string got;
  const auto t0 = Clock::now();
  EXPECT_EQ(c.readSome(got, 10s), ReadStatus::SupervisorGone);
  EXPECT_LT(Clock::now() - t0, kClientReadWake + 1000ms);
}

TEST_F(BlockingRead, ANonBlockingFdFallsBackToPollInsteadOfSpinning) {
  Pair p = Pair::make();
  const int fd = p.served.get();
  ASSERT_EQ(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
  ClientConnection c(std::move(p.served), p.channel.get(), ClientWait::BlockingRead);
  timespec cpu0{}, cpu1{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
  std::string got;
  const auto t0 = Clock::now();
  EXPECT_EQ(c.readSome(got, 300ms), ReadStatus::IdleTimeout);
  EXPECT_GE(Clock::now() - t0, 300ms);
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
  const auto cpu = seconds(cpu1.tv_sec - cpu0.tv_sec) + nanoseconds(cpu1.tv_nsec - cpu0.tv_nsec);
  EXPECT_LT(cpu, 100ms) << "a spinning read burns the whole 300 ms";
  ASSERT_EQ(::send(p.client.get(), "y", 1, 0), 1);
  EXPECT_EQ(c.readSome(got, 5s), ReadStatus::Data);
  EXPECT_EQ(got, "y");
}

}  // namespace
}  // namespace preforkd
