#include "supervisor/supervisor.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "common/client_read_wake.h"
#include "common/fd_passing.h"
#include "common/hot_path.h"
#include "common/logging.h"
#include "preforkd/version.h"
#include "supervisor/control_commands.h"
#include "supervisor/inherited_listeners.h"
#include "supervisor/listener_stats.h"
#include "supervisor/spawner.h"
#include "common/startup_code.h"
#include "supervisor/time_limits.h"
#include "supervisor/upgrade.h"

namespace preforkd {
namespace {

constexpr int kMaxAcceptsPerWakeup = 64;   // fairness with the rest of the loop
constexpr int kMaxChannelDrain = 64;  // records a dead child can have left (bounded anyway)
constexpr std::chrono::milliseconds kAcceptResumeDelay{100};
// Slots for all generations together: a full old generation draining beside a full new one.
constexpr std::size_t kMaxSlots = 2 * kMaxChildrenLimit;

std::string describeWaitStatus(int st) {
  if (WIFEXITED(st)) return fmt::format("exited with status {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    return fmt::format("killed by signal {} ({}){}", WTERMSIG(st), strsignal(WTERMSIG(st)),
                       WCOREDUMP(st) ? ", core dumped" : "");
  }
  return fmt::format("changed state (wait status {:#x})", st);
}

std::uint64_t nanos(std::chrono::nanoseconds d) {
  return d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
}

long long ms(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// The soft fd limit is raised to the hard one: every client costs the supervisor one fd
// while it is queued or handed off, and the default soft limit (1024) is low for a server.
void raiseFdLimit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  const rlim_t before = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) == 0) {
    spdlog::debug("raised the open-files limit from {} to {}", before, rl.rlim_max);
  } else {
    spdlog::warn("cannot raise the open-files limit from {}: {}", before, std::strerror(errno));
  }
}

}  // namespace

Supervisor::Supervisor(SupervisorConfig config, ConfigReloader reloader, ProgramImage image)
    : config_(std::move(config)),
      reloader_(std::move(reloader)),
      image_(std::move(image)),
      started_at_(Clock::now()),
      started_wall_(std::chrono::system_clock::now()),
      dispatcher_(std::min(kMaxSlots, std::max<std::size_t>(config_.pool.workers, 4))),
      planner_(config_.pool),
      brake_(RespawnBrake::ms(100), config_.lifecycle.respawn_backoff_max),
      crashes_(config_.lifecycle.crash_limit, config_.lifecycle.crash_interval),
      sources_(config_.overload.max_per_source),
      random_(std::random_device{}()) {
  // A vanished peer must give EPIPE, never kill the supervisor (all sends also use
  // MSG_NOSIGNAL; this covers anything that does not).
  std::signal(SIGPIPE, SIG_IGN);
  raiseFdLimit();
  for (std::size_t i = 0; i < dispatcher_.children().capacity(); ++i) {
    procs_.push_back(std::make_unique<ChildProcess>());
    procs_.back()->owner = this;
    procs_.back()->slot = static_cast<SlotId>(i);
  }
  dispatcher_.setPolicy(config_.pool.policy);
  event_config* cfg = event_config_new();
  base_.reset(event_base_new_with_config(cfg));
  event_config_free(cfg);
  if (!base_) throw StartupError("cannot create the event loop");
  notifier_ = std::make_unique<ServiceNotifier>(
      base_.get(), SystemdNotifier::fromEnvironment(), [this] {
        const ChildTable& t = dispatcher_.children();
        return formatNotifyStatus(t.count(ChildState::Idle), t.count(ChildState::Busy),
                                  dispatcher_.queued(), counters_.completed);
      });

  // A hot upgrade's successor: the previous supervisor is waiting on this channel.
  predecessor_ = takeUpgradeChannel();
  const Generation first = takeFirstGeneration();
  if (first > 1) dispatcher_.setGeneration(first);
  dispatcher_.generationUp(Clock::now());  // nothing older to wait for
  config_.worker.generation = first;

  openListeners();
  openControlSocket();
  openAgent();
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2}) {
    EventPtr ev(evsignal_new(base_.get(), sig, &onSignal, this));
    if (!ev || event_add(ev.get(), nullptr) != 0) throw StartupError("cannot watch signals");
    signal_events_.push_back(std::move(ev));
  }
  makeTimer(announce_timer_, &Supervisor::announceOver);
  makeTimer(respawn_timer_, &Supervisor::respawnTimerFired);
  makeTimer(accept_resume_timer_, &Supervisor::acceptResumeTimerFired);
  makeTimer(shutdown_timer_, &Supervisor::shutdownDeadline);
  makeTimer(term_timer_, &Supervisor::shutdownTerm);
  makeTimer(kill_timer_, &Supervisor::killRemaining);
  makeTimer(tick_timer_, &Supervisor::tick);
  makeTimer(upgrade_timer_, &Supervisor::upgradeDeadline);
  if (predecessor_) {
    predecessor_event_.reset(event_new(base_.get(), predecessor_.get(), EV_READ | EV_PERSIST,
                                       &onPredecessorChannel, this));
    if (!predecessor_event_ || event_add(predecessor_event_.get(), nullptr) != 0) {
      throw StartupError("cannot watch the upgrade channel");
    }
  }
}

Supervisor::~Supervisor() {
  // Children are normally all reaped by run(); if we got here early (an exception during
  // start-up), make sure none outlives us.
  signalLiveChildren(SIGKILL);
  for (const ChildRecord& c : dispatcher_.children().slots()) {
    if (c.state != ChildState::Empty) ::waitpid(c.pid, nullptr, 0);
  }
  if (upgrade_ && upgrade_->pid > 0) {
    ::kill(upgrade_->pid, SIGKILL);
    ::waitpid(upgrade_->pid, nullptr, 0);
  }
}

void Supervisor::openListeners() {
  std::vector<InheritedListener> inherited;
  try {
    inherited = takeInheritedListeners();
  } catch (const std::runtime_error& e) {
    throw StartupError(e.what());
  }
  // A socket named "agent" is the agent endpoint's (systemd's FileDescriptorName=, or a hot
  // upgrade's predecessor); every other one is a service listener.
  for (auto it = inherited.begin(); it != inherited.end(); ++it) {
    if (it->name == "agent") {
      inherited_agent_ = std::move(it->listener);
      inherited.erase(it);
      break;
    }
  }
  if (!inherited.empty()) {
    // Socket activation or a hot upgrade: the passed sockets are the listeners; --listen only
    // applies when nothing was passed.
    for (InheritedListener& l : inherited) {
      spdlog::info("using inherited listener {} (fd {}{})", l.listener.address, l.listener.fd.get(),
                   l.name.empty() ? "" : ", " + l.name);
      listeners_.push_back({std::move(l.listener), nullptr});
    }
  } else {
    for (const SocketAddress& addr : config_.listen) {
      try {
        listeners_.push_back({openListener(addr, config_.backlog), nullptr});
      } catch (const std::runtime_error& e) {
        throw StartupError(e.what());
      }
    }
  }
  try {
    applyListenerReadWake();
  } catch (const std::runtime_error& e) {
    throw StartupError(e.what());
  }
  for (ListenerSlot& l : listeners_) {
    l.event.reset(event_new(base_.get(), l.listener.fd.get(), EV_READ | EV_PERSIST,
                            &onListenerReadable, this));
    if (!l.event) throw StartupError("cannot register a listener with the event loop");
    spdlog::info("listening on {}", l.listener.address);
  }
}

void Supervisor::applyListenerReadWake() {
  // Forked workers wait for their clients in a blocking recv() that must wake every
  // kClientReadWake; a foreign exec'd program gets sockets without a timeout it never asked for.
  const bool wake = config_.worker_exec.empty();
  for (ListenerSlot& l : listeners_) {
    setClientReadWake(l.listener, wake ? kClientReadWake : std::chrono::milliseconds(0));
  }
  listeners_read_wake_ = wake;
}

