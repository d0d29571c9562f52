// Supervisor: the parent process. One libevent loop that owns the listeners, the children's
// channels, the control socket and the signals, and turns their events into calls on the
// Dispatcher (policy) and into syscalls (mechanism).
//
// Data flow: listener readable -> accept (only while a child is idle) -> Dispatcher::submit ->
// assign -> sendMessage(Connection + fd) on the child's channel -> the child says Taken (we
// drop our copy of the fd) ... Available (the child is idle again).
//
// Contract: the constructor does all start-up work that can fail for environmental reasons
// (bind, control socket) and throws StartupError; run() returns the process exit status once
// a shutdown (SIGTERM/SIGINT) has reaped every child. Runtime trouble from clients, children
// or the kernel is logged, counted and survived. Not copyable; one per process.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status_protocol.h"
#include "common/unique_fd.h"
#include "supervisor/control_actions.h"
#include "supervisor/control_socket.h"
#include "supervisor/dispatcher.h"
#include "supervisor/event_loop.h"
#include "supervisor/listener.h"
#include "supervisor/respawn_brake.h"
#include "supervisor/stats.h"
#include "supervisor/supervisor_config.h"

namespace preforkd {

struct StartupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Supervisor {
 public:
  explicit Supervisor(SupervisorConfig config);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  int run();

  StatsSnapshot snapshot() const;

 private:
  // One live child's mechanism side (its policy side is the ChildTable record).
  struct ChildProcess {
    UniqueFd channel;
    EventPtr channel_event;
    Supervisor* owner = nullptr;  // the channel event's callback argument is this record
    SlotId slot = -1;
  };
  struct PendingConnection {
    UniqueFd fd;  // the supervisor's copy, kept until the child says Taken
    SocketAddress peer;
  };
  struct ListenerSlot {
    Listener listener;
    EventPtr event;
  };

  // libevent trampolines (noexcept; forward to members below).
  static void onListenerReadable(evutil_socket_t fd, short, void* arg) noexcept;
  static void onChannelReadable(evutil_socket_t fd, short, void* arg) noexcept;
  static void onSignal(evutil_socket_t sig, short, void* arg) noexcept;
  static void onTimer(evutil_socket_t, short, void* arg) noexcept;

  void acceptFrom(int listen_fd);
  // Reads up to `max_messages` records (or until the channel is empty or closed).
  void readChannel(SlotId slot, int max_messages);
  void handleStatus(SlotId slot, std::string_view record);
  void channelClosed(SlotId slot);
  void reapChildren();
  void childReaped(SlotId slot, int wait_status);
  void pump();
  void sendAssignment(const Assignment& a);
  void setListening(bool on);
  bool wantsAccept() const;
  void maintainPool();
  bool spawnOne();
  void beginShutdown(int sig);
  void shutdownDeadline();
  void killRemaining();
  void signalLiveChildren(int sig);
  void checkReadyAndDone();
  ControlActions controlActions();  // for the control socket

  SupervisorConfig config_;
  TimePoint started_at_;
  EventBasePtr base_;
  std::vector<ListenerSlot> listeners_;
  std::unique_ptr<ControlSocket> control_;
  Dispatcher dispatcher_;
  std::vector<ChildProcess> procs_;  // by slot
  std::unordered_map<ConnectionId, PendingConnection> conns_;
  ConnectionId next_conn_id_ = 1;
  RespawnBrake brake_;
  SupervisorCounters counters_;

  std::vector<EventPtr> signal_events_;
  EventPtr respawn_timer_, accept_resume_timer_, shutdown_timer_, kill_timer_;
  // Timer callbacks need to know which timer fired.
  struct TimerArg { Supervisor* self; int which; };
  TimerArg timer_args_[4];

  bool listening_ = false;
  bool accept_paused_ = false;     // after EMFILE & co., until the resume timer fires
  TimePoint last_accept_error_log_{};
  bool announced_ready_ = false;
  bool shutting_down_ = false;
  bool killing_ = false;
};

}  // namespace preforkd
