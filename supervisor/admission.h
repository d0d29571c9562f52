// Admission: whether to arm the listeners, and what to do with a freshly accepted client.
//
// Contract: pure; the caller fills an AdmissionView from the dispatcher, the planner's
// headroom and its overload settings. Rules:
//  - Never accept while draining or paused.
//  - Waiting capacity = usable idle children + starting children + children the planner may
//    still spawn (spawn_headroom): clients that will be served without a busy line.
//  - Without a user-space queue (queue_capacity 0): accept while fewer clients are queued
//    than the waiting capacity; beyond it the kernel backlog holds new clients.
//  - With a queue: keep accepting, so that clients the pool cannot take get a busy line at
//    once instead of waiting unseen in the kernel backlog; admit() queues a client while
//    queued < waiting capacity + queue_capacity and rejects it (busy line) beyond.
// The view is taken BEFORE the new connection is queued. In an accept loop the caller
// rebuilds the view and asks shouldAccept() again after each connection. admit() looks at
// capacity only: draining and paused are shouldAccept()'s concern.
#pragma once

#include <cstddef>

namespace preforkd {

struct AdmissionView {
  bool draining = false;
  bool paused = false;
  std::size_t usable_idle = 0;     // idle children assign() may use now
  std::size_t starting = 0;        // children that will be idle once they say Ready
  std::size_t spawn_headroom = 0;  // children the pool may still start (max_children - active)
  std::size_t queued = 0;          // connections waiting for a child
  std::size_t queue_capacity = 0;  // the user-space queue's size beyond the waiting capacity
};

// Arm the listeners?
bool shouldAccept(const AdmissionView& view);

enum class Admission { Queue, RejectQueueFull };

const char* toString(Admission admission) noexcept;

// For one more freshly accepted connection (the view taken before it is queued).
Admission admit(const AdmissionView& view);

}  // namespace preforkd
