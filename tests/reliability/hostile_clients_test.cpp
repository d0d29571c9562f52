// Reliability scenario 3, hostile clients, one kind after the other against one supervisor
// with 4 workers, --max-per-source 3, --idle-timeout 1s and --max-session 3s:
//   - idle (slowloris) clients up to the pool size from one address: the per-source cap admits
//     3 and refuses the 4th, so a client from another address is served at once; a client that
//     trickles a byte every 200 ms (never idle) takes the last worker, and the next client is
//     served as soon as the idle timeout frees the slowloris' workers; the trickler is closed
//     at the session limit;
//   - a line far over --max-line (1 MiB);
//   - random binary garbage;
//   - every telnet IAC sequence (each verb with each option, each command byte, subnegotiation)
//     and malformed ones (bogus command bytes, a stray SE, IAC at the end of the input, SB
//     never closed, with more data after it and with a disconnect);
//   - clients that connect and reset at once (SO_LINGER 0), before and after the banner;
//   - a client that never reads its replies and fills the socket buffers.
// None of them may take the supervisor or any worker down: afterwards no worker has exited,
// the pool is full and idle, and a normal client is served. Clients use distinct loopback
// source addresses (127.0.0.0/8 is all local) so the per-source cap only acts where meant.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

#include "tests/reliability/reliability_fixture.h"

namespace e2e {
namespace {

class HostileClients : public ReliabilityTest {};

constexpr unsigned char kIac = 255, kSb = 250, kSe = 240, kWill = 251, kWont = 252, kDo = 253,
                        kDont = 254, kAyt = 246;

int remaining(SteadyClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Ms>(deadline - SteadyClock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

std::string bytes(std::initializer_list<unsigned char> b) { return std::string(b.begin(), b.end()); }

std::size_t occurrences(const std::string& haystack, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++count;
  return count;
}

// A TCP client with a chosen source address that never blocks: sends and reads interleave, so
// neither side stalls on a full buffer unless the test wants it to.
class RawClient {
 public:
  testing::AssertionResult connect(int port, const std::string& source) {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_) return testing::AssertionFailure() << "socket: " << std::strerror(errno);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &src.sin_addr);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      return testing::AssertionFailure() << "bind " << source << ": " << std::strerror(errno);
    }
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    dst.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
      return testing::AssertionFailure() << "connect from " << source << ": " << std::strerror(errno);
    }
    return testing::AssertionSuccess();
  }

  // Sends `out` while taking in whatever arrives. False if the connection broke (EPIPE,
  // reset, closed) or the deadline passed before everything was sent.
  bool send(std::string_view out, Ms timeout = 5s) {
    const auto deadline = SteadyClock::now() + timeout;
    while (!out.empty()) {
      pollfd p{fd_.get(), POLLIN | POLLOUT, 0};
      if (::poll(&p, 1, remaining(deadline)) <= 0) return false;
      if ((p.revents & POLLIN) && !takeIn()) return false;
      if (p.revents & POLLOUT) {
        const ssize_t n = ::send(fd_.get(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
        if (n > 0) {
          out.remove_prefix(static_cast<std::size_t>(n));
          sent_ += static_cast<std::size_t>(n);
        }
      }
      if (p.revents & (POLLERR | POLLHUP)) return false;
    }
    return true;
  }

  // Sends without ever reading, until nothing more fits for `stall` (both socket buffers are
  // full). Returns the bytes sent.
  std::size_t sendUntilStalled(std::string_view chunk, Ms stall, Ms timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    std::size_t total = 0;
    while (SteadyClock::now() < deadline) {
      pollfd p{fd_.get(), POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(stall.count())) <= 0) break;
      const ssize_t n = ::send(fd_.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EINTR) break;
      if (n > 0) total += static_cast<std::size_t>(n);
    }
    return total;
  }

  // Everything up to and including `needle` (kept in the buffer too); nothing on timeout/EOF.
  std::optional<std::string> readUntil(std::string_view needle, Ms timeout = 3s) {
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
      const auto at = in_.find(needle, consumed_);
      if (at != std::string::npos) {
        std::string out = in_.substr(consumed_, at + needle.size() - consumed_);
        consumed_ = at + needle.size();
        return out;
      }
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, remaining(deadline)) <= 0 || !takeIn()) return std::nullopt;
    }
  }

  // Reads until the server closes (EOF) or resets; false on timeout.
  bool waitClosed(Ms timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    while (!closed_) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, remaining(deadline)) <= 0) return false;
      takeIn();
    }
    return true;
  }

  void shutdownWrite() { ::shutdown(fd_.get(), SHUT_WR); }
  // Closes with RST instead of FIN.
  void reset() {
    const linger l{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    fd_.reset();
  }
  const std::string& received() const { return in_; }
  std::size_t sent() const { return sent_; }

 private:
  // Reads once (non-blocking). False once the connection has ended.
  bool takeIn() {
    char buf[65536];
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      in_.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    closed_ = true;  // EOF or an error such as ECONNRESET
    return false;
  }

  preforkd::UniqueFd fd_;
  std::string in_;
  std::size_t consumed_ = 0;
  std::size_t sent_ = 0;
  bool closed_ = false;
};