void Supervisor::openControlSocket() {
  if (config_.control_socket.empty()) return;
  // A hot upgrade's successor binds beside the predecessor's socket (which still answers)
  // and renames it over the real path once it is ready.
  const std::string path =
      predecessor_ ? config_.control_socket + ".upgrade" : config_.control_socket;
  try {
    // Like every other event, a command is followed by pump(): a bigger pool starts its workers
    // now, a drain is announced now (an idle pool may see no other event for a long time).
    ControlHandler commands = makeControlHandler(controlActions());
    ControlHandler handler = [this, commands](std::string_view command, const ControlPeer& peer,
                                              ControlReply reply) {
      observePendingTakes();  // `show workers` and friends see every Taken recorded so far
      commands(command, peer, std::move(reply));
      pump();
    };
    control_ = std::make_unique<ControlSocket>(base_.get(), path, config_.control, std::move(handler));
  } catch (const std::runtime_error& e) {
    throw StartupError(e.what());
  }
}

void Supervisor::openAgent() {
  std::optional<Listener> l = std::move(inherited_agent_);
  inherited_agent_.reset();
  if (l) {
    spdlog::info("agent: using inherited socket {} (fd {})", l->address, l->fd.get());
  } else if (config_.agent.listen) {
    try {
      l = openListener(*config_.agent.listen, 64);
    } catch (const std::runtime_error& e) {
      throw StartupError(std::string("agent endpoint: ") + e.what());
    }
  } else {
    return;
  }
  try {
    agent_ = std::make_unique<AgentEndpoint>(base_.get(), std::move(*l), config_.agent.allow, [this] {
      return agentAnswer(agentView(Clock::now())).line;
    });
  } catch (const std::runtime_error& e) {
    throw StartupError(e.what());
  }
  spdlog::info("agent: answering HAProxy agent checks on {}", agent_->address());
}

void Supervisor::makeTimer(Timer& t, void (Supervisor::*fire)()) {
  t.self = this;
  t.fire = fire;
  t.event.reset(evtimer_new(base_.get(), &onTimer, &t));
  if (!t.event) throw StartupError("cannot create timers");
}

void Supervisor::arm(Timer& t, std::chrono::milliseconds delay) {
  const timeval tv = toTimeval(std::max(delay, std::chrono::milliseconds(0)));
  event_add(t.event.get(), &tv);
}

int Supervisor::run() {
  if (config_.worker_exec.empty()) {
    spdlog::info("preforkd {} starting: {} pool, {} workers, policy {} (service {})",
                 PREFORKD_VERSION, toString(config_.pool.mode), config_.pool.workers,
                 toString(config_.pool.policy), config_.worker.service);
  } else {
    spdlog::info("preforkd {} starting: {} pool, {} workers, policy {} (exec {})",
                 PREFORKD_VERSION, toString(config_.pool.mode), config_.pool.workers,
                 toString(config_.pool.policy), fmt::join(config_.worker_exec, " "));
  }
  pump();
  event_base_dispatch(base_.get());
  spdlog::info("stopped: {} connections accepted, {} served, {} redispatched, {} dropped",
               counters_.accepted, counters_.completed, dispatcher_.redispatched(),
               counters_.dropped);
  return 0;  // a shutdown that reaped every child is a clean exit
}

// ---------------------------------------------------------------- trampolines

PREFORKD_HOT
void Supervisor::onListenerReadable(evutil_socket_t fd, short, void* arg) noexcept {
  try {
    static_cast<Supervisor*>(arg)->acceptFrom(fd);
  } catch (const std::exception& e) {
    spdlog::critical("bug: exception while accepting: {}", e.what());
    std::abort();
  }
}

PREFORKD_HOT
void Supervisor::onChannelReadable(evutil_socket_t, short, void* arg) noexcept {
  auto* p = static_cast<ChildProcess*>(arg);
  Supervisor* self = p->owner;
  try {
    // One record per wake-up: epoll is level-triggered, so a second queued record brings us
    // back on the next round, and the common single record costs no EAGAIN read.
    self->readChannel(p->slot, 1);
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
      case SIGTERM: self->requestShutdown(true, "SIGTERM"); break;
      case SIGINT: self->beginShutdown(false, "SIGINT"); break;
      case SIGQUIT: self->beginShutdown(false, "SIGQUIT"); break;
      case SIGHUP: self->reload([](const std::string&) {}); break;
      case SIGTTIN: self->setWorkers(self->poolSize() + 1, "SIGTTIN"); break;
      case SIGTTOU:
        if (self->poolSize() > 1) self->setWorkers(self->poolSize() - 1, "SIGTTOU");
        break;
      case SIGUSR1: self->reopenLogFiles(); break;
      case SIGUSR2: self->beginUpgrade(); break;
      default: break;
    }
    self->pump();
  } catch (const std::exception& e) {
    spdlog::critical("bug: exception handling signal {}: {}", sig, e.what());
    std::abort();
  }
}

void Supervisor::onTimer(evutil_socket_t, short, void* arg) noexcept {
  auto* t = static_cast<Timer*>(arg);
  Supervisor* self = t->self;
  try {
    (self->*(t->fire))();
    self->pump();
  } catch (const std::exception& e) {
    spdlog::critical("bug: exception in a timer: {}", e.what());
    std::abort();
  }
}

void Supervisor::onUpgradeChannel(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<Supervisor*>(arg);
  try {
    self->upgradeMessage();
    self->pump();
  } catch (const std::exception& e) {
    spdlog::critical("bug: exception on the upgrade channel: {}", e.what());
    std::abort();
  }
}

void Supervisor::onPredecessorChannel(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<Supervisor*>(arg);
  try {
    self->predecessorMessage();
    self->pump();
  } catch (const std::exception& e) {
    spdlog::critical("bug: exception on the upgrade channel: {}", e.what());
    std::abort();
  }
}

void Supervisor::respawnTimerFired() {
  probe_due_ = true;
  planPool();
}
void Supervisor::acceptResumeTimerFired() { accept_paused_ = false; }

// ---------------------------------------------------------------- accepting

PREFORKD_HOT
AdmissionView Supervisor::admissionView() const {
  const ChildTable& t = dispatcher_.children();
  AdmissionView v;
  v.draining = shutting_down_;
  v.paused = accept_paused_;
  v.usable_idle = dispatcher_.usableIdle();
  v.starting = t.count(ChildState::Starting);
  v.queued = dispatcher_.queued();
  v.queue_capacity = config_.overload.queue_size;
  if (config_.pool.mode != PoolMode::Static && !halted_ && !throttled(Clock::now())) {
    const Generation gen = dispatcher_.generation();
    const std::size_t active = t.activeOf(gen) + t.unreapedOf(gen);
    v.spawn_headroom = config_.pool.max_children > active ? config_.pool.max_children - active : 0;
  }
  return v;
}

void Supervisor::acceptFrom(int listen_fd) {
  acceptBatch(listen_fd);
  pump();
}

PREFORKD_HOT
int Supervisor::acceptBatch(int listen_fd) {
  int accepted = 0;
  for (int i = 0; i < kMaxAcceptsPerWakeup && shouldAccept(admissionView()); ++i) {
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
      arm(accept_resume_timer_, kAcceptResumeDelay);
      const TimePoint now = Clock::now();
      if (now - last_accept_error_log_ >= std::chrono::seconds(1)) {
        last_accept_error_log_ = now;
        spdlog::error("accept: {}; pausing accepts for {} ms ({} such errors so far)",
                      std::strerror(r.error), kAcceptResumeDelay.count(), counters_.accept_errors);
      }
      break;
    }
    admitConnection(std::move(r.fd), r.peer, Clock::now(), false);
    ++accepted;
  }
  return accepted;
}

PREFORKD_HOT
int Supervisor::acceptWaiting() {
  int accepted = 0;
  for (ListenerSlot& l : listeners_) {
    if (l.event && l.listener.fd) accepted += acceptBatch(l.listener.fd.get());
  }
  return accepted;
}

