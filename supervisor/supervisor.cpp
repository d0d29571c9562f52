#include "supervisor/supervisor.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "common/fd_passing.h"
#include "common/logging.h"
#include "preforkd/version.h"
#include "supervisor/control_commands.h"
#include "supervisor/listener_stats.h"
#include "supervisor/spawner.h"

namespace preforkd {
namespace {

enum Timer { kRespawnTimer = 0, kAcceptResumeTimer = 1, kShutdownTimer = 2, kKillTimer = 3 };

constexpr int kMaxAcceptsPerWakeup = 64;   // fairness with the rest of the loop
constexpr int kMaxChannelDrain = 64;  // records a dead child can have left (bounded anyway)
constexpr std::chrono::milliseconds kAcceptResumeDelay{100};

std::string describeWaitStatus(int st) {
  if (WIFEXITED(st)) return fmt::format("exited with status {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    return fmt::format("killed by signal {} ({}){}", WTERMSIG(st), strsignal(WTERMSIG(st)),
                       WCOREDUMP(st) ? ", core dumped" : "");
  }
  return fmt::format("changed state (wait status {:#x})", st);
}

void addTimer(event* ev, std::chrono::milliseconds delay) {
  const timeval tv = toTimeval(delay);
  event_add(ev, &tv);
}

}  // namespace

Supervisor::Supervisor(SupervisorConfig config)
    : config_(std::move(config)),
      started_at_(Clock::now()),
      dispatcher_(config_.pool.workers),
      procs_(config_.pool.workers) {
  for (std::size_t i = 0; i < procs_.size(); ++i) {
    procs_[i].owner = this;
    procs_[i].slot = static_cast<SlotId>(i);
  }
  // A vanished peer must give EPIPE, never kill the supervisor (all sends also use
  // MSG_NOSIGNAL; this covers anything that does not).
  std::signal(SIGPIPE, SIG_IGN);
  event_config* cfg = event_config_new();
  base_.reset(event_base_new_with_config(cfg));
  event_config_free(cfg);
  if (!base_) throw StartupError("cannot create the event loop");

  for (const SocketAddress& addr : config_.listen) {
    try {
      listeners_.push_back({openListener(addr, config_.backlog), nullptr});
    } catch (const std::runtime_error& e) {
      throw StartupError(e.what());
    }
  }
  for (ListenerSlot& l : listeners_) {
    l.event.reset(event_new(base_.get(), l.listener.fd.get(), EV_READ | EV_PERSIST,
                            &onListenerReadable, this));
    if (!l.event) throw StartupError("cannot register a listener with the event loop");
    spdlog::info("listening on {}", l.listener.address);
  }
  if (!config_.control_socket.empty()) {
    try {
      control_ = std::make_unique<ControlSocket>(base_.get(), config_.control_socket,
                                                 config_.control,
                                                 makeControlHandler(controlActions()));
    } catch (const std::runtime_error& e) {
      throw StartupError(e.what());
    }
  }
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) {
    EventPtr ev(evsignal_new(base_.get(), sig, &onSignal, this));
    if (!ev || event_add(ev.get(), nullptr) != 0) throw StartupError("cannot watch signals");
    signal_events_.push_back(std::move(ev));
  }
  EventPtr* timers[] = {&respawn_timer_, &accept_resume_timer_, &shutdown_timer_, &kill_timer_};
  for (int i = 0; i < 4; ++i) {
    timer_args_[i] = {this, i};
    timers[i]->reset(evtimer_new(base_.get(), &onTimer, &timer_args_[i]));
    if (!*timers[i]) throw StartupError("cannot create timers");
  }
}

Supervisor::~Supervisor() {
  // Children are normally all reaped by run(); if we got here early (an exception during
  // start-up), make sure none outlives us.
  signalLiveChildren(SIGKILL);
  for (const ChildRecord& c : dispatcher_.children().slots()) {
    if (c.state != ChildState::Empty) ::waitpid(c.pid, nullptr, 0);
  }
}

