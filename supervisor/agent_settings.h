// AgentSettings: the HAProxy agent-check endpoint's configuration (`agent.*` in the file,
// `--agent-*` flags). Off unless `listen` is set (or systemd passes a socket named "agent").
//
// Contract: plain data; validateAgentSettings() names the first bad value (or returns "").
// `reference` and `balancers` describe the fleet, which this host cannot see: the weight it
// announces is its usable children over `reference` (0: its own configured capacity, so a
// healthy host says 100%), and the maxconn it announces is its usable children over
// `balancers` (every HAProxy instance queues on its own, so each may send only its share).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/socket_address.h"

namespace preforkd {

struct AgentSettings {
  std::optional<SocketAddress> listen;  // empty: no agent endpoint
  std::vector<std::string> allow;       // numeric peer IPs allowed; empty: any peer
  std::size_t reference = 0;            // fleet reference capacity in children; 0: our own
  std::size_t balancers = 1;            // HAProxy instances checking this host
  // SIGTERM with an agent endpoint: say "drain" this long, still serving, before the graceful
  // shutdown closes the listeners (HAProxy must see the drain before connections are refused).
  std::chrono::milliseconds announce{2000};
};

inline constexpr std::size_t kMaxAgentBalancers = 1024;
inline constexpr std::size_t kMaxAgentReference = 1'000'000;
inline constexpr std::chrono::milliseconds kMaxAgentAnnounce{std::chrono::minutes(10)};

// "" when fine; otherwise what is wrong, naming the setting.
std::string validateAgentSettings(const AgentSettings& s);

}  // namespace preforkd
