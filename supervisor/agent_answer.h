// The HAProxy agent-check answer, as a pure function of the supervisor's state.
//
// HAProxy (2.6) reads one line from the agent: words in any order, the last of a kind wins,
// and words not sent leave its state unchanged (drain and down persist through an agent
// outage until the agent clears them). So every answer carries the full state:
//   "up ready <w>% maxconn:<c>"  serving: w = usable children over the fleet reference
//                                (rounded, 1..256), c = usable children over the number of
//                                balancers (floor, at least 1)
//   "up drain"                   draining (operator `drain`, SIGTERM's announce period, and the
//                                shutdown after it): no new clients, current ones finish
//   "down"                       no child can run and none can be started (crash-loop brake,
//                                a worker's "do not restart me")
// Never "0%" (HAProxy would read it as a drain it never clears) and never "maxconn:0" (that
// means unlimited). A pool that is merely busy is still "ready": its capacity, not its momentary
// idleness, is the signal (HAProxy queues the excess itself).
#pragma once

#include <cstddef>
#include <string>

namespace preforkd {

enum class AgentState { Ready, Drain, Down };

const char* toString(AgentState state) noexcept;

struct AgentView {
  bool draining = false;       // drain state or shutting down
  bool spawn_blocked = false;  // the crash-loop brake holds, or respawning is halted
  std::size_t usable = 0;      // children that can take new clients now or as soon as started
  std::size_t capacity = 0;    // this host's configured capacity (workers, or max children)
  std::size_t reference = 0;   // fleet reference capacity; 0: `capacity`
  std::size_t balancers = 1;   // 0 is treated as 1
};

struct AgentAnswer {
  AgentState state = AgentState::Ready;
  unsigned weight_percent = 0;  // Ready only (else 0)
  std::size_t maxconn = 0;      // Ready only (else 0)
  std::string line;             // what is sent, ending in "\n"; at most kMaxAgentLine bytes
  std::string reason;           // why, for `show agent` and the log
  friend bool operator==(const AgentAnswer&, const AgentAnswer&) = default;
};

inline constexpr std::size_t kMaxAgentLine = 64;
inline constexpr unsigned kMaxAgentWeight = 256;  // HAProxy caps a weight at 256

// The state alone (what agentAnswer() would say), without formatting the line.
AgentState agentState(const AgentView& v) noexcept;
AgentAnswer agentAnswer(const AgentView& v);

}  // namespace preforkd
