// A hand-built StatsSnapshot for the renderer tests (text, JSON, metrics): every field set to
// a distinct value, so a rendering that shows the wrong field is caught.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <cstring>

#include "supervisor/stats.h"

namespace preforkd::testing_sample {

inline SocketAddress ipv4(const char* ip, int port) {
  SocketAddress a;
  auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, ip, &in->sin_addr);
  a.length = sizeof(sockaddr_in);
  return a;
}

inline StatsSnapshot sample() {
  using namespace std::chrono;
  StatsSnapshot s;
  s.pid = 42;
  s.version = "0.1.0";
  s.uptime = milliseconds(12'345);
  s.listeners = {"127.0.0.1:2323", "[::1]:2323"};
  s.service = "echo";
  s.workers_configured = 4;
  s.workers_total = 4;
  s.idle = 1;
  s.busy = 1;
  s.starting = 1;
  s.stopping = 1;
  s.queued = 2;
  s.redispatched = 3;
  s.throttled = true;
  s.throttle_reason = "3 start-up failures in a row";
  s.draining = false;
  SupervisorCounters& c = s.counters;
  c.accepted = 100;
  c.dispatched = 101;
  c.completed = 90;
  c.accept_errors = 4;
  c.dropped = 5;
  c.lost_in_service = 6;
  c.bad_messages = 7;
  c.children_spawned = 8;
  c.children_exited = 9;
  c.start_failures = 10;
  c.exited_stopped = 1;
  c.exited_error = 2;
  c.exited_crashed = 3;
  c.exited_killed = 2;
  c.exited_no_restart = 1;
  c.recycled = 11;
  c.retired_idle = 12;
  c.time_limit_kills = 13;
  c.rejected_queue_full = 14;
  c.rejected_queue_timeout = 15;
  c.rejected_per_source = 16;
  c.max_children_reached = 17;
  c.queued_max = 18;
  c.reloads = 19;
  c.reloads_failed = 20;
  c.handed_over = 21;
  s.generation = 2;
  s.pool.mode = PoolMode::Dynamic;
  s.pool.policy = DispatchPolicy::LeastServed;
  s.pool.min_spare = 1;
  s.pool.max_spare = 3;
  s.pool.max_children = 10;
  s.old_generation = 1;
  s.halted = false;
  s.queue_capacity = 64;
  s.queue_oldest_age = milliseconds(250);
  s.listener_stats = {{"127.0.0.1:2323", 3, 511, true}, {"[::1]:2323", 0, 128, true}};

  s.started_at = TimePoint{} + seconds(1000);
  s.now = s.started_at + seconds(100);
  s.started_wall = system_clock::time_point{} + seconds(1'795'538'799);  // 2026-11-24T16:46:39Z

  ChildRecord starting;
  starting.slot = 0;
  starting.pid = 1000;
  starting.generation = 2;
  starting.state = ChildState::Starting;
  starting.started_at = s.started_at + seconds(99);
  ChildRecord idle;
  idle.slot = 1;
  idle.pid = 1001;
  idle.generation = 2;
  idle.state = ChildState::Idle;
  idle.served = 5;
  idle.last_duration = milliseconds(12);
  idle.started_at = s.started_at + seconds(1);
  ChildRecord busy;
  busy.slot = 2;
  busy.pid = 1002;
  busy.generation = 2;
  busy.state = ChildState::Busy;
  busy.served = 4;
  busy.conn = 77;
  busy.conn_taken = true;
  busy.conn_peer = ipv4("127.0.0.1", 5555);
  busy.state_since = s.now - milliseconds(1500);
  busy.last_duration = milliseconds(3);
  busy.bytes_in = 10;
  busy.bytes_out = 20;
  busy.started_at = s.started_at + seconds(2);
  ChildRecord draining;
  draining.slot = 4;
  draining.pid = 999;
  draining.generation = 1;
  draining.state = ChildState::Busy;
  draining.stop_requested = true;
  draining.stop_reason = "reload";
  draining.served = 50;
  draining.conn = 70;
  draining.conn_taken = true;
  draining.conn_peer = ipv4("10.0.0.1", 40000);
  draining.state_since = s.now - seconds(30);
  draining.last_duration = milliseconds(2);
  draining.started_at = s.started_at;
  s.children = {starting, idle, busy, draining};

  ConnectionRow in_service;
  in_service.id = 77;
  in_service.peer = "127.0.0.1:5555";
  in_service.child_pid = 1002;
  in_service.state = "in-service";
  in_service.age = milliseconds(1502);
  in_service.queue_wait = microseconds(40);
  ConnectionRow queued;
  queued.id = 78;
  queued.peer = "127.0.0.1:5556";
  queued.child_pid = 0;
  queued.state = "queued";
  queued.age = milliseconds(250);
  queued.queue_wait = milliseconds(250);
  s.connections = {in_service, queued};

  // queue_wait: 10 us x 9, 1 ms x 1; handoff: 25 us x 4; others empty.
  s.histograms.queue_wait.record(10'000, 9);
  s.histograms.queue_wait.record(1'000'000, 1);
  s.histograms.handoff.record(25'000, 4);
  return s;
}

}  // namespace preforkd::testing_sample
