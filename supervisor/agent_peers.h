// AgentPeers (and the endpoint's counters): who has been checking the agent endpoint, by the label each balancer sends
// (HAProxy's `agent-send`), for `show agent`.
//
// Contract: pure bookkeeping (callers pass `now`). A label is the first line of what the peer
// sent, cut to kMaxLabel bytes with control bytes replaced; a peer that sent nothing is filed
// under its numeric IP address. At most kMaxPeers labels are kept: a new one evicts the one
// seen least recently, so a peer cycling through labels cannot grow the table.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace preforkd {

struct AgentCounters {
  std::uint64_t checks = 0;    // answered
  std::uint64_t refused = 0;   // peer not in the allow list
  std::uint64_t overflow = 0;  // closed unanswered: too many open at once
  std::uint64_t errors = 0;    // the answer could not be written
};

struct AgentPeer {
  std::string label;
  std::string address;  // numeric "ip:port" of its last check
  std::uint64_t checks = 0;
  std::chrono::steady_clock::time_point last_check{};
};

class AgentPeers {
 public:
  static constexpr std::size_t kMaxPeers = 64;
  static constexpr std::size_t kMaxLabel = 64;

  // The label for what a peer sent (`received`) from `address` (numeric ip:port).
  static std::string labelFor(std::string_view received, std::string_view address);

  void record(std::string label, std::string address, std::chrono::steady_clock::time_point now);
  // Most recently seen first.
  std::vector<AgentPeer> rows() const;
  void clear() { peers_.clear(); }

 private:
  std::vector<AgentPeer> peers_;  // small: a linear scan is the cheapest structure
};

}  // namespace preforkd
