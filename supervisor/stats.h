// Stats: a snapshot of the supervisor's state and its pure text renderings for the control
// socket (`show info`, `show workers`, `show conns`, `show hist`).
//
// Contract: the supervisor fills a StatsSnapshot (cheap: copies of counters, histograms and
// the child table); the render functions are pure (no clock, no syscalls: times are computed
// from `now`, `started_at` and `started_wall`), so the formats are tested byte for byte.
// Output is lines ending in "\n"; no line is empty (the control socket ends each response with
// one). JSON renderings are in stats_json.h, the Prometheus exposition in metrics.h.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/histogram.h"
#include "supervisor/agent_answer.h"
#include "supervisor/agent_peers.h"
#include "supervisor/child_table.h"
#include "supervisor/listener_stats.h"
#include "supervisor/pool_settings.h"

namespace preforkd {

struct SupervisorCounters {
  std::uint64_t accepted = 0;          // connections accepted from the listeners
  std::uint64_t dispatched = 0;        // Connection messages sent to children
  std::uint64_t completed = 0;         // Available received
  std::uint64_t accept_errors = 0;     // accept() failures (EMFILE and friends)
  std::uint64_t dropped = 0;           // accepted connections closed unserved (shutdown deadline)
  std::uint64_t lost_in_service = 0;   // children that died holding a taken connection
  std::uint64_t bad_messages = 0;      // status messages that were garbage or out of place
  std::uint64_t children_spawned = 0;
  std::uint64_t children_exited = 0;   // reaped, any cause
  std::uint64_t start_failures = 0;    // died before Ready
  // Why children exited (each reaped child counts in exactly one of these).
  std::uint64_t exited_stopped = 0;    // told to stop (shutdown, reload, retire, recycle), exit 0
  std::uint64_t exited_error = 0;      // exited with a non-zero status
  std::uint64_t exited_crashed = 0;    // killed by a crash signal (SIGSEGV, SIGABRT, ...)
  std::uint64_t exited_killed = 0;     // killed by another signal (ours or someone else's)
  std::uint64_t exited_no_restart = 0; // exited with the reserved "do not restart me" status
  std::uint64_t recycled = 0;          // retired after max-connections-per-child
  std::uint64_t retired_idle = 0;      // retired by the pool (above max spare, ondemand idle, TTOU)
  std::uint64_t time_limit_kills = 0;  // signals sent by a time limit (startup, hand-off, session, drain)
  std::uint64_t rejected_queue_full = 0;     // busy line: the overload queue was full
  std::uint64_t rejected_queue_timeout = 0;  // busy line: waited in the queue past its deadline
  std::uint64_t rejected_per_source = 0;     // per-source cap line
  std::uint64_t max_children_reached = 0;    // demand the max-children cap refused
  std::uint64_t queued_max = 0;              // the queue's high-water mark
  std::uint64_t reloads = 0;                 // generations started by reload
  std::uint64_t reloads_failed = 0;          // reloads refused (bad configuration)
  std::uint64_t handed_over = 0;             // connections received from the previous binary
};

// Latency histograms the supervisor can measure exactly because it hands out every connection.
struct SupervisorHistograms {
  Histogram queue_wait;    // accept -> sent to a child
  Histogram handoff;       // sent -> Taken
  Histogram service_time;  // Taken -> Available
  Histogram startup;       // fork -> Ready
};

// A connection that is queued or in service.
struct ConnectionRow {
  ConnectionId id = 0;
  std::string peer;          // numeric address
  pid_t child_pid = 0;       // 0: queued
  const char* state = "";    // "queued", "handing-off", "in-service"
  std::chrono::nanoseconds age{0};         // since accept
  std::chrono::nanoseconds queue_wait{0};  // accept -> hand-off (so far, if still queued)
};

// The HAProxy agent endpoint and the drain state (`show agent`).
struct AgentSnapshot {
  bool enabled = false;            // an agent endpoint is listening
  std::string address;             // its numeric bound address
  std::vector<std::string> allow;  // empty: any peer
  AgentView view;                  // what the answer is computed from
  AgentAnswer answer;              // what a check gets now
  AgentCounters counters;
  std::vector<AgentPeer> peers;    // most recent first
};

struct StatsSnapshot {
  pid_t pid = 0;
  std::string version;
  std::chrono::milliseconds uptime{0};
  std::vector<std::string> listeners;  // numeric bound addresses
  std::string service;
  std::size_t workers_configured = 0;
  std::size_t workers_total = 0, idle = 0, busy = 0, starting = 0, stopping = 0;
  std::size_t queued = 0;
  std::uint64_t redispatched = 0;
  bool throttled = false;
  bool draining = false;              // shutting down
  bool drain = false;                 // drain state: the agent says drain, clients still served
  std::string drain_reason;           // "control", "SIGTERM", ...
  std::chrono::nanoseconds drain_age{0};
  AgentSnapshot agent;
  SupervisorCounters counters;
  TimePoint now{};
  std::vector<ChildRecord> children;  // live children only, by slot

  // Pool lifecycle.
  Generation generation = 1;
  PoolSettings pool;                  // mode, sizes, policy in force
  std::size_t old_generation = 0;     // live children of older generations (draining)
  std::string throttle_reason;        // empty unless throttled/halted: why
  bool halted = false;                // a worker exited "do not restart": no respawns until reload
  std::size_t queue_capacity = 0;
  std::chrono::nanoseconds queue_oldest_age{0};
  std::vector<ListenerStats> listener_stats;
  std::vector<ConnectionRow> connections;  // queued and in service
  SupervisorHistograms histograms;
  std::chrono::system_clock::time_point started_wall{};  // for "started at" columns
  TimePoint started_at{};
};

// `show info`: "key: value" lines (a key may repeat: `listen`, `listen_queue`).
std::string renderInfo(const StatsSnapshot& s);
// `show agent`: the agent endpoint's answer and why, its counters, one line per peer label.
std::string renderAgent(const StatsSnapshot& s);
// `show workers`: a header, one row per child, then "scoreboard: " and renderScoreboard().
std::string renderWorkers(const StatsSnapshot& s);
// One character per live child, in slot order (Apache mod_status style):
//   S starting   _ idle   W busy (serving a client)   G stopping: will exit (after its client)
// "-" for an empty pool.
std::string renderScoreboard(const StatsSnapshot& s);
char scoreboardChar(const ChildRecord& c) noexcept;
// `show conns`: a header and one row per queued or in-service connection.
std::string renderConns(const StatsSnapshot& s);
// `show hist`: one row per histogram, values in microseconds.
std::string renderHist(const StatsSnapshot& s);

// The histograms by name, in the order every rendering uses.
struct NamedHistogram {
  const char* name;  // "queue_wait", "handoff", "service_time", "startup"
  const char* help;  // one line for `show metrics`
  const Histogram* histogram;
};
std::vector<NamedHistogram> namedHistograms(const SupervisorHistograms& h);

// "2026-11-24T16:27:57Z" (UTC, whole seconds).
std::string formatWallTime(std::chrono::system_clock::time_point t);
// When `c` was started, on the wall clock (from the snapshot's steady/wall pair).
std::chrono::system_clock::time_point childStartedWall(const StatsSnapshot& s, const ChildRecord& c);
// Nanoseconds to seconds for renderings.
inline double toSeconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace preforkd
