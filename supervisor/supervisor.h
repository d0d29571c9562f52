// Supervisor: the parent process. One libevent loop that owns the listeners, the children's
// channels, the control socket and the signals, and turns their events into calls on the
// pure policy objects (Dispatcher, PoolPlanner, time limits, admission) and into syscalls.
//
// Data flow: listener readable -> accept (per-source cap, admission) -> Dispatcher::submit ->
// assign -> sendMessage(Connection + fd) on the child's channel -> the child says Taken (we
// drop our copy of the fd) ... Available (the child is idle again, or retired: Stop).
//
// Lifecycle: the pool is sized by the PoolPlanner after every event that changes it; a
// maintenance tick (only while something is pending) enforces time limits, queue deadlines
// and the planner's pacing. Signals: TERM graceful shutdown, INT/QUIT fast shutdown, HUP
// reload (a new generation), TTIN/TTOU one worker more/fewer, USR1 reopen logs, USR2 hot
// upgrade (see upgrade.h).
//
// Contract: the constructor does all start-up work that can fail for environmental reasons
// (bind, control socket) and throws StartupError; run() returns the process exit status once
// a shutdown has reaped every child. Runtime trouble from clients, children or the kernel is
// logged, counted and survived. Not copyable; one per process.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status_protocol.h"
#include "common/taken_slot.h"
#include "common/unique_fd.h"
#include "supervisor/admission.h"
#include "supervisor/agent_answer.h"
#include "supervisor/agent_endpoint.h"
#include "supervisor/control_actions.h"
#include "supervisor/control_socket.h"
#include "supervisor/crash_window.h"
#include "supervisor/dispatcher.h"
#include "supervisor/event_loop.h"
#include "supervisor/listener.h"
#include "supervisor/pool_planner.h"
#include "supervisor/respawn_brake.h"
#include "supervisor/source_limiter.h"
#include "supervisor/service_notifier.h"
#include "supervisor/stats.h"
#include "supervisor/supervisor_config.h"

namespace preforkd {

struct StartupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Re-reads the configuration for a reload (SIGHUP / `reload`): the new configuration, or
// nothing with *error saying why it was rejected.
using ConfigReloader = std::function<std::optional<SupervisorConfig>(std::string* error)>;

// How to start this program again for a hot upgrade.
struct ProgramImage {
  std::string exe;                // resolved path of the binary
  std::vector<std::string> argv;  // the original command line, argv[0] included
};

class Supervisor {
 public:
  explicit Supervisor(SupervisorConfig config, ConfigReloader reloader = {},
                      ProgramImage image = {});
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
    TakenSlot taken;              // a forked worker records Taken here (empty: exec'd worker)
    bool awaiting_take = false;   // in awaiting_take_: handed a connection, Taken not seen yet
    Supervisor* owner = nullptr;  // the channel event's callback argument is this record
    SlotId slot = -1;
  };
  struct PendingConnection {
    UniqueFd fd;  // the supervisor's copy, kept until we see the child's Taken
    SocketAddress peer;
    TimePoint accepted_at{};
    // Whether fd carries SO_RCVTIMEO = kClientReadWake (inherited from the listener at
    // accept); nullopt: unknown (handed over by a hot upgrade's predecessor).
    std::optional<bool> read_wake;
  };
  struct ListenerSlot {
    Listener listener;
    EventPtr event;
  };
  struct Timer {
    EventPtr event;
    Supervisor* self = nullptr;
    void (Supervisor::*fire)() = nullptr;
  };
  // The old side of a hot upgrade in progress.
  struct UpgradeInProgress {
    pid_t pid = -1;
    UniqueFd channel;
    EventPtr channel_event;
    TimePoint started_at{};
    bool term_sent = false;
  };

  // libevent trampolines (noexcept; forward to members below).
  static void onListenerReadable(evutil_socket_t fd, short, void* arg) noexcept;
  static void onChannelReadable(evutil_socket_t fd, short, void* arg) noexcept;
  static void onSignal(evutil_socket_t sig, short, void* arg) noexcept;
  static void onTimer(evutil_socket_t, short, void* arg) noexcept;
  static void onUpgradeChannel(evutil_socket_t, short, void* arg) noexcept;
  static void onPredecessorChannel(evutil_socket_t, short, void* arg) noexcept;

  // --- start-up
  void openListeners();
  // Sets the listeners' read timeout for the current kind of worker (forked: kClientReadWake,
  // exec'd: none; common/client_read_wake.h).
  void applyListenerReadWake();
  void openControlSocket();
  void openAgent();
  void makeTimer(Timer& t, void (Supervisor::*fire)());
  void arm(Timer& t, std::chrono::milliseconds delay);

  // --- accepting and hand-off
  void acceptFrom(int listen_fd);  // an event: acceptBatch, then pump
  // Accepts and admits up to kMaxAcceptsPerWakeup clients while shouldAccept(); returns how
  // many. acceptWaiting() does it for every listener (from pump, listeners disarmed).
  int acceptBatch(int listen_fd);
  int acceptWaiting();
  void admitConnection(UniqueFd fd, const SocketAddress& peer, TimePoint now, bool handed_over);
  void rejectConnection(int fd, const std::string& line);
  void finishConnection(const SocketAddress& peer);
  // Removes a not-yet-taken connection (queued) from our table and releases its source
  // count; the caller may still write to it before the returned fd closes.
  std::optional<PendingConnection> takePending(ConnectionId id);
  void storePending(ConnectionId id, PendingConnection pc);
  void erasePending(ConnectionId id);  // closes the supervisor's copy
  AdmissionView admissionView() const;
  void setListening(bool on);
  void pump();
  void handOutQueued();  // assign() and send until no queued client meets an idle worker
  void sendAssignment(const Assignment& a);
  void sendStop(SlotId slot);
  // Taken, however it arrived (a message, or the worker's TakenSlot): the dispatcher learns
  // it and our copy of the client fd closes.
  Verdict connectionTaken(SlotId slot, ConnectionId conn, TimePoint when);
  // Looks in one forked worker's TakenSlot / in those of every worker in awaiting_take_.
  // Called before anything that needs to know (its status messages, its loss, time limits,
  // control commands) and after every event (pump), which also drops our fd copies promptly.
  // observeTaken returns whether that worker still has a hand-off whose Taken is unseen.
  bool observeTaken(SlotId slot);
  void observePendingTakes();

