// Stats: a snapshot of the supervisor's state and its pure text renderings for the control
// socket (`show info`, `show workers`).
//
// Contract: the supervisor fills a StatsSnapshot (cheap: copies of counters and the child
// table); the render functions are pure, so the formats are tested byte for byte. Output is
// "key: value" lines; no line is empty (the control socket ends each response with one).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "supervisor/child_table.h"

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
  bool draining = false;
  SupervisorCounters counters;
  TimePoint now{};
  std::vector<ChildRecord> children;  // live children only, by slot
};

std::string renderInfo(const StatsSnapshot& s);
std::string renderWorkers(const StatsSnapshot& s);

}  // namespace preforkd