// A complete, polite session from `source`; its duration in *took.
testing::AssertionResult serveFrom(int port, const std::string& source, Ms* took = nullptr) {
  const auto t0 = SteadyClock::now();
  RawClient c;
  if (auto r = c.connect(port, source); !r) return r;
  const auto banner = c.readUntil("\r\n", 5s);
  if (!banner || !parseBanner(banner->substr(0, banner->size() - 2))) {
    return testing::AssertionFailure() << "no banner for " << source << ": '" << c.received() << "'";
  }
  if (!c.send("hello\r\n") || c.readUntil("hello\r\n", 3s) != "hello\r\n") {
    return testing::AssertionFailure() << "no echo for " << source;
  }
  if (!c.send("quit\r\n") || !c.readUntil("Goodbye.\r\n", 3s) || !c.waitClosed(3s)) {
    return testing::AssertionFailure() << "no goodbye for " << source;
  }
  if (took != nullptr) *took = std::chrono::duration_cast<Ms>(SteadyClock::now() - t0);
  return testing::AssertionSuccess();
}

std::string n(std::uint64_t v) { return std::to_string(v); }
std::string ms(Ms v) { return std::to_string(v.count()); }

TEST_F(HostileClients, NoneTakesTheSupervisorOrAnotherWorkerDown) {
  constexpr std::size_t kPool = 4;
  constexpr auto kIdle = 1s;
  constexpr auto kSession = 3s;
  ASSERT_TRUE(launch({"--workers", "4", "--max-per-source", "3", "--idle-timeout", "1s",
                      "--max-session", "3s", "--log-level", "info"},
                     kPool));
  PreforkdProcess& p = sup();
  const int port = p.port();
  std::vector<std::pair<std::string, std::string>> fig;

  // ---- slowloris up to the pool size, a trickler, and the per-source cap
  {
    const auto t0 = SteadyClock::now();
    std::vector<RawClient> loris(kPool);
    for (std::size_t i = 0; i < loris.size(); ++i) {
      ASSERT_TRUE(loris[i].connect(port, "127.0.0.1"));
      if (i < 3) {
        const auto banner = loris[i].readUntil("\r\n", 3s);
        ASSERT_TRUE(banner && banner->starts_with("preforkd echo service")) << i;
      }
    }
    EXPECT_EQ(loris[3].readUntil("\r\n", 3s), "421 preforkd: too many connections from your address\r\n");
    EXPECT_TRUE(loris[3].waitClosed(2s));
    // Another address is not held up by them.
    Ms other{0};
    ASSERT_TRUE(serveFrom(port, "127.0.0.2", &other));
    EXPECT_LT(other, 1s) << "a client from another address waited behind the slowloris";
    // A trickler (a byte every 200 ms: never idle) takes the last worker...
    std::atomic<bool> trickler_closed{false};
    Ms trickler_life{0};
    std::string trickler_said;
    RawClient trickler;
    ASSERT_TRUE(trickler.connect(port, "127.0.0.3"));
    ASSERT_TRUE(trickler.readUntil("\r\n", 3s));
    const auto trickle_start = SteadyClock::now();
    std::thread trickle([&] {
      while (trickler.send("x", 1s) && !trickler.waitClosed(200ms)) {
      }
      trickler.waitClosed(2s);
      trickler_life = std::chrono::duration_cast<Ms>(SteadyClock::now() - trickle_start);
      trickler_said = trickler.received();
      trickler_closed = true;
    });
    // Joined on every way out of this block (an ASSERT returns early): the thread ends on its
    // own once the server closes the trickler, at the session limit.
    struct Joiner {
      std::thread& t;
      ~Joiner() {
        if (t.joinable()) t.join();
      }
    } joiner{trickle};
    ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "workers_busy") == 4; }, 3s, "all busy"));
    // ...so the next client waits until the idle timeout frees a slowloris' worker.
    Ms waited{0};
    EXPECT_TRUE(serveFrom(port, "127.0.0.4", &waited));
    EXPECT_LT(waited, kIdle + 1s) << "served " << waited.count() << " ms after connecting";
    Ms loris_closed{0};
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_TRUE(loris[i].waitClosed(kIdle + 2s)) << "slowloris " << i << " still connected";
      loris_closed = std::max(loris_closed, std::chrono::duration_cast<Ms>(SteadyClock::now() - t0));
      EXPECT_NE(loris[i].received().find("idle for 1 s: closing the connection.\r\n"), std::string::npos)
          << loris[i].received();
    }
    trickle.join();
    EXPECT_TRUE(trickler_closed);
    EXPECT_GE(trickler_life, kSession - 200ms);
    EXPECT_LT(trickler_life, kSession + 1s);
    EXPECT_NE(trickler_said.find("session time limit (3 s) reached: closing the connection.\r\n"),
              std::string::npos)
        << trickler_said;
    ASSERT_TRUE(p.waitPoolFull(kPool, 5s));
    fig.insert(fig.end(), {{"slowloris", "4"},
                           {"slowloris_refused_by_cap", n(p.infoNumber("conns_rejected_per_source"))},
                           {"other_source_served_ms", ms(other)},
                           {"all_busy_client_served_ms", ms(waited)},
                           {"slowloris_closed_after_ms", ms(loris_closed)},
                           {"trickler_closed_after_ms", ms(trickler_life)}});
  }

  // ---- a line far over --max-line (4096): 1 MiB without a line end
  {
    RawClient c;
    ASSERT_TRUE(c.connect(port, "127.0.0.5"));
    ASSERT_TRUE(c.readUntil("\r\n", 3s));
    c.send(std::string(1 << 20, 'A'), 5s);  // the worker closes long before the end
    EXPECT_TRUE(c.waitClosed(3s));
    EXPECT_NE(c.received().find("error: line longer than 4096 bytes: closing the connection.\r\n"),
              std::string::npos)
        << c.received().substr(0, 200);
    fig.push_back({"overlong_line_bytes_sent", n(c.sent())});
    ASSERT_TRUE(p.waitPoolFull(kPool, 5s));
  }

  // ---- random binary garbage
  {
    std::mt19937 rng(2024);
    std::size_t sent = 0;
    for (int round = 0; round < 8; ++round) {
      std::string junk(64 * 1024, '\0');
      for (char& ch : junk) ch = static_cast<char>(rng() & 0xff);
      RawClient c;
      ASSERT_TRUE(c.connect(port, "127.0.0.6"));
      c.send(junk, 5s);  // may be cut short: Ctrl-D at a line start ends the session
      c.shutdownWrite();
      EXPECT_TRUE(c.waitClosed(5s)) << "round " << round;
      sent += c.sent();
      ASSERT_TRUE(p.waitPoolFull(kPool, 5s)) << "round " << round;
    }
    fig.push_back({"garbage_bytes_sent", n(sent)});
  }

  // ---- telnet: every sequence, then malformed ones
  {
    RawClient c;
    ASSERT_TRUE(c.connect(port, "127.0.0.7"));
    ASSERT_TRUE(c.readUntil("\r\n", 3s));
    std::string all;
    for (unsigned char verb : {kWill, kWont, kDo, kDont}) {
      for (int option = 0; option < 256; ++option) all += bytes({kIac, verb, static_cast<unsigned char>(option)});
    }
    for (int cmd = 241; cmd <= 249; ++cmd) all += bytes({kIac, static_cast<unsigned char>(cmd)});  // NOP .. GA
    all += "\r\n";
    for (int option = 0; option < 256; ++option) {  // subnegotiation, well-formed, with an escaped IAC
      all += bytes({kIac, kSb, static_cast<unsigned char>(option), 1, kIac, kIac, 2, kIac, kSe});
    }
    all += bytes({kIac, kIac}) + "z\r\n";  // a literal 0xFF in a line
    for (int cmd = 0; cmd < 240; ++cmd) all += bytes({kIac, static_cast<unsigned char>(cmd)});  // bogus
    all += bytes({kIac, kSe});                                                                  // stray SE
    all += bytes({kIac, kSb, 5, 'a', kIac, kAyt});  // SB ended by another command
    all += "\r\ntelnet ok\r\n";
    ASSERT_TRUE(c.send(all, 5s));
    ASSERT_TRUE(c.readUntil("telnet ok\r\n", 5s)) << "the session went on after every sequence";
    // Every DO was refused with WONT and every WILL with DONT, once; DONT and WONT unanswered.
    const std::string& got = c.received();
    for (int option = 0; option < 256; ++option) {
      const auto o = static_cast<unsigned char>(option);
      EXPECT_EQ(occurrences(got, bytes({kIac, kWont, o})), 1u) << "option " << option;
      EXPECT_EQ(occurrences(got, bytes({kIac, kDont, o})), 1u) << "option " << option;
    }
    EXPECT_EQ(got.find(bytes({kIac, kWill})), std::string::npos) << "never agrees to an option";
    EXPECT_EQ(got.find(bytes({kIac, kDo})), std::string::npos);
    ASSERT_TRUE(c.send("quit\r\n"));
    EXPECT_TRUE(c.waitClosed(3s));
    fig.push_back({"telnet_bytes_sent", n(c.sent())});
  }
  {
    // SB never closed: after 4096 skipped bytes the filter reads plain data again.
    RawClient c;
    ASSERT_TRUE(c.connect(port, "127.0.0.7"));
    ASSERT_TRUE(c.readUntil("\r\n", 3s));
    ASSERT_TRUE(c.send(bytes({kIac, kSb, 24}) + std::string(4200, 'x') + "\r\nafter sb\r\n"));
    EXPECT_TRUE(c.readUntil("after sb\r\n", 3s)) << "an unclosed SB swallowed the session";
  }
  for (const std::string& tail : {bytes({kIac}), bytes({kIac, kSb}), bytes({kIac, kSb, 31, 1, 2, 3}),
                                  bytes({kIac, kDo}), bytes({kIac, kSb, 24, kIac})}) {
    // The input ends in the middle of a sequence.
    RawClient c;
    ASSERT_TRUE(c.connect(port, "127.0.0.7"));
    ASSERT_TRUE(c.readUntil("\r\n", 3s));
    ASSERT_TRUE(c.send("abc" + tail));
    c.shutdownWrite();
    EXPECT_TRUE(c.waitClosed(3s));
  }
  ASSERT_TRUE(p.waitPoolFull(kPool, 5s));

  // ---- connect and reset at once (SO_LINGER 0), before and after the banner
  {
    constexpr int kResets = 100;
    const auto t0 = SteadyClock::now();
    for (int i = 0; i < kResets; ++i) {
      RawClient c;
      // Distinct sources: the cap must not be what absorbs them.
      ASSERT_TRUE(c.connect(port, "127.0.1." + std::to_string(1 + i % 250)));
      if (i % 2 == 1) {
        ASSERT_TRUE(c.readUntil("\r\n", 3s));
      }
      c.reset();
    }
    ASSERT_TRUE(p.waitInfo(
        [&](const auto& i) {
          return infoValue(i, "conns_completed") + infoValue(i, "conns_rejected_per_source") ==
                 infoValue(i, "conns_accepted");
        },
        5s, "every reset session ended"));
    ASSERT_TRUE(p.waitPoolFull(kPool, 5s));
    fig.push_back({"resets", n(kResets)});
    fig.push_back({"resets_settled_ms", ms(std::chrono::duration_cast<Ms>(SteadyClock::now() - t0))});
  }

  // ---- a client that never reads its replies
  {
    RawClient c;
    ASSERT_TRUE(c.connect(port, "127.0.0.8"));
    ASSERT_TRUE(c.readUntil("\r\n", 3s));
    std::string line(998, 'r');
    line += "\r\n";
    std::string chunk;
    for (int i = 0; i < 64; ++i) chunk += line;
    const std::size_t stuffed = c.sendUntilStalled(chunk, 500ms, 10s);
    const auto stalled_at = SteadyClock::now();
    // The worker gives up writing after its write timeout (the idle timeout), closes (with a
    // bounded lingering close) and is idle again.
    ASSERT_TRUE(p.waitPoolFull(kPool, 5s)) << "the worker stays stuck on a client that does not read";
    const auto freed = std::chrono::duration_cast<Ms>(SteadyClock::now() - stalled_at);
    EXPECT_LT(freed, kIdle + 2s);
    fig.push_back({"never_reading_bytes_stuffed", n(stuffed)});
    fig.push_back({"never_reading_worker_freed_ms", ms(freed)});
  }

  // ---- afterwards: no worker died, the pool is full, a normal client is served
  Ms normal{0};
  EXPECT_TRUE(serveFrom(port, "127.0.0.1", &normal));
  const auto info = p.info();
  EXPECT_EQ(infoValue(info, "children_exited"), 0u) << "a hostile client took a worker down";
  EXPECT_EQ(infoValue(info, "children_spawned"), kPool);
  EXPECT_EQ(infoValue(info, "conns_lost_in_service"), 0u);
  EXPECT_EQ(infoValue(info, "bad_status_messages"), 0u);
  fig.push_back({"connections", n(infoValue(info, "conns_accepted"))});
  fig.push_back({"children_exited", n(infoValue(info, "children_exited"))});
  fig.push_back({"normal_after_ms", ms(normal)});
  figures("hostile-clients", fig);
}

}  // namespace
}  // namespace e2e