int Supervisor::run() {
  if (config_.worker_exec.empty()) {
    spdlog::info("preforkd {} starting {} workers (service {})", PREFORKD_VERSION,
                 config_.pool.workers, config_.worker.service);
  } else {
    spdlog::info("preforkd {} starting {} workers (exec {})", PREFORKD_VERSION, config_.pool.workers,
                 fmt::join(config_.worker_exec, " "));
  }
  maintainPool();
  event_base_dispatch(base_.get());
  spdlog::info("stopped: {} connections accepted, {} served, {} redispatched, {} dropped",
               counters_.accepted, counters_.completed, dispatcher_.redispatched(),
               counters_.dropped);
  return 0;  // a shutdown that reaped every child is a clean exit
}

// ---------------------------------------------------------------- trampolines

void Supervisor::onListenerReadable(evutil_socket_t fd, short, void* arg) noexcept {
  try {
    static_cast<Supervisor*>(arg)->acceptFrom(fd);
  } catch (const std::exception& e) {
    spdlog::critical("bug: exception while accepting: {}", e.what());
    std::abort();
  }
}

void Supervisor::onChannelReadable(evutil_socket_t, short, void* arg) noexcept {
  auto* proc = static_cast<ChildProcess*>(arg);
  Supervisor* self = proc->owner;
  try {
    // One record per wake-up: epoll is level-triggered, so a second queued record brings us
    // back on the next round, and the common single record costs no EAGAIN read.
    self->readChannel(proc->slot, 1);
    self->pump();
  } catch (const std::exception& e) {
    spdlog::critical("bug: exception on a child channel: {}", e.what());
    std::abort();
  }
}

void Supervisor::onSignal(evutil_socket_t sig, short, void* arg) noexcept {
  auto* self = static_cast<Supervisor*>(arg);
  try {
    switch (sig) {
      case SIGCHLD: self->reapChildren(); break;
      case SIGTERM:
      case SIGINT: self->beginShutdown(sig); break;
      case SIGHUP: spdlog::warn("SIGHUP: reload is not supported yet; ignored"); break;
      default: break;
    }
    self->pump();
  } catch (const std::exception& e) {
    spdlog::critical("bug: exception handling signal {}: {}", sig, e.what());
    std::abort();
  }
}

void Supervisor::onTimer(evutil_socket_t, short, void* arg) noexcept {
  auto* t = static_cast<TimerArg*>(arg);
  Supervisor* self = t->self;
  try {
    switch (t->which) {
      case kRespawnTimer: self->spawnOne(); break;
      case kAcceptResumeTimer: self->accept_paused_ = false; break;
      case kShutdownTimer: self->shutdownDeadline(); break;
      case kKillTimer: self->killRemaining(); break;
      default: break;
    }
    self->pump();
  } catch (const std::exception& e) {
    spdlog::critical("bug: exception in timer {}: {}", t->which, e.what());
    std::abort();
  }
}

// ---------------------------------------------------------------- accepting

void Supervisor::acceptFrom(int listen_fd) {
  for (int i = 0; i < kMaxAcceptsPerWakeup && wantsAccept() && !accept_paused_; ++i) {
    AcceptResult r = acceptOne(listen_fd);
    if (r.outcome == AcceptOutcome::Drained) break;
    if (r.outcome == AcceptOutcome::Transient) {
      spdlog::debug("accept: {} (skipped)", std::strerror(r.error));
      continue;
    }
    if (r.outcome == AcceptOutcome::ResourceLimit) {
      // Retrying now would spin: the pending connection keeps the listener readable. Pause
      // accepting and retry from a timer; log at most once a second.
      ++counters_.accept_errors;
      accept_paused_ = true;
      addTimer(accept_resume_timer_.get(), kAcceptResumeDelay);
      const TimePoint now = Clock::now();
      if (now - last_accept_error_log_ >= std::chrono::seconds(1)) {
        last_accept_error_log_ = now;
        spdlog::error("accept: {}; pausing accepts for {} ms ({} such errors so far)",
                      std::strerror(r.error), kAcceptResumeDelay.count(), counters_.accept_errors);
      }
      break;
    }
    const ConnectionId id = next_conn_id_++;
    ++counters_.accepted;
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("connection {} accepted from {}", id, formatAddress(r.peer));
    }
    conns_.emplace(id, PendingConnection{std::move(r.fd), r.peer});
    dispatcher_.submit(id, Clock::now());
  }
  pump();
}

