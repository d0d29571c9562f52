// AgentRelay: a TCP relay between HAProxy and one preforkd agent endpoint, so a test can make
// the agent unreachable without touching preforkd (which must keep serving clients meanwhile).
//
// Contract: the constructor listens on 127.0.0.1:0 (SO_REUSEADDR) and starts one thread that
// relays each accepted connection to 127.0.0.1:upstream, both ways, until both sides have
// closed (bounded: kConnLimit per connection). Connections are relayed one at a time (agent
// checks are seconds apart). Outages, each acknowledged before the call returns:
//   refuse(): the listening socket is closed: connecting is refused (a crashed agent, a
//             firewall that rejects);
//   silence(): still listening, never accepting: the connection opens but no answer ever
//             comes (a host that hangs, a network that drops);
//   resume(): listening and relaying again, on the same port.
// The destructor stops and joins the thread; every fd is owned by the relay.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "common/unique_fd.h"

namespace haproxy {

class AgentRelay {
 public:
  static constexpr std::chrono::milliseconds kConnLimit{2000};

  explicit AgentRelay(int upstream_port);
  ~AgentRelay();
  AgentRelay(const AgentRelay&) = delete;
  AgentRelay& operator=(const AgentRelay&) = delete;

  int port() const { return port_; }
  void refuse();
  void silence();
  // False if the port could not be bound again.
  bool resume();
  std::uint64_t relayed() const { return relayed_; }

 private:
  enum class Mode { Relay, Refuse, Silence, Quit };
  bool request(Mode mode);
  void loop();
  bool openListener();
  void relay(preforkd::UniqueFd down);

  int upstream_port_;
  int port_ = 0;
  preforkd::UniqueFd listener_;
  preforkd::UniqueFd wake_read_, wake_write_;
  std::mutex mu_;
  std::condition_variable cv_;
  Mode wanted_ = Mode::Relay;
  std::uint64_t requests_ = 0, applied_ = 0;
  bool last_ok_ = true;
  std::atomic<std::uint64_t> relayed_{0};
  std::thread thread_;
};

}  // namespace haproxy
