#include "supervisor/agent_peers.h"

#include <algorithm>

namespace preforkd {

std::string AgentPeers::labelFor(std::string_view received, std::string_view address) {
  const std::size_t eol = received.find_first_of("\r\n");
  std::string_view line = received.substr(0, eol);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  if (line.empty()) {
    // "ip:port" -> "ip" ("[::1]:5" -> "[::1]"): the port changes on every check.
    const std::size_t colon = address.rfind(':');
    return std::string(colon == std::string_view::npos ? address : address.substr(0, colon));
  }
  std::string label(line.substr(0, kMaxLabel));
  for (char& c : label) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '?';
  }
  return label;
}

void AgentPeers::record(std::string label, std::string address,
                        std::chrono::steady_clock::time_point now) {
  auto it = std::find_if(peers_.begin(), peers_.end(),
                         [&](const AgentPeer& p) { return p.label == label; });
  if (it == peers_.end()) {
    if (peers_.size() >= kMaxPeers) {
      it = std::min_element(peers_.begin(), peers_.end(), [](const AgentPeer& a, const AgentPeer& b) {
        return a.last_check < b.last_check;
      });
      *it = AgentPeer{};
    } else {
      it = peers_.emplace(peers_.end());
    }
    it->label = std::move(label);
  }
  it->address = std::move(address);
  ++it->checks;
  it->last_check = now;
}

std::vector<AgentPeer> AgentPeers::rows() const {
  std::vector<AgentPeer> out = peers_;
  std::stable_sort(out.begin(), out.end(), [](const AgentPeer& a, const AgentPeer& b) {
    return a.last_check > b.last_check;
  });
  return out;
}

}  // namespace preforkd