bool Supervisor::wantsAccept() const {
  return !dispatcher_.draining() && dispatcher_.usableIdle() > dispatcher_.queued();
}

void Supervisor::setListening(bool on) {
  if (on == listening_) return;
  listening_ = on;
  for (ListenerSlot& l : listeners_) {
    if (!l.event) continue;
    if (on) {
      event_add(l.event.get(), nullptr);
    } else {
      event_del(l.event.get());
    }
  }
}

// ---------------------------------------------------------------- hand-off

// After every event: hand queued connections to idle children, then decide whether to listen.
void Supervisor::pump() {
  for (;;) {
    const auto assignments = dispatcher_.assign(Clock::now());
    if (assignments.empty()) break;
    for (const Assignment& a : assignments) sendAssignment(a);
  }
  setListening(!shutting_down_ && !accept_paused_ && wantsAccept());
  checkReadyAndDone();
}

void Supervisor::sendAssignment(const Assignment& a) {
  auto it = conns_.find(a.conn);
  if (it == conns_.end()) {
    spdlog::critical("bug: connection {} assigned but unknown", a.conn);
    std::abort();
  }
  ChildProcess& proc = procs_[static_cast<std::size_t>(a.slot)];
  const std::string record = encodeCommand({.type = CommandType::Connection, .conn_id = a.conn});
  const int err = proc.channel ? sendMessage(proc.channel.get(), std::as_bytes(std::span(record)),
                                             it->second.fd.get())
                               : EBADF;
  if (err == 0) {
    ++counters_.dispatched;
    if (ChildRecord* c = dispatcher_.children().find(a.slot)) c->conn_peer = it->second.peer;
    return;
  }
  // The child is dead or wedged: it can never take this client. Requeue (front) and retire
  // the child; the next assign() round gives the client to someone else.
  const ChildRecord* child = dispatcher_.children().find(a.slot);
  spdlog::warn("handing connection {} to worker {} failed: {}; redispatching", a.conn,
               child ? child->pid : -1, std::strerror(err));
  dispatcher_.onSendFailed(a.slot, Clock::now());
  if (child && child->pid > 0) ::kill(child->pid, SIGKILL);
}

void Supervisor::readChannel(SlotId slot, int max_messages) {
  ChildProcess& proc = procs_[static_cast<std::size_t>(slot)];
  for (int i = 0; i < max_messages && proc.channel; ++i) {
    ReceivedMessage msg = receiveMessage(proc.channel.get());
    switch (msg.status) {
      case ReceiveStatus::Message:
        if (msg.fd) {
          ++counters_.bad_messages;
          spdlog::warn("worker in slot {} sent a descriptor; closed it", slot);
        }
        handleStatus(slot, msg.payload);
        break;
      case ReceiveStatus::WouldBlock:
        return;
      case ReceiveStatus::PeerClosed:
        channelClosed(slot);
        return;
      case ReceiveStatus::Error:
        // ECONNRESET: the worker died with our last command unread; that is just its end.
        if (msg.error != ECONNRESET) {
          spdlog::warn("channel of slot {}: {}", slot, std::strerror(msg.error));
        }
        channelClosed(slot);
        return;
      case ReceiveStatus::BadControl:
      case ReceiveStatus::Truncated:
        ++counters_.bad_messages;
        spdlog::warn("channel of slot {}: {} message ignored", slot, toString(msg.status));
        break;
    }
  }
}