PREFORKD_HOT
void Supervisor::admitConnection(UniqueFd fd, const SocketAddress& peer, TimePoint now,
                                 bool handed_over) {
  const ConnectionId id = next_conn_id_++;
  ++counters_.accepted;
  if (handed_over) ++counters_.handed_over;
  if (!sources_.tryAcquire(peer)) {
    ++counters_.rejected_per_source;
    spdlog::info("connection {} from {}: over the per-source cap of {}: refused", id,
                 formatAddress(peer), sources_.limit());
    rejectConnection(fd.get(), config_.overload.per_source_message);
    return;
  }
  if (admit(admissionView()) == Admission::RejectQueueFull) {
    ++counters_.rejected_queue_full;
    spdlog::info("connection {} from {}: every worker busy and the queue full: refused", id,
                 formatAddress(peer));
    sources_.release(peer);
    rejectConnection(fd.get(), config_.overload.busy_message);
    return;
  }
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("connection {} {} {}", id, handed_over ? "handed over from" : "accepted from",
                  formatAddress(peer));
  }
  storePending(id, PendingConnection{.fd = std::move(fd),
                                     .peer = peer,
                                     .accepted_at = now,
                                     .read_wake = handed_over ? std::nullopt
                                                              : std::optional(listeners_read_wake_)});
  dispatcher_.submit(id, now);
  counters_.queued_max = std::max<std::uint64_t>(counters_.queued_max, dispatcher_.queued());
}

