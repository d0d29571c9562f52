// AgentEndpoint: the HAProxy agent-check listener, in the supervisor's own event loop.
//
// Each connection gets the answer at once, without waiting for input (HAProxy's agent-send
// string may or may not arrive), and then a clean close: we shut our side down (FIN after the
// line) and read what the peer sent until it closes or kPeerGrace passes, so nothing unread
// turns our close into a reset that could destroy the answer. What the peer sent is its label
// (AgentPeers). Peers not in the allow list are closed unanswered.
//
// Contract: the constructor takes a bound, listening socket (from openListener() or from
// systemd / a hot-upgrade predecessor) and never throws after that; `answer` is called once per
// allowed connection and must not throw (the supervisor's pure agentAnswer()). At most
// kMaxOpen connections are open at once (more are closed unanswered and counted); on
// EMFILE & co. accepting pauses for kBackoff instead of spinning. Every fd is owned here and
// closed by the destructor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/socket_address.h"
#include "common/unique_fd.h"
#include "supervisor/agent_peers.h"
#include "supervisor/event_loop.h"
#include "supervisor/listener.h"

namespace preforkd {

class AgentEndpoint {
 public:
  static constexpr std::size_t kMaxOpen = 64;
  static constexpr std::chrono::milliseconds kPeerGrace{1000};
  static constexpr std::chrono::milliseconds kBackoff{100};
  static constexpr std::chrono::seconds kRefusedLogInterval{10};

  using AnswerFn = std::function<std::string()>;

  // `allow`: numeric IPs (already validated); empty: any peer.
  AgentEndpoint(event_base* base, Listener listener, const std::vector<std::string>& allow,
                AnswerFn answer);
  ~AgentEndpoint();
  AgentEndpoint(const AgentEndpoint&) = delete;
  AgentEndpoint& operator=(const AgentEndpoint&) = delete;

  const std::string& address() const { return listener_.address; }
  int fd() const { return listener_.fd.get(); }  // for a hot upgrade's successor
  const AgentCounters& counters() const { return counters_; }
  const AgentPeers& peers() const { return peers_; }
  void clearCounters();
  // Replaces the allow list (a reload); checks already open are not affected.
  void setAllow(const std::vector<std::string>& allow);

 private:
  struct Conn {
    UniqueFd fd;
    EventPtr event;
    AgentEndpoint* owner = nullptr;
    std::string peer;      // numeric ip:port
    std::string received;  // what the peer sent (bounded)
    std::list<Conn>::iterator self;
  };

  static void onAccept(evutil_socket_t, short, void* arg) noexcept;
  static void onConnEvent(evutil_socket_t, short what, void* arg) noexcept;
  static void onResume(evutil_socket_t, short, void* arg) noexcept;
  void acceptAll();
  void serve(UniqueFd fd, const SocketAddress& peer);
  void connEvent(Conn& c, short what);
  void finish(Conn& c);

  event_base* base_;
  Listener listener_;
  std::unordered_set<std::string> allow_;  // ipKey()s
  AnswerFn answer_;
  EventPtr accept_event_;
  EventPtr resume_event_;
  std::list<Conn> open_;
  AgentPeers peers_;
  AgentCounters counters_;
  std::chrono::steady_clock::time_point last_refused_log_{};
};

}  // namespace preforkd