void Supervisor::handleStatus(SlotId slot, std::string_view record) {
  ChildRecord* child = dispatcher_.children().find(slot);
  const pid_t pid = child ? child->pid : -1;
  std::string why;
  const auto status = decodeStatus(record, &why);
  if (!status) {
    ++counters_.bad_messages;
    spdlog::warn("worker {}: bad status message: {}", pid, why);
    return;
  }
  const TimePoint now = Clock::now();
  Verdict verdict = Verdict::Ok;
  switch (status->type) {
    case StatusType::Ready:
      verdict = dispatcher_.onReady(slot, now);
      if (verdict == Verdict::Ok) {
        spdlog::debug("worker {} ready", pid);
        if (brake_.throttled()) spdlog::info("worker {} started fine: respawn brake released", pid);
        brake_.onHealthyStart();
        maintainPool();  // after throttling, fill the rest of the pool now
      }
      break;
    case StatusType::Taken:
      verdict = dispatcher_.onTaken(slot, status->conn_id, now);
      if (verdict == Verdict::Ok) conns_.erase(status->conn_id);  // closes our copy
      break;
    case StatusType::Available:
      verdict = dispatcher_.onAvailable(slot, status->conn_id, status->bytes_in,
                                        status->bytes_out, now);
      if (verdict != Verdict::Unexpected) ++counters_.completed;
      break;
    case StatusType::Quitting:
      spdlog::debug("worker {} quitting: {}", pid, toString(status->reason));
      dispatcher_.onChildLost(slot, now);
      break;
  }
  if (verdict == Verdict::Unexpected) {
    ++counters_.bad_messages;
    spdlog::warn("worker {}: unexpected {} (connection {}) in state {}: ignored", pid,
                 toString(status->type), status->conn_id, child ? toString(child->state) : "?");
  }
}

void Supervisor::channelClosed(SlotId slot) {
  ChildProcess& proc = procs_[static_cast<std::size_t>(slot)];
  // Stop watching first: an EOF stays readable forever and would spin the loop.
  proc.channel_event.reset();
  proc.channel.reset();
  if (auto conn = dispatcher_.onChildLost(slot, Clock::now())) {
    spdlog::info("worker in slot {} went away before taking connection {}: redispatching", slot,
                 *conn);
  }
}

// ---------------------------------------------------------------- children

void Supervisor::reapChildren() {
  for (;;) {
    int st = 0;
    const pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid == 0) return;
    if (pid < 0) {
      if (errno == EINTR) continue;
      if (errno != ECHILD) spdlog::error("waitpid: {}", std::strerror(errno));
      return;
    }
    ChildRecord* child = dispatcher_.children().findByPid(pid);
    if (child == nullptr) {
      spdlog::debug("reaped unknown process {}: {}", pid, describeWaitStatus(st));
      continue;
    }
    childReaped(child->slot, st);
  }
}

void Supervisor::childReaped(SlotId slot, int wait_status) {
  // Read what it said before it died: a Taken still in the channel decides whether its
  // client must be redispatched or was already in its hands.
  if (procs_[static_cast<std::size_t>(slot)].channel) readChannel(slot, kMaxChannelDrain);
  ChildRecord& child = *dispatcher_.children().find(slot);
  const pid_t pid = child.pid;
  ++counters_.children_exited;
  const bool expected = child.stop_requested && WIFEXITED(wait_status) &&
                        WEXITSTATUS(wait_status) == 0;
  if (child.conn && child.conn_taken) {
    ++counters_.lost_in_service;
    spdlog::warn("worker {} died while serving connection {}", pid, *child.conn);
  }
  if (!child.ever_ready) {
    ++counters_.start_failures;
    brake_.onStartFailure();
  }
  if (expected) {
    spdlog::debug("worker {} {}", pid, describeWaitStatus(wait_status));
  } else if (shutting_down_) {
    spdlog::info("worker {} {}", pid, describeWaitStatus(wait_status));
  } else {
    spdlog::warn("worker {} {}{}", pid, describeWaitStatus(wait_status),
                 child.ever_ready ? "" : " before it was ready");
  }
  channelClosed(slot);
  dispatcher_.children().remove(slot);
  maintainPool();
}

void Supervisor::maintainPool() {
  if (shutting_down_) return;
  const ChildTable& table = dispatcher_.children();
  if (table.live() >= config_.pool.workers) return;
  if (!brake_.throttled()) {
    while (table.live() < config_.pool.workers) {
      if (!spawnOne()) return;
    }
    return;
  }
  // Throttled: one probe child at a time, after the back-off delay.
  if (table.count(ChildState::Starting) > 0 || evtimer_pending(respawn_timer_.get(), nullptr)) {
    return;
  }
  const auto delay = brake_.delay();
  spdlog::warn("workers fail at start-up ({} in a row): next attempt in {} ms", brake_.failures(),
               delay.count());
  addTimer(respawn_timer_.get(), delay);
}

