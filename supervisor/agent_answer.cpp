#include "supervisor/agent_answer.h"

#include <algorithm>

#include <fmt/format.h>

#include "supervisor/agent_settings.h"

namespace preforkd {

const char* toString(AgentState state) noexcept {
  switch (state) {
    case AgentState::Ready: return "ready";
    case AgentState::Drain: return "drain";
    case AgentState::Down: return "down";
  }
  return "?";
}

AgentState agentState(const AgentView& v) noexcept {
  if (v.draining) return AgentState::Drain;
  if (v.usable == 0 && v.spawn_blocked) return AgentState::Down;
  return AgentState::Ready;
}

AgentAnswer agentAnswer(const AgentView& v) {
  AgentAnswer a;
  a.state = agentState(v);
  if (a.state == AgentState::Drain) {
    a.line = "up drain\n";
    a.reason = "draining";
    return a;
  }
  if (a.state == AgentState::Down) {
    a.line = "down\n";
    a.reason = "no worker can run: respawning is held by the brake";
    return a;
  }
  const std::size_t reference = std::max<std::size_t>(v.reference != 0 ? v.reference : v.capacity, 1);
  const std::size_t balancers = std::max<std::size_t>(v.balancers, 1);
  // Round half up; clamp before narrowing (usable may exceed the reference many times over).
  const std::size_t rounded = (200 * std::min<std::size_t>(v.usable, 1'000'000) + reference) /
                              (2 * reference);
  a.weight_percent = static_cast<unsigned>(std::clamp<std::size_t>(rounded, 1, kMaxAgentWeight));
  // Floor: together the balancers never send more than we can serve at once.
  a.maxconn = std::max<std::size_t>(v.usable / balancers, 1);
  a.line = fmt::format("up ready {}% maxconn:{}\n", a.weight_percent, a.maxconn);
  a.reason = v.usable == 0
                 ? "no worker ready yet (starting): announcing the minimum"
                 : fmt::format("{} usable worker(s), reference {}, {} balancer(s)", v.usable,
                               reference, balancers);
  return a;
}

std::string validateAgentSettings(const AgentSettings& s) {
  if (s.balancers == 0 || s.balancers > kMaxAgentBalancers) {
    return fmt::format("agent balancers must be 1..{}", kMaxAgentBalancers);
  }
  if (s.reference > kMaxAgentReference) {
    return fmt::format("agent reference must be 0..{}", kMaxAgentReference);
  }
  if (s.announce.count() < 0 || s.announce > kMaxAgentAnnounce) {
    return fmt::format("agent announce must be 0..{}s", kMaxAgentAnnounce.count() / 1000);
  }
  for (const std::string& ip : s.allow) {
    if (!ipKey(ip)) return fmt::format("agent allow: '{}' is not a numeric IP address", ip);
  }
  return "";
}

}  // namespace preforkd