  // --- children
  void readChannel(SlotId slot, int max_messages);
  void handleStatus(SlotId slot, std::string_view record);
  void channelClosed(SlotId slot);
  void reapChildren();
  void childReaped(SlotId slot, int wait_status);
  void planPool();
  bool crashLoop(TimePoint now) const;  // crash-limit crashes within the crash interval
  bool throttled(TimePoint now) const;  // respawns paced by the brake
  bool spawnOne();
  ChildProcess& proc(SlotId slot) { return *procs_[static_cast<std::size_t>(slot)]; }
  void signalLiveChildren(int sig);
  void checkGenerationUp();

  // --- maintenance tick
  void tick();
  void armTickIfNeeded();
  void enforceTimeLimits(TimePoint now);
  void expireQueue(TimePoint now);
  void terminate(ChildRecord& child, TimePoint now);

  // --- operator actions (signals and the control socket)
  // SIGTERM / `shutdown`: with an agent endpoint, announce the drain first (see AgentSettings).
  void requestShutdown(bool graceful, const char* why);
  void announceOver();
  void beginShutdown(bool graceful, const char* why);
  std::string setDrain(bool on, const char* why);
  // --- the HAProxy agent
  AgentView agentView(TimePoint now) const;
  void noteAgentState();  // one log line per state transition
  void shutdownDeadline();
  void shutdownTerm();
  void killRemaining();
  void reload(std::function<void(std::string)> done);
  std::string setWorkers(std::size_t n, const char* why);
  std::size_t poolSize() const;
  void reopenLogFiles();
  void beginUpgrade();
  void upgradeMessage();
  void upgradeFailed(const std::string& why);
  void upgradeDeadline();
  void predecessorMessage();
  void checkReadyAndDone();
  void respawnTimerFired();
  void acceptResumeTimerFired();
  ControlActions controlActions();  // for the control socket

  SupervisorConfig config_;
  ConfigReloader reloader_;
  ProgramImage image_;
  TimePoint started_at_;
  std::chrono::system_clock::time_point started_wall_;
  EventBasePtr base_;
  std::vector<ListenerSlot> listeners_;
  bool listeners_read_wake_ = false;  // what applyListenerReadWake() set last
  std::unique_ptr<ControlSocket> control_;
  Dispatcher dispatcher_;
  PoolPlanner planner_;
  std::vector<std::unique_ptr<ChildProcess>> procs_;  // by slot; pointers stay valid as it grows
  std::vector<SlotId> awaiting_take_;  // forked workers handed a connection, Taken not seen yet
  std::unordered_map<ConnectionId, PendingConnection> conns_;
  static constexpr std::size_t kSparePendingNodes = 64;
  std::vector<std::unordered_map<ConnectionId, PendingConnection>::node_type> spare_conn_nodes_;
  ConnectionId next_conn_id_ = 1;
  RespawnBrake brake_;
  CrashWindow crashes_;
  SourceLimiter sources_;
  SupervisorCounters counters_;
  SupervisorHistograms histograms_;
  std::mt19937_64 random_;
  std::string throttle_reason_;
  bool halted_ = false;  // a worker said "do not restart me": no spawns until reload
  std::optional<TimePoint> planner_recheck_;  // the planner wants to be asked again
  std::size_t escalations_ = 0;  // children sent SIGTERM and not yet SIGKILLed or reaped
  bool probe_due_ = false;  // throttled: the back-off delay is over, one child may start
  std::unique_ptr<ServiceNotifier> notifier_;  // systemd Type=notify: READY, STATUS, watchdog

  // The HAProxy agent endpoint (null when off) and the drain state it announces.
  std::unique_ptr<AgentEndpoint> agent_;
  std::optional<Listener> inherited_agent_;  // from systemd or a hot-upgrade predecessor
  struct DrainState {
    std::string reason;
    TimePoint since{};
  };
  std::optional<DrainState> drain_;
  std::optional<AgentState> agent_state_;  // last state logged
  const char* announce_why_ = "";           // the shutdown request waiting for the announce

  std::vector<EventPtr> signal_events_;
  Timer announce_timer_, respawn_timer_, accept_resume_timer_, shutdown_timer_, term_timer_, kill_timer_,
      tick_timer_, upgrade_timer_;
  static constexpr std::chrono::milliseconds kTickInterval{200};

  bool listening_ = false;
  bool accept_paused_ = false;     // after EMFILE & co., until the resume timer fires
  TimePoint last_accept_error_log_{};
  TimePoint last_max_children_log_{};
  bool announced_ready_ = false;
  bool shutting_down_ = false;
  bool killing_ = false;

  // Reload: callers waiting for the current generation to come up.
  std::vector<std::function<void(std::string)>> reload_waiters_;
  // Hot upgrade: the old side (we started a successor) and the new side (we are one).
  std::optional<UpgradeInProgress> upgrade_;
  UniqueFd predecessor_;
  EventPtr predecessor_event_;
  bool told_predecessor_ = false;
};

}  // namespace preforkd
