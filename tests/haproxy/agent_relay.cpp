#include "tests/haproxy/agent_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace haproxy {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

AgentRelay::AgentRelay(int upstream_port) : upstream_port_(upstream_port) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2 failed");
  wake_read_.reset(fds[0]);
  wake_write_.reset(fds[1]);
  if (!openListener()) throw std::runtime_error(std::string("relay listen: ") + std::strerror(errno));
  thread_ = std::thread([this] { loop(); });
}

AgentRelay::~AgentRelay() {
  request(Mode::Quit);
  thread_.join();
}

bool AgentRelay::openListener() {
  preforkd::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback(port_);  // 0 the first time: the kernel picks
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd.get(), 64) != 0) {
    return false;
  }
  socklen_t len = sizeof a;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  listener_ = std::move(fd);
  return true;
}

void AgentRelay::refuse() { request(Mode::Refuse); }
void AgentRelay::silence() { request(Mode::Silence); }
bool AgentRelay::resume() { return request(Mode::Relay); }

bool AgentRelay::request(Mode mode) {
  std::unique_lock lock(mu_);
  wanted_ = mode;
  const std::uint64_t ticket = ++requests_;
  const char byte = 'x';
  [[maybe_unused]] auto n = ::write(wake_write_.get(), &byte, 1);
  // The loop applies a request between two relayed connections (each bounded by kConnLimit).
  cv_.wait_for(lock, kConnLimit * 2, [&] { return applied_ >= ticket; });
  return applied_ >= ticket && last_ok_;
}

void AgentRelay::loop() {
  Mode mode = Mode::Relay;
  for (;;) {
    pollfd fds[2] = {{wake_read_.get(), POLLIN, 0},
                     {mode == Mode::Relay && listener_ ? listener_.get() : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) {
      char buf[64];
      while (::read(wake_read_.get(), buf, sizeof buf) > 0) {
      }
      std::lock_guard lock(mu_);
      mode = wanted_;
      bool ok = true;
      if (mode == Mode::Refuse || mode == Mode::Quit) listener_.reset();
      if ((mode == Mode::Relay || mode == Mode::Silence) && !listener_) ok = openListener();
      last_ok_ = ok;
      applied_ = requests_;
      cv_.notify_all();
      if (mode == Mode::Quit) return;
      continue;
    }
    if (fds[1].revents != 0) {
      preforkd::UniqueFd down(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (down) relay(std::move(down));
    }
  }
}

void AgentRelay::relay(preforkd::UniqueFd down) {
  preforkd::UniqueFd up(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_in a = loopback(upstream_port_);
  if (!up || ::connect(up.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return;
  ++relayed_;
  const auto deadline = std::chrono::steady_clock::now() + kConnLimit;
  bool open[2] = {true, true};  // down->up, up->down
  while (open[0] || open[1]) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd fds[2] = {{open[0] ? down.get() : -1, POLLIN, 0}, {open[1] ? up.get() : -1, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      const int from = i == 0 ? down.get() : up.get();
      const int to = i == 0 ? up.get() : down.get();
      char buf[4096];
      const ssize_t n = ::recv(from, buf, sizeof buf, 0);
      if (n > 0) {
        (void)::send(to, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
      } else {
        // EOF (or a reset): pass the half-close on; the other direction may still flow.
        ::shutdown(to, SHUT_WR);
        open[i] = false;
      }
    }
  }
}

}  // namespace haproxy