bool Supervisor::spawnOne() {
  if (shutting_down_) return false;
  const auto slot = dispatcher_.children().freeSlot();
  if (!slot) return false;
  SpawnedWorker w;
  try {
    w = spawnWorker(config_.worker, config_.worker_exec);
  } catch (const std::system_error& e) {
    spdlog::error("cannot start a worker: {}", e.what());
    brake_.onStartFailure();
    ++counters_.start_failures;
    if (!evtimer_pending(respawn_timer_.get(), nullptr)) addTimer(respawn_timer_.get(), brake_.delay());
    return false;
  }
  ++counters_.children_spawned;
  ChildProcess& proc = procs_[static_cast<std::size_t>(*slot)];
  proc.channel = std::move(w.channel);
  proc.channel_event.reset(event_new(base_.get(), proc.channel.get(), EV_READ | EV_PERSIST,
                                     &onChannelReadable, &proc));
  if (!proc.channel_event || event_add(proc.channel_event.get(), nullptr) != 0) {
    spdlog::critical("cannot watch a worker channel");
    std::abort();
  }
  dispatcher_.childStarted(*slot, w.pid, Clock::now());
  spdlog::debug("started worker {} in slot {}", w.pid, *slot);
  return true;
}

void Supervisor::signalLiveChildren(int sig) {
  for (const ChildRecord& c : dispatcher_.children().slots()) {
    if (c.state != ChildState::Empty && c.pid > 0) ::kill(c.pid, sig);
  }
}

// ---------------------------------------------------------------- shutdown

void Supervisor::beginShutdown(int sig) {
  if (shutting_down_) {
    if (!killing_) {
      spdlog::warn("{} again: not waiting for busy workers", strsignal(sig));
      event_del(shutdown_timer_.get());
      shutdownDeadline();
    }
    return;
  }
  shutting_down_ = true;
  spdlog::info("{}: shutting down (busy workers get up to {} ms to finish)", strsignal(sig),
               config_.lifecycle.shutdown_timeout.count());
  setListening(false);
  // Close the listeners now: new clients are refused instead of waiting in a backlog that
  // nobody will ever accept from.
  for (ListenerSlot& l : listeners_) {
    l.event.reset();
    l.listener.fd.reset();
  }
  event_del(respawn_timer_.get());
  event_del(accept_resume_timer_.get());
  pump();  // queued connections still go to idle children
  const std::string stop = encodeCommand({.type = CommandType::Stop});
  dispatcher_.beginDrain(Clock::now());
  for (const ChildRecord& c : dispatcher_.children().slots()) {
    if (c.state == ChildState::Empty) continue;
    ChildProcess& proc = procs_[static_cast<std::size_t>(c.slot)];
    if (proc.channel) sendMessage(proc.channel.get(), std::as_bytes(std::span(stop)));
  }
  addTimer(shutdown_timer_.get(), config_.lifecycle.shutdown_timeout);
}

void Supervisor::shutdownDeadline() {
  for (ConnectionId id : dispatcher_.dropQueued()) {
    ++counters_.dropped;
    spdlog::warn("connection {} from {} closed unserved at shutdown", id,
                 formatAddress(conns_[id].peer));
    conns_.erase(id);
  }
  const std::size_t left = dispatcher_.children().live();
  if (left > 0) {
    spdlog::warn("shutdown: {} worker(s) still running: sending SIGTERM", left);
    signalLiveChildren(SIGTERM);
    killing_ = true;
    addTimer(kill_timer_.get(), config_.lifecycle.kill_grace);
  }
}

void Supervisor::killRemaining() {
  const std::size_t left = dispatcher_.children().live();
  if (left == 0) return;
  spdlog::warn("shutdown: {} worker(s) ignored SIGTERM: sending SIGKILL", left);
  signalLiveChildren(SIGKILL);
}