void Supervisor::rejectConnection(int fd, const std::string& line) {
  // One best-effort line (never blocks: a fresh socket's buffer has room), then close. The
  // caller's UniqueFd closes it.
  const std::string out = line + "\r\n";
  [[maybe_unused]] const ssize_t n = ::send(fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

PREFORKD_HOT
void Supervisor::finishConnection(const SocketAddress& peer) { sources_.release(peer); }

// conns_ changes twice per connection: its nodes are recycled instead of allocated and freed
// each time (at most kSparePendingNodes are kept).
PREFORKD_HOT
void Supervisor::storePending(ConnectionId id, PendingConnection pc) {
  if (spare_conn_nodes_.empty()) {
    conns_.emplace(id, std::move(pc));
    return;
  }
  auto node = std::move(spare_conn_nodes_.back());
  spare_conn_nodes_.pop_back();
  node.key() = id;
  node.mapped() = std::move(pc);
  conns_.insert(std::move(node));
}

PREFORKD_HOT
void Supervisor::erasePending(ConnectionId id) {
  auto node = conns_.extract(id);
  if (node.empty()) return;
  node.mapped().fd.reset();  // closes our copy now, whatever becomes of the node
  if (spare_conn_nodes_.size() < kSparePendingNodes) spare_conn_nodes_.push_back(std::move(node));
}

std::optional<Supervisor::PendingConnection> Supervisor::takePending(ConnectionId id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return std::nullopt;
  PendingConnection pc = std::move(it->second);
  erasePending(id);
  finishConnection(pc.peer);
  return pc;
}

PREFORKD_HOT
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

// After every event: hand queued connections to idle children, size the pool, then decide
// whether to listen.
PREFORKD_HOT
void Supervisor::pump() {
  observePendingTakes();
  handOutQueued();
  // The listeners are disarmed while every worker is busy. Under load a worker that frees up
  // usually finds clients waiting in the backlog: take them now instead of re-arming, which
  // costs two epoll_ctl calls and a wake-up per busy/idle cycle. An empty backlog (EAGAIN)
  // re-arms below as before.
  if (!listening_ && !shutting_down_ && shouldAccept(admissionView()) && acceptWaiting() > 0) {
    handOutQueued();
  }
  if (shutting_down_) {
    for (SlotId s : dispatcher_.settleDrain(Clock::now())) sendStop(s);
  }
  planPool();
  setListening(!shutting_down_ && shouldAccept(admissionView()));
  checkGenerationUp();
  checkReadyAndDone();
  armTickIfNeeded();
  noteAgentState();
}

PREFORKD_HOT
void Supervisor::handOutQueued() {
  for (;;) {
    const auto& assignments = dispatcher_.assign(Clock::now());
    if (assignments.empty()) return;
    for (const Assignment& a : assignments) sendAssignment(a);
  }
}

PREFORKD_HOT
void Supervisor::sendAssignment(const Assignment& a) {
  auto it = conns_.find(a.conn);
  if (it == conns_.end()) {
    spdlog::critical("bug: connection {} assigned but unknown", a.conn);
    std::abort();
  }
  ChildProcess& p = proc(a.slot);
  ChildRecord* child = dispatcher_.children().find(a.slot);
  child->conn_peer = it->second.peer;
  // Normally the client already carries the read timeout its worker expects (from the
  // listener). Not if it was accepted before a reload switched between forked and exec'd
  // workers, or handed over by a hot upgrade's predecessor: set it now.
  const bool wants_wake = static_cast<bool>(p.taken);
  if (it->second.read_wake != wants_wake) {
    if (setReadTimeout(it->second.fd.get(),
                       wants_wake ? kClientReadWake : std::chrono::milliseconds(0))) {
      it->second.read_wake = wants_wake;
    } else {
      spdlog::warn("connection {}: cannot set its read timeout: {}", a.conn, std::strerror(errno));
    }
  }
  const Record record = encodeCommand({.type = CommandType::Connection, .conn_id = a.conn});
  const int err = p.channel ? sendMessage(p.channel.get(), record.asBytes(), it->second.fd.get())
                            : EBADF;
  if (err == 0) {
    ++counters_.dispatched;
    histograms_.queue_wait.record(nanos(child->conn_assigned_at - a.queued_at));
    if (p.taken && !p.awaiting_take) {
      p.awaiting_take = true;
      awaiting_take_.push_back(a.slot);
    }
    return;
  }
  // The child is dead or wedged: it can never take this client. Requeue (front) and retire
  // the child; the next assign() round gives the client to someone else.
  spdlog::warn("handing connection {} to worker {} failed: {}; redispatching", a.conn, child->pid,
               std::strerror(err));
  dispatcher_.onSendFailed(a.slot, Clock::now());
  if (child->pid > 0) ::kill(child->pid, SIGKILL);
}

void Supervisor::sendStop(SlotId slot) {
  ChildProcess& p = proc(slot);
  ChildRecord* c = dispatcher_.children().find(slot);
  // A stopped child must leave within a bound like any other wait (it is idle, or finishing
  // its last client): the reload deadline, then SIGTERM and SIGKILL.
  if (c != nullptr && !c->drain_by) c->drain_by = Clock::now() + config_.lifecycle.reload_timeout;
  if (!p.channel) return;
  if (sendMessage(p.channel.get(), encodeCommand({.type = CommandType::Stop}).asBytes()) != 0) {
    return;
  }
  // A forked worker in a session sleeps in recv() on its client, not on the channel: the wake
  // signal interrupts it so it sees the Stop now (common/client_read_wake.h).
  if (p.taken && c != nullptr && c->pid > 0 && c->state == ChildState::Busy) {
    ::kill(c->pid, kWakeSignal);
  }
}

PREFORKD_HOT
void Supervisor::readChannel(SlotId slot, int max_messages) {
  ChildProcess& p = proc(slot);
  for (int i = 0; i < max_messages && p.channel; ++i) {
    ReceivedMessage msg = receiveMessage(p.channel.get());
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

PREFORKD_HOT
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
  observeTaken(slot);  // a forked worker's Available follows a Taken recorded in its slot
  const TimePoint now = Clock::now();
  Verdict verdict = Verdict::Ok;
  switch (status->type) {
    case StatusType::Ready:
      verdict = dispatcher_.onReady(slot, now);
      if (verdict == Verdict::Ok) {
        spdlog::debug("worker {} ready", pid);
        histograms_.startup.record(nanos(child->ready_at - child->started_at));
        // A healthy start releases the start-up brake, but not a crash loop: children that
        // crash later start fine every time.
        if (!crashLoop(now)) {
          if (brake_.throttled()) {
            spdlog::info("worker {} started fine: respawn brake released", pid);
            throttle_reason_.clear();
          }
          brake_.onHealthyStart();
        }
      }
      break;
    case StatusType::Taken:
      verdict = connectionTaken(slot, status->conn_id, now);
      break;
    case StatusType::Available: {
      const SocketAddress peer = child ? child->conn_peer : SocketAddress{};
      verdict = dispatcher_.onAvailable(slot, status->conn_id, status->bytes_in,
                                        status->bytes_out, now);
      if (verdict != Verdict::Unexpected) {
        ++counters_.completed;
        histograms_.service_time.record(nanos(child->last_duration));
        finishConnection(peer);
      }
      if (verdict == Verdict::Retire) {
        if (std::string_view(child->stop_reason) == "recycle") {
          ++counters_.recycled;
          spdlog::info("worker {} served {} connections: recycling it", pid, child->served);
        }
        sendStop(slot);
      }
      break;
    }
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
  ChildProcess& p = proc(slot);
  // Stop watching first: an EOF stays readable forever and would spin the loop.
  p.channel_event.reset();
  p.channel.reset();
  // Whether it took its client decides between lost and redispatched: look before deciding.
  // The worker can no longer receive anything, so the answer is final.
  observeTaken(slot);
  if (auto conn = dispatcher_.onChildLost(slot, Clock::now())) {
    spdlog::info("worker in slot {} went away before taking connection {}: redispatching", slot,
                 *conn);
  }
  p.taken = TakenSlot();
}

PREFORKD_HOT
Verdict Supervisor::connectionTaken(SlotId slot, ConnectionId conn, TimePoint when) {
  const Verdict verdict = dispatcher_.onTaken(slot, conn, when);
  if (verdict == Verdict::Ok) {
    const ChildRecord* child = dispatcher_.children().find(slot);
    histograms_.handoff.record(nanos(when - child->conn_assigned_at));
    erasePending(conn);  // closes our copy
    proc(slot).taken.recordReleased(conn);  // (no-op for an exec'd worker)
  }
  return verdict;
}

PREFORKD_HOT
bool Supervisor::observeTaken(SlotId slot) {
  const ChildProcess& p = proc(slot);
  if (!p.taken) return false;
  const ChildRecord* c = dispatcher_.children().find(slot);
  if (c == nullptr || c->state != ChildState::Busy || !c->conn || c->conn_taken) return false;
  const std::optional<TimePoint> at = p.taken.taken(*c->conn);
  if (!at) return true;
  // The worker's clock reading is as untrusted as its messages: keep it between the send and
  // now, so a bad value can only skew its own latency figures.
  const TimePoint now = Clock::now();
  connectionTaken(slot, *c->conn, std::clamp(*at, std::min(c->conn_assigned_at, now), now));
  return false;
}

PREFORKD_HOT
void Supervisor::observePendingTakes() {
  std::erase_if(awaiting_take_, [this](SlotId slot) {
    const bool still = observeTaken(slot);
    proc(slot).awaiting_take = still;
    return !still;
  });
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
    if (upgrade_ && pid == upgrade_->pid) {
      upgrade_->pid = -1;
      upgradeFailed(fmt::format("the new supervisor (pid {}) {}", pid, describeWaitStatus(st)));
      continue;
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
  // Read what it said before it died: a Taken still in the channel, or recorded in its
  // TakenSlot, decides whether its client must be redispatched or was already in its hands.
  if (proc(slot).channel) readChannel(slot, kMaxChannelDrain);
  observeTaken(slot);
  ChildRecord& child = *dispatcher_.children().find(slot);
  const pid_t pid = child.pid;
  const TimePoint now = Clock::now();
  ++counters_.children_exited;
  const bool exited = WIFEXITED(wait_status);
  const int code = exited ? WEXITSTATUS(wait_status) : -1;
  const int sig = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
  const bool expected = child.stop_requested && exited && code == 0;
  if (expected) {
    ++counters_.exited_stopped;
  } else if (exited && code == kWorkerExitNoRestart) {
    ++counters_.exited_no_restart;
  } else if (exited) {
    ++counters_.exited_error;
  } else if (isCrashSignal(sig)) {
    ++counters_.exited_crashed;
  } else {
    ++counters_.exited_killed;
  }
  if (child.conn && child.conn_taken) {
    ++counters_.lost_in_service;
    spdlog::warn("worker {} died while serving connection {} from {}", pid, *child.conn,
                 formatAddress(child.conn_peer));
    finishConnection(child.conn_peer);
  }
  if (expected) {
    spdlog::debug("worker {} {}", pid, describeWaitStatus(wait_status));
  } else if (shutting_down_ || child.stop_requested) {
    spdlog::info("worker {} {}", pid, describeWaitStatus(wait_status));
  } else {
    spdlog::warn("worker {} {}{}", pid, describeWaitStatus(wait_status),
                 child.ever_ready ? "" : " before it was ready");
  }
  if (!shutting_down_) {
    if (exited && code == kWorkerExitNoRestart) {
      if (!halted_) {
        halted_ = true;
        throttle_reason_ = fmt::format("worker {} exited with status {} (configuration broken)", pid, code);
        spdlog::critical("worker {} exited with status {}: its configuration is broken; no more "
                         "workers are started until a reload (SIGHUP)", pid, code);
      }
    } else if (!child.ever_ready && !child.stop_requested) {
      ++counters_.start_failures;
      brake_.onStartFailure();
      throttle_reason_ = fmt::format("workers fail at start-up ({} in a row)", brake_.failures());
    } else if (sig != 0 && isCrashSignal(sig) && crashes_.record(now)) {
      brake_.onStartFailure();
      throttle_reason_ = fmt::format("workers crash repeatedly ({} within {} s)",
                                     crashes_.recent(now), config_.lifecycle.crash_interval.count() / 1000.0);
      spdlog::error("{}: throttling respawns", throttle_reason_);
    }
  }
  if (child.term_sent_at && !child.kill_sent && escalations_ > 0) --escalations_;
  channelClosed(slot);
  dispatcher_.children().remove(slot);
}

bool Supervisor::crashLoop(TimePoint now) const {
  return config_.lifecycle.crash_limit != 0 && crashes_.recent(now) >= config_.lifecycle.crash_limit;
}

bool Supervisor::throttled(TimePoint now) const { return brake_.throttled() || crashLoop(now); }

PREFORKD_HOT
void Supervisor::planPool() {
  if (shutting_down_ || halted_) return;
  const TimePoint now = Clock::now();
  ChildTable& table = dispatcher_.children();
  const Generation gen = dispatcher_.generation();
  PoolView view;
  // A child that went away unasked still counts until it is reaped: the reap decides
  // whether it was a start-up failure, a crash or "do not restart me" before anything is
  // forked in its place. (Children told to stop do not count: their replacement starts now.)
  view.active = table.activeOf(gen) + table.unreapedOf(gen);
  view.idle = table.idleOf(gen);
  view.starting = table.startingOf(gen);
  view.queued = dispatcher_.queued();
  if (const auto s = table.longestIdle()) {
    const ChildRecord* c = table.find(*s);
    if (c->generation == gen) view.longest_idle_since = c->state_since;
  }
  const PoolDecision d = planner_.plan(view, now);
  planner_recheck_ = d.recheck_at;
  if (d.max_children_hit) {
    ++counters_.max_children_reached;
    if (now - last_max_children_log_ >= std::chrono::seconds(10)) {
      last_max_children_log_ = now;
      spdlog::warn("max children ({}) reached: {} connection(s) waiting ({} times so far)",
                   config_.pool.max_children, view.queued, counters_.max_children_reached);
    }
  }
  if (d.retire_idle) {
    if (const auto s = table.longestIdle()) {
      const ChildRecord* c = table.find(*s);
      if (dispatcher_.retire(*s, "retire", now)) {
        ++counters_.retired_idle;
        spdlog::info("retiring idle worker {} ({} pool)", c->pid, toString(config_.pool.mode));
        sendStop(*s);
      }
    }
  }
  if (d.spawn == 0) return;
  if (!throttled(now)) {
    for (std::size_t i = 0; i < d.spawn; ++i) {
      if (!spawnOne()) break;
    }
    return;
  }
  // Throttled: one probe child at a time, after the back-off delay.
  if (table.count(ChildState::Starting) > 0) return;  // a probe is on its way
  if (probe_due_) {
    probe_due_ = false;
    spawnOne();
    return;
  }
  if (evtimer_pending(respawn_timer_.event.get(), nullptr)) return;
  const auto delay = brake_.delay();
  spdlog::warn("{}: next attempt in {} ms", throttle_reason_, delay.count());
  arm(respawn_timer_, delay);
}

bool Supervisor::spawnOne() {
  if (shutting_down_ || halted_) return false;
  ChildTable& table = dispatcher_.children();
  auto slot = table.freeSlot();
  if (!slot) {
    const std::size_t cap = table.capacity();
    if (cap >= kMaxSlots) {
      spdlog::error("cannot start a worker: all {} slots in use", cap);
      return false;
    }
    table.ensureCapacity(std::min(kMaxSlots, cap * 2));
    while (procs_.size() < table.capacity()) {
      procs_.push_back(std::make_unique<ChildProcess>());
      procs_.back()->owner = this;
      procs_.back()->slot = static_cast<SlotId>(procs_.size() - 1);
    }
    slot = table.freeSlot();
  }
  SpawnedWorker w;
  try {
    w = spawnWorker(config_.worker, config_.worker_exec);
  } catch (const std::system_error& e) {
    spdlog::error("cannot start a worker: {}", e.what());
    brake_.onStartFailure();
    ++counters_.start_failures;
    throttle_reason_ = fmt::format("cannot start workers: {}", e.what());
    if (!evtimer_pending(respawn_timer_.event.get(), nullptr)) arm(respawn_timer_, brake_.delay());
    return false;
  }
  ++counters_.children_spawned;
  ChildProcess& p = proc(*slot);
  p.channel = std::move(w.channel);
  p.taken = std::move(w.taken);  // (awaiting_take stays: it mirrors awaiting_take_ membership)
  p.channel_event.reset(event_new(base_.get(), p.channel.get(), EV_READ | EV_PERSIST,
                                  &onChannelReadable, &p));
  if (!p.channel_event || event_add(p.channel_event.get(), nullptr) != 0) {
    spdlog::critical("cannot watch a worker channel");
    std::abort();
  }
  // Each child recycles after its own limit, so a pool started together does not recycle
  // together.
  std::uint64_t max_served = config_.lifecycle.max_connections_per_child;
  if (max_served != 0 && config_.lifecycle.recycle_jitter != 0) {
    max_served += random_() % (config_.lifecycle.recycle_jitter + 1);
  }
  dispatcher_.childStarted(*slot, w.pid, Clock::now(), max_served);
  spdlog::debug("started worker {} in slot {} (generation {})", w.pid, *slot,
                dispatcher_.generation());
  return true;
}

void Supervisor::signalLiveChildren(int sig) {
  for (const ChildRecord& c : dispatcher_.children().slots()) {
    if (c.state != ChildState::Empty && c.pid > 0) ::kill(c.pid, sig);
  }
}

// A new generation is up once as many of its children are ready as the pool starts with.
PREFORKD_HOT
void Supervisor::checkGenerationUp() {
  if (dispatcher_.generationIsUp() || shutting_down_) return;
  const Generation gen = dispatcher_.generation();
  const ChildTable& t = dispatcher_.children();
  std::size_t ready = 0;
  for (const ChildRecord& c : t.slots()) {
    if (c.generation == gen && c.ever_ready && !c.stop_requested &&
        (c.state == ChildState::Idle || c.state == ChildState::Busy)) {
      ++ready;
    }
  }
  const std::size_t needed = config_.pool.mode == PoolMode::OnDemand ? 0 : config_.pool.workers;
  if (ready < needed) return;
  const TimePoint now = Clock::now();
  const auto stop_now = dispatcher_.generationUp(now);
  for (SlotId s : stop_now) sendStop(s);
  std::size_t old = 0;
  for (const ChildRecord& c : t.slots()) {
    if (c.state != ChildState::Empty && c.generation < gen) ++old;
  }
  // Each generation gets its own deadline, counted from the reload that replaced it.
  for (const ChildRecord& c : t.slots()) {
    if (c.state != ChildState::Empty && c.generation < gen && !c.drain_by) {
      dispatcher_.children().find(c.slot)->drain_by = now + config_.lifecycle.reload_timeout;
    }
  }
  spdlog::info("reload: generation {} is up ({} workers ready); {} older worker(s) draining "
               "(deadline {} ms)", gen, ready, old, config_.lifecycle.reload_timeout.count());
  notifier_->ready();
  auto waiters = std::move(reload_waiters_);
  reload_waiters_.clear();
  for (auto& done : waiters) done("");
}

// ---------------------------------------------------------------- maintenance tick

PREFORKD_HOT
void Supervisor::armTickIfNeeded() {
  if (evtimer_pending(tick_timer_.event.get(), nullptr)) return;
  const ChildTable& t = dispatcher_.children();
  // Anything with a deadline or pacing: a child not simply idle, a queued client, or an idle
  // pool that may have to shrink.
  const bool pending = t.count(ChildState::Busy) + t.count(ChildState::Starting) +
                               t.count(ChildState::Stopping) >
                           0 ||
                       dispatcher_.queued() > 0 || planner_recheck_.has_value() ||
                       escalations_ > 0;
  if (pending && !(shutting_down_ && t.live() == 0)) arm(tick_timer_, kTickInterval);
}

void Supervisor::tick() {
  observePendingTakes();  // the hand-off limit must not fire for a client already taken
  const TimePoint now = Clock::now();
  enforceTimeLimits(now);
  expireQueue(now);
  // pump() (called after every timer) re-plans the pool and re-arms the tick.
}

void Supervisor::enforceTimeLimits(TimePoint now) {
  TimeLimits limits;
  limits.startup = config_.lifecycle.startup_timeout;
  limits.handoff = config_.lifecycle.handoff_timeout;
  limits.max_session = config_.worker.max_session;
  limits.session_grace = config_.lifecycle.session_grace;
  limits.kill_grace = config_.lifecycle.kill_grace;
  limits.current_generation = dispatcher_.generation();
  ChildTable& t = dispatcher_.children();
  std::vector<LimitAction> actions = checkTimeLimits(t, limits, now);
  // Reload drain deadlines are per child (each old generation counts from its own reload).
  for (const ChildRecord& c : t.slots()) {
    if (c.state != ChildState::Empty && c.drain_by && now >= *c.drain_by && !c.term_sent_at) {
      actions.push_back({c.slot, LimitKind::Drain, SIGTERM});
    }
  }
  for (const LimitAction& a : actions) {
    ChildRecord* c = t.find(a.slot);
    if (c == nullptr || c->pid <= 0) continue;
    ++counters_.time_limit_kills;
    if (a.signal == SIGKILL) {
      ::kill(c->pid, SIGKILL);
      if (c->term_sent_at && !c->kill_sent && escalations_ > 0) --escalations_;
      c->kill_sent = true;
    } else {
      terminate(*c, now);
    }
    std::string client = "no client";
    if (c->conn) client = fmt::format("connection {} from {}", *c->conn, formatAddress(c->conn_peer));
    const auto age = now - (a.kind == LimitKind::Session || a.kind == LimitKind::Handoff
                                ? (a.kind == LimitKind::Session ? c->conn_taken_at : c->conn_assigned_at)
                                : c->state_since);
    spdlog::warn("worker {} (slot {}, generation {}): {} time limit ({} ms in state {}, {}): {}",
                 c->pid, c->slot, c->generation, toString(a.kind), ms(age), toString(c->state),
                 client, a.signal == SIGKILL ? "SIGKILL" : "SIGTERM");
  }
}

// SIGTERM now; the maintenance tick sends SIGKILL after the kill grace if it is still there.
void Supervisor::terminate(ChildRecord& child, TimePoint now) {
  if (child.pid <= 0) return;
  ::kill(child.pid, SIGTERM);
  if (!child.term_sent_at) {
    child.term_sent_at = now;
    ++escalations_;
  }
  armTickIfNeeded();
}

void Supervisor::expireQueue(TimePoint now) {
  for (ConnectionId id : dispatcher_.expireQueued(now - config_.overload.queue_timeout)) {
    auto pc = takePending(id);
    if (!pc) continue;
    ++counters_.rejected_queue_timeout;
    spdlog::info("connection {} from {}: waited {} ms for a worker: refused", id,
                 formatAddress(pc->peer), ms(now - pc->accepted_at));
    rejectConnection(pc->fd.get(), config_.overload.busy_message);
  }
}

// ---------------------------------------------------------------- shutdown

void Supervisor::requestShutdown(bool graceful, const char* why) {
  const TimePoint now = Clock::now();
  if (!graceful || shutting_down_ || !agent_ || config_.agent.announce.count() == 0) {
    event_del(announce_timer_.event.get());
    beginShutdown(graceful, why);
    return;
  }
  if (evtimer_pending(announce_timer_.event.get(), nullptr)) {
    spdlog::warn("{} again: not waiting for the drain announce", why);
    event_del(announce_timer_.event.get());
    beginShutdown(true, why);
    return;
  }
  // Balancers must hear "drain" before the listeners close; a drain already announced for
  // long enough (an operator drained the host first) needs no second wait.
  const auto announced = drain_ ? now - drain_->since : Clock::duration::zero();
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      config_.agent.announce - announced);
  if (left.count() <= 0) {
    beginShutdown(true, why);
    return;
  }
  setDrain(true, why);
  notifier_->stopping();
  spdlog::info("{}: announcing the drain to balancers for {} ms, still serving; then shutting down",
               why, left.count());
  announce_why_ = why;
  arm(announce_timer_, left);
}

void Supervisor::announceOver() { beginShutdown(true, announce_why_); }

std::string Supervisor::setDrain(bool on, const char* why) {
  if (on) {
    if (drain_) return "";  // already draining: idempotent
    drain_ = DrainState{why, Clock::now()};
    spdlog::info("{}: drain: the agent says drain; clients are still served", why);
    return "";
  }
  if (shutting_down_ || evtimer_pending(announce_timer_.event.get(), nullptr)) {
    return "shutting down: the drain cannot be left";
  }
  if (!drain_) return "";
  spdlog::info("{}: undrain after {} ms: the agent says ready again", why,
               std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - drain_->since).count());
  drain_.reset();
  return "";
}

AgentView Supervisor::agentView(TimePoint now) const {
  const ChildTable& t = dispatcher_.children();
  const Generation gen = dispatcher_.generation();
  AgentView v;
  v.draining = shutting_down_ || drain_.has_value();
  v.spawn_blocked = halted_ || throttled(now);
  v.reference = config_.agent.reference;
  v.balancers = config_.agent.balancers;
  const std::size_t ready = t.activeOf(gen) - t.startingOf(gen);
  if (config_.pool.mode == PoolMode::Static) {
    v.capacity = config_.pool.workers;
    // Children starting now count: a replacement is Ready in milliseconds unless the brake
    // holds (then only the ones already serving can be promised).
    v.usable = v.spawn_blocked ? ready : t.activeOf(gen);
  } else {
    v.capacity = config_.pool.max_children;
    v.usable = v.spawn_blocked ? ready : std::max(ready, config_.pool.max_children);
  }
  return v;
}

PREFORKD_HOT
void Supervisor::noteAgentState() {
  if (!agent_) return;
  const AgentView v = agentView(Clock::now());
  const AgentState state = agentState(v);  // cheap: this runs after every event
  if (agent_state_ == state) return;
  agent_state_ = state;
  const AgentAnswer a = agentAnswer(v);
  std::string line = a.line;
  if (!line.empty()) line.pop_back();
  spdlog::info("agent: state {}: answering '{}' ({})", toString(state), line, a.reason);
}

void Supervisor::beginShutdown(bool graceful, const char* why) {
  if (shutting_down_) {
    if (!killing_) {
      spdlog::warn("{} again: not waiting for busy workers", why);
      event_del(shutdown_timer_.event.get());
      shutdownDeadline();
    }
    return;
  }
  shutting_down_ = true;
  event_del(announce_timer_.event.get());
  // A hot upgrade's old supervisor hands the service over: systemd must not see it stop, and
  // the successor answers the agent from now on.
  if (std::string_view(why) != "hot upgrade") {
    notifier_->stopping();
  } else {
    agent_.reset();
  }
  if (graceful) {
    spdlog::info("{}: shutting down (busy workers get up to {} ms to finish)", why,
                 config_.lifecycle.shutdown_timeout.count());
  } else {
    spdlog::info("{}: fast shutdown (workers are told to stop now)", why);
  }
  setListening(false);
  // Close the listeners now: new clients are refused instead of waiting in a backlog that
  // nobody will ever accept from. (After a hot upgrade the successor holds its own copies.)
  for (ListenerSlot& l : listeners_) {
    l.event.reset();
    l.listener.fd.reset();
  }
  event_del(respawn_timer_.event.get());
  event_del(accept_resume_timer_.event.get());
  handOutQueued();  // queued connections still go to idle children
  const TimePoint now = Clock::now();
  for (SlotId slot : dispatcher_.beginDrain(now)) sendStop(slot);
  for (auto& done : reload_waiters_) done("shutting down");
  reload_waiters_.clear();
  if (graceful) {
    arm(shutdown_timer_, config_.lifecycle.shutdown_timeout);
  } else {
    shutdownDeadline();
  }
}

void Supervisor::shutdownDeadline() {
  for (ConnectionId id : dispatcher_.dropQueued()) {
    auto pc = takePending(id);
    if (!pc) continue;
    ++counters_.dropped;
    spdlog::warn("connection {} from {} closed unserved at shutdown", id, formatAddress(pc->peer));
    rejectConnection(pc->fd.get(), config_.overload.busy_message);
  }
  const std::size_t left = dispatcher_.children().live();
  if (left == 0) return;
  // Busy workers are asked first (a line service says goodbye to its client), then TERM,
  // then KILL.
  for (const ChildRecord& c : dispatcher_.children().slots()) {
    if (c.state == ChildState::Busy) sendStop(c.slot);
  }
  killing_ = true;
  arm(term_timer_, config_.lifecycle.kill_grace / 2);
}

void Supervisor::shutdownTerm() {
  const std::size_t left = dispatcher_.children().live();
  if (left == 0) return;
  spdlog::warn("shutdown: {} worker(s) still running: sending SIGTERM", left);
  signalLiveChildren(SIGTERM);
  arm(kill_timer_, config_.lifecycle.kill_grace / 2);
}

void Supervisor::killRemaining() {
  const std::size_t left = dispatcher_.children().live();
  if (left == 0) return;
  spdlog::warn("shutdown: {} worker(s) ignored SIGTERM: sending SIGKILL", left);
  signalLiveChildren(SIGKILL);
}

PREFORKD_HOT
void Supervisor::checkReadyAndDone() {
  if (!announced_ready_ && !shutting_down_) {
    const ChildTable& t = dispatcher_.children();
    const std::size_t needed = config_.pool.mode == PoolMode::OnDemand ? 0 : config_.pool.workers;
    if (t.count(ChildState::Idle) + t.count(ChildState::Busy) >= needed) {
      announced_ready_ = true;
      std::string addrs;
      for (const ListenerSlot& l : listeners_) {
        addrs += (addrs.empty() ? "" : ", ") + l.listener.address;
      }
      spdlog::info("ready: {} workers serving {}", needed, addrs);
      // Start-up is over: its code need not stay mapped (common/startup_code.h).
      spdlog::debug("released the mappings of {} KiB of start-up code", releaseStartupCode() / 1024);
      // A hot upgrade's successor is the service's main process from now on.
      if (predecessor_) notifier_->notifier().mainPid(::getpid());
      notifier_->ready();
      if (predecessor_ && !told_predecessor_) {
        told_predecessor_ = true;
        if (control_) control_->moveTo(config_.control_socket);
        const int err = sendMessage(predecessor_.get(), std::as_bytes(std::span(kUpgradeReady)));
        if (err != 0) {
          spdlog::warn("hot upgrade: cannot tell the previous supervisor we are ready: {}",
                       std::strerror(err));
        }
      }
    }
  }
  if (shutting_down_ && dispatcher_.children().live() == 0 && !upgrade_) {
    for (ConnectionId id : dispatcher_.dropQueued()) {
      if (takePending(id)) ++counters_.dropped;
    }
    event_base_loopexit(base_.get(), nullptr);
  }
}

// ---------------------------------------------------------------- reload and resizing

void Supervisor::reload(std::function<void(std::string)> done) {
  if (shutting_down_) {
    done("shutting down");
    return;
  }
  SupervisorConfig next = config_;
  if (reloader_) {
    std::string error;
    auto loaded = reloader_(&error);
    if (!loaded) {
      ++counters_.reloads_failed;
      spdlog::error("reload: configuration rejected, keeping the current one: {}", error);
      done("configuration rejected: " + error);
      return;
    }
    next = std::move(*loaded);
  }
  // What a reload cannot change (the sockets stay open across generations).
  std::vector<std::string> before, after;
  for (const SocketAddress& a : config_.listen) before.push_back(formatAddress(a));
  for (const SocketAddress& a : next.listen) after.push_back(formatAddress(a));
  if (before != after) {
    spdlog::warn("reload: listen addresses cannot change on reload (restart, or hot upgrade "
                 "with SIGUSR2); keeping {}", fmt::join(before, ", "));
  }
  next.listen = config_.listen;
  if (next.control_socket != config_.control_socket) {
    spdlog::warn("reload: the control socket path cannot change on reload; keeping {}",
                 config_.control_socket);
    next.control_socket = config_.control_socket;
  }
  const auto agentAddress = [](const AgentSettings& a) {
    return a.listen ? formatAddress(*a.listen) : std::string("off");
  };
  if (agentAddress(next.agent) != agentAddress(config_.agent)) {
    spdlog::warn("reload: the agent endpoint cannot change on reload (restart, or hot upgrade "
                 "with SIGUSR2); keeping {}", agent_ ? agent_->address() : "none");
    next.agent.listen = config_.agent.listen;
  }
  const Generation gen = dispatcher_.generation() + 1;
  next.worker.generation = gen;
  const bool kind_changed = next.worker_exec.empty() != config_.worker_exec.empty();
  config_ = std::move(next);
  if (kind_changed) {
    try {
      applyListenerReadWake();  // for clients accepted from now on
    } catch (const std::runtime_error& e) {
      spdlog::warn("reload: {}; each client's read timeout is set at hand-off instead", e.what());
      listeners_read_wake_ = !config_.worker_exec.empty();  // unknown: fixed per client
    }
  }
  if (agent_) agent_->setAllow(config_.agent.allow);
  planner_.update(config_.pool);
  dispatcher_.setPolicy(config_.pool.policy);
  sources_.setLimit(config_.overload.max_per_source);
  crashes_.configure(config_.lifecycle.crash_limit, config_.lifecycle.crash_interval);
  brake_ = RespawnBrake(RespawnBrake::ms(100), config_.lifecycle.respawn_backoff_max);
  halted_ = false;
  throttle_reason_.clear();
  event_del(respawn_timer_.event.get());
  dispatcher_.setGeneration(gen);
  ++counters_.reloads;
  notifier_->reloading();
  spdlog::info("reload: starting generation {} ({} pool, {} workers, policy {})", gen,
               toString(config_.pool.mode), config_.pool.workers, toString(config_.pool.policy));
  reload_waiters_.push_back(std::move(done));
}

std::size_t Supervisor::poolSize() const {
  return config_.pool.mode == PoolMode::Static ? config_.pool.workers : config_.pool.max_children;
}

// Static pools: the number of workers. Dynamic and ondemand pools: the cap (max children);
// the start size and spares shrink with it if needed.
std::string Supervisor::setWorkers(std::size_t n, const char* why) {
  if (n == 0 || n > kMaxChildrenLimit) return fmt::format("workers must be 1..{}", kMaxChildrenLimit);
  PoolSettings next = config_.pool;
  if (next.mode == PoolMode::Static) {
    next.workers = n;
  } else {
    next.max_children = n;
    next.workers = std::min(next.workers, n);
    next.min_spare = std::min(next.min_spare, n);
  }
  if (std::string error = validatePoolSettings(next); !error.empty()) return error;
  config_.pool = next;
  planner_.update(config_.pool);
  spdlog::info("{}: {}", why,
               next.mode == PoolMode::Static ? fmt::format("{} workers", n)
                                             : fmt::format("at most {} workers", n));
  // Shrinking a static pool: retire idle children first, then busy ones when they finish.
  if (next.mode == PoolMode::Static) {
    const TimePoint now = Clock::now();
    ChildTable& t = dispatcher_.children();
    std::size_t active = t.activeOf(dispatcher_.generation());
    while (active > n) {
      std::optional<SlotId> victim = t.longestIdle();
      if (victim && t.find(*victim)->generation != dispatcher_.generation()) victim.reset();
      if (!victim) {
        for (const ChildRecord& c : t.slots()) {
          if (c.generation == dispatcher_.generation() && !c.stop_requested &&
              (c.state == ChildState::Busy || c.state == ChildState::Starting)) {
            victim = c.slot;
            break;
          }
        }
      }
      if (!victim) break;
      ++counters_.retired_idle;
      if (dispatcher_.retire(*victim, "resize", now)) sendStop(*victim);
      --active;
    }
  }
  return {};
}

void Supervisor::reopenLogFiles() {
  const std::string error = reopenLogs();
  if (error.empty()) {
    spdlog::info("log files reopened");
  } else {
    spdlog::error("cannot reopen log files: {}", error);
  }
}

// ---------------------------------------------------------------- hot upgrade (old side)

void Supervisor::beginUpgrade() {
  if (shutting_down_) return;
  if (upgrade_) {
    spdlog::warn("SIGUSR2: a hot upgrade is already in progress (new supervisor {})", upgrade_->pid);
    return;
  }
  if (image_.exe.empty() || image_.argv.empty()) {
    spdlog::error("SIGUSR2: hot upgrade impossible: the path of this binary is unknown");
    return;
  }
  std::vector<int> fds;
  std::vector<std::string> names;
  for (const ListenerSlot& l : listeners_) {
    fds.push_back(l.listener.fd.get());
    names.emplace_back("listen");
  }
  if (agent_) {
    fds.push_back(agent_->fd());
    names.emplace_back("agent");
  }
  UpgradeChild child;
  try {
    child = startUpgrade(image_.exe, image_.argv, fds, names, dispatcher_.generation() + 1);
  } catch (const std::system_error& e) {
    spdlog::error("SIGUSR2: hot upgrade failed to start: {}; still serving", e.what());
    return;
  }
  UpgradeInProgress u;
  u.pid = child.pid;
  u.channel = std::move(child.channel);
  u.started_at = Clock::now();
  u.channel_event.reset(event_new(base_.get(), u.channel.get(), EV_READ | EV_PERSIST,
                                  &onUpgradeChannel, this));
  if (!u.channel_event || event_add(u.channel_event.get(), nullptr) != 0) {
    spdlog::critical("cannot watch the upgrade channel");
    std::abort();
  }
  spdlog::info("SIGUSR2: hot upgrade: started {} as pid {}; waiting up to {} ms for it to be ready",
               image_.exe, u.pid, config_.lifecycle.upgrade_timeout.count());
  upgrade_ = std::move(u);
  arm(upgrade_timer_, config_.lifecycle.upgrade_timeout);
}

void Supervisor::upgradeMessage() {
  if (!upgrade_ || !upgrade_->channel) return;
  ReceivedMessage msg = receiveMessage(upgrade_->channel.get());
  if (msg.status == ReceiveStatus::WouldBlock) return;
  if (msg.status != ReceiveStatus::Message || msg.payload != kUpgradeReady) {
    // EOF or nonsense before "ready": the reaper reports the exit; stop listening here.
    upgrade_->channel_event.reset();
    if (msg.status == ReceiveStatus::Message) {
      spdlog::warn("hot upgrade: unexpected message from the new supervisor: ignored");
      return;
    }
    upgrade_->channel.reset();
    return;
  }
  const pid_t pid = upgrade_->pid;
  event_del(upgrade_timer_.event.get());
  spdlog::info("hot upgrade: new supervisor {} is ready; handing over {} queued connection(s) "
               "and draining", pid, dispatcher_.queued());
  // Stop accepting first, then hand over whatever waits in our queue.
  shutting_down_ = true;
  setListening(false);
  for (ConnectionId id : dispatcher_.dropQueued()) {
    auto pc = takePending(id);
    if (!pc) continue;
    const int err = sendMessage(upgrade_->channel.get(), std::as_bytes(std::span(kUpgradeConn)),
                                pc->fd.get());
    if (err != 0) {
      ++counters_.dropped;
      spdlog::warn("hot upgrade: cannot hand over connection {}: {}", id, std::strerror(err));
      rejectConnection(pc->fd.get(), config_.overload.busy_message);
    }
  }
  sendMessage(upgrade_->channel.get(), std::as_bytes(std::span(kUpgradeDone)));
  // The successor is on its own now: we no longer wait for it or kill it.
  upgrade_.reset();
  shutting_down_ = false;  // beginShutdown does the rest
  beginShutdown(true, "hot upgrade");
}

void Supervisor::upgradeFailed(const std::string& why) {
  if (!upgrade_) return;
  spdlog::error("hot upgrade failed: {}; this supervisor (pid {}) keeps serving", why, ::getpid());
  event_del(upgrade_timer_.event.get());
  if (upgrade_->pid > 0) {
    ::kill(upgrade_->pid, SIGKILL);
    ::waitpid(upgrade_->pid, nullptr, 0);
  }
  upgrade_.reset();
}

void Supervisor::upgradeDeadline() {
  if (!upgrade_) return;
  upgradeFailed(fmt::format("the new supervisor (pid {}) was not ready within {} ms", upgrade_->pid,
                            config_.lifecycle.upgrade_timeout.count()));
}

// ---------------------------------------------------------------- hot upgrade (new side)

void Supervisor::predecessorMessage() {
  for (int i = 0; i < kMaxAcceptsPerWakeup && predecessor_; ++i) {
    ReceivedMessage msg = receiveMessage(predecessor_.get());
    if (msg.status == ReceiveStatus::WouldBlock) return;
    if (msg.status == ReceiveStatus::Message && msg.payload == kUpgradeConn && msg.fd) {
      SocketAddress peer;
      peer.length = sizeof peer.storage;
      if (::getpeername(msg.fd.get(), peer.get(), &peer.length) != 0) peer.length = 0;
      admitConnection(std::move(msg.fd), peer, Clock::now(), true);
      continue;
    }
    if (msg.status == ReceiveStatus::Message && msg.payload == kUpgradeDone) {
      spdlog::info("hot upgrade: took over from the previous supervisor ({} connection(s) "
                   "handed over)", counters_.handed_over);
    } else if (msg.status == ReceiveStatus::Message) {
      spdlog::warn("hot upgrade: unexpected message from the previous supervisor: ignored");
      continue;
    }
    predecessor_event_.reset();
    predecessor_.reset();
    return;
  }
}

// ---------------------------------------------------------------- stats

StatsSnapshot Supervisor::snapshot() const {
  StatsSnapshot s;
  const ChildTable& t = dispatcher_.children();
  s.pid = ::getpid();
  s.version = PREFORKD_VERSION;
  s.now = Clock::now();
  s.started_at = started_at_;
  s.started_wall = started_wall_;
  s.uptime = std::chrono::duration_cast<std::chrono::milliseconds>(s.now - started_at_);
  for (const ListenerSlot& l : listeners_) {
    if (l.listener.fd) s.listeners.push_back(l.listener.address);
  }
  s.service = config_.worker_exec.empty() ? config_.worker.service : "exec";
  s.workers_configured = config_.pool.workers;
  s.workers_total = t.live();
  s.idle = t.count(ChildState::Idle);
  s.busy = t.count(ChildState::Busy);
  s.starting = t.count(ChildState::Starting);
  s.stopping = t.count(ChildState::Stopping);
  s.queued = dispatcher_.queued();
  s.redispatched = dispatcher_.redispatched();
  s.throttled = throttled(s.now) || halted_;
  s.halted = halted_;
  s.throttle_reason = s.throttled ? throttle_reason_ : "";
  s.draining = shutting_down_;
  s.drain = drain_.has_value() || shutting_down_;
  if (drain_) {
    s.drain_reason = drain_->reason;
    s.drain_age = s.now - drain_->since;
  } else if (shutting_down_) {
    s.drain_reason = "shutdown";
  }
  if (agent_) {
    s.agent.enabled = true;
    s.agent.address = agent_->address();
    s.agent.allow = config_.agent.allow;
    s.agent.view = agentView(s.now);
    s.agent.answer = agentAnswer(s.agent.view);
    s.agent.counters = agent_->counters();
    s.agent.peers = agent_->peers().rows();
  }
  s.counters = counters_;
  s.generation = dispatcher_.generation();
  s.pool = config_.pool;
  s.pool.policy = dispatcher_.policy();
  s.queue_capacity = config_.overload.queue_size;
  if (const auto oldest = dispatcher_.oldestQueuedAt()) s.queue_oldest_age = s.now - *oldest;
  s.histograms = histograms_;
  for (const ListenerSlot& l : listeners_) {
    if (l.listener.fd) s.listener_stats.push_back(readListenerStats(l.listener.fd.get(), l.listener.address));
  }
  std::unordered_map<ConnectionId, bool> assigned;
  for (const ChildRecord& c : t.slots()) {
    if (c.state == ChildState::Empty) continue;
    s.children.push_back(c);
    if (c.generation < s.generation) ++s.old_generation;
    if (c.conn) {
      assigned[*c.conn] = true;
      ConnectionRow row;
      row.id = *c.conn;
      row.peer = formatAddress(c.conn_peer);
      row.child_pid = c.pid;
      row.state = c.conn_taken ? "in-service" : "handing-off";
      row.age = s.now - c.conn_queued_at;
      row.queue_wait = c.conn_assigned_at - c.conn_queued_at;
      s.connections.push_back(std::move(row));
    }
  }
  for (const auto& [id, pc] : conns_) {
    if (assigned.contains(id)) continue;
    ConnectionRow row;
    row.id = id;
    row.peer = formatAddress(pc.peer);
    row.state = "queued";
    row.age = s.now - pc.accepted_at;
    row.queue_wait = row.age;
    s.connections.push_back(std::move(row));
  }
  std::sort(s.connections.begin(), s.connections.end(),
            [](const ConnectionRow& a, const ConnectionRow& b) { return a.id < b.id; });
  return s;
}

// ---------------------------------------------------------------- control actions

// What the control socket may ask. Admin actions the pool does not offer yet answer
// "not available yet" (the command layer turns that into an ERROR line).
ControlActions Supervisor::controlActions() {
  ControlActions a;
  a.snapshot = [this] { return snapshot(); };
  a.set_workers = [this](std::size_t n) { return setWorkers(n, "control: set workers"); };
  a.set_policy = [this](std::string_view name) -> std::string {
    const auto policy = parseDispatchPolicy(name);
    if (!policy) return "unknown policy; one of lru, mru, round-robin, least-served";
    dispatcher_.setPolicy(*policy);
    config_.pool.policy = *policy;
    spdlog::info("control: dispatch policy {}", toString(*policy));
    return {};
  };
  a.drain_worker = [this](pid_t pid) -> std::string {
    ChildRecord* c = dispatcher_.children().findByPid(pid);
    if (c == nullptr) return fmt::format("no worker with pid {}", pid);
    if (c->stop_requested || c->state == ChildState::Stopping) {
      return fmt::format("worker {} is already stopping", pid);
    }
    spdlog::info("control: draining worker {} ({})", pid, toString(c->state));
    if (dispatcher_.retire(c->slot, "drain", Clock::now())) sendStop(c->slot);
    return {};
  };
  a.kill_worker = [this](pid_t pid) -> std::string {
    ChildRecord* c = dispatcher_.children().findByPid(pid);
    if (c == nullptr) return fmt::format("no worker with pid {}", pid);
    spdlog::warn("control: killing worker {} ({}): SIGTERM", pid, toString(c->state));
    terminate(*c, Clock::now());
    return {};
  };
  a.kill_conn = [this](ConnectionId id) -> std::string {
    if (dispatcher_.removeQueued(id)) {
      if (auto pc = takePending(id)) {
        spdlog::info("control: closing queued connection {} from {}", id, formatAddress(pc->peer));
      }
      return {};
    }
    for (const ChildRecord& c : dispatcher_.children().slots()) {
      if (c.state != ChildState::Empty && c.conn == id) {
        spdlog::warn("control: killing worker {} serving connection {} from {}: SIGTERM", c.pid,
                     id, formatAddress(c.conn_peer));
        terminate(*dispatcher_.children().find(c.slot), Clock::now());
        return {};
      }
    }
    return fmt::format("no connection {}", id);
  };
  a.clear_counters = [this] {
    counters_ = SupervisorCounters{};
    histograms_ = SupervisorHistograms{};
    dispatcher_.clearCounters();
    if (agent_) agent_->clearCounters();
    spdlog::info("control: counters cleared");
  };
  a.reload = [this](std::function<void(std::string)> done) { reload(std::move(done)); };
  a.reopen_logs = [] { return reopenLogs(); };
  a.shutdown = [this](bool graceful) {
    requestShutdown(graceful, graceful ? "control: shutdown" : "control: shutdown now");
    return std::string();
  };
  a.drain = [this](bool on) { return setDrain(on, "control"); };
  return a;
}

}  // namespace preforkd