void Supervisor::checkReadyAndDone() {
  if (!announced_ready_ && !shutting_down_ &&
      dispatcher_.children().count(ChildState::Idle) + dispatcher_.children().count(ChildState::Busy) >=
          config_.pool.workers) {
    announced_ready_ = true;
    std::string addrs;
    for (const ListenerSlot& l : listeners_) addrs += (addrs.empty() ? "" : ", ") + l.listener.address;
    spdlog::info("ready: {} workers serving {}", config_.pool.workers, addrs);
  }
  if (shutting_down_ && dispatcher_.children().live() == 0) {
    for (ConnectionId id : dispatcher_.dropQueued()) {
      ++counters_.dropped;
      conns_.erase(id);
    }
    event_base_loopexit(base_.get(), nullptr);
  }
}

// ---------------------------------------------------------------- stats

StatsSnapshot Supervisor::snapshot() const {
  StatsSnapshot s;
  const ChildTable& t = dispatcher_.children();
  s.pid = ::getpid();
  s.version = PREFORKD_VERSION;
  s.now = Clock::now();
  s.uptime = std::chrono::duration_cast<std::chrono::milliseconds>(s.now - started_at_);
  for (const ListenerSlot& l : listeners_) {
    if (l.listener.fd) s.listeners.push_back(l.listener.address);
  }
  s.service = config_.worker.service;
  s.workers_configured = config_.pool.workers;
  s.workers_total = t.live();
  s.idle = t.count(ChildState::Idle);
  s.busy = t.count(ChildState::Busy);
  s.starting = t.count(ChildState::Starting);
  s.stopping = t.count(ChildState::Stopping);
  s.queued = dispatcher_.queued();
  s.redispatched = dispatcher_.redispatched();
  s.throttled = brake_.throttled();
  s.draining = shutting_down_;
  s.counters = counters_;
  for (const ChildRecord& c : t.slots()) {
    if (c.state != ChildState::Empty) s.children.push_back(c);
  }
  return s;
}

// ---------------------------------------------------------------- control actions

// What the control socket may ask. Admin actions the pool does not offer yet answer
// "not available yet" (the command layer turns that into an ERROR line).
ControlActions Supervisor::controlActions() {
  ControlActions a;
  a.snapshot = [this] {
    StatsSnapshot s = snapshot();
    // Filled here while snapshot() leaves them empty: listen queues (TCP_INFO), connections in
    // service, and the wall-clock start time.
    if (s.listener_stats.empty()) {
      for (const ListenerSlot& l : listeners_) {
        if (!l.listener.fd) continue;
        s.listener_stats.push_back(readListenerStats(l.listener.fd.get(), l.listener.address));
      }
    }
    if (s.connections.empty()) {
      for (const ChildRecord& c : s.children) {
        if (!c.conn) continue;
        ConnectionRow row;
        row.id = *c.conn;
        row.child_pid = c.pid;
        const auto pending = conns_.find(*c.conn);
        if (c.conn_peer.length > 0) {
          row.peer = formatAddress(c.conn_peer);
        } else if (pending != conns_.end()) {
          row.peer = formatAddress(pending->second.peer);
        }
        row.state = c.conn_taken ? "in-service" : "handing-off";
        row.age = s.now - c.conn_queued_at;
        row.queue_wait = c.conn_assigned_at - c.conn_queued_at;
        s.connections.push_back(std::move(row));
      }
    }
    if (s.started_at == TimePoint{}) s.started_at = started_at_;
    if (s.started_wall == std::chrono::system_clock::time_point{}) {
      s.started_wall = std::chrono::system_clock::now() -
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           Clock::now() - started_at_);
    }
    return s;
  };
  const std::string not_yet = "not available yet";
  a.set_workers = [not_yet](std::size_t) { return not_yet; };
  a.set_policy = [not_yet](std::string_view) { return not_yet; };
  a.drain_worker = [not_yet](pid_t) { return not_yet; };
  a.kill_worker = [not_yet](pid_t) { return not_yet; };
  a.kill_conn = [not_yet](ConnectionId) { return not_yet; };
  a.reload = [not_yet](std::function<void(std::string)> done) { done(not_yet); };
  a.clear_counters = [this] { counters_ = SupervisorCounters{}; };
  a.reopen_logs = [] { return reopenLogs(); };
  a.shutdown = [this](bool graceful) {
    beginShutdown(SIGTERM);
    if (!graceful) beginShutdown(SIGTERM);  // the second request skips the wait
    return std::string();
  };
  return a;
}

}  // namespace preforkd
