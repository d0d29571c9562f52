#include "supervisor/agent_endpoint.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include <spdlog/spdlog.h>

namespace preforkd {
namespace {
constexpr int kMaxAcceptsPerWakeup = 16;
constexpr std::size_t kMaxReceived = 256;  // more than any agent-send label we keep
}  // namespace

AgentEndpoint::AgentEndpoint(event_base* base, Listener listener,
                             const std::vector<std::string>& allow, AnswerFn answer)
    : base_(base), listener_(std::move(listener)), answer_(std::move(answer)) {
  setAllow(allow);
  accept_event_.reset(event_new(base_, listener_.fd.get(), EV_READ | EV_PERSIST, &onAccept, this));
  resume_event_.reset(evtimer_new(base_, &onResume, this));
  if (!accept_event_ || !resume_event_ || event_add(accept_event_.get(), nullptr) != 0) {
    throw std::runtime_error("cannot register the agent endpoint with the event loop");
  }
}

// The events are freed before the fds they watch (members are destroyed in reverse order, and
// each Conn's event is declared after its fd).
AgentEndpoint::~AgentEndpoint() = default;

void AgentEndpoint::setAllow(const std::vector<std::string>& allow) {
  allow_.clear();
  for (const std::string& ip : allow) {
    if (auto key = ipKey(ip)) allow_.insert(std::move(*key));
  }
}

void AgentEndpoint::clearCounters() {
  counters_ = {};
  peers_.clear();
}

void AgentEndpoint::onAccept(evutil_socket_t, short, void* arg) noexcept {
  try {
    static_cast<AgentEndpoint*>(arg)->acceptAll();
  } catch (const std::exception& e) {
    spdlog::critical("bug: exception in the agent endpoint: {}", e.what());
    std::abort();
  }
}

void AgentEndpoint::onResume(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<AgentEndpoint*>(arg);
  event_add(self->accept_event_.get(), nullptr);
}

void AgentEndpoint::onConnEvent(evutil_socket_t, short what, void* arg) noexcept {
  auto* c = static_cast<Conn*>(arg);
  try {
    c->owner->connEvent(*c, what);
  } catch (const std::exception& e) {
    spdlog::critical("bug: exception on an agent connection: {}", e.what());
    std::abort();
  }
}

void AgentEndpoint::acceptAll() {
  for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
    AcceptResult r = acceptOne(listener_.fd.get());
    switch (r.outcome) {
      case AcceptOutcome::Accepted:
        serve(std::move(r.fd), r.peer);
        break;
      case AcceptOutcome::Drained:
        return;
      case AcceptOutcome::Transient:
        break;
      case AcceptOutcome::ResourceLimit: {
        // Level-triggered: the pending connection would wake us again at once. Pause instead.
        event_del(accept_event_.get());
        const timeval tv = toTimeval(kBackoff);
        event_add(resume_event_.get(), &tv);
        spdlog::warn("agent: accept failed: {}; pausing {} ms", std::strerror(r.error),
                     kBackoff.count());
        return;
      }
    }
  }
}

void AgentEndpoint::serve(UniqueFd fd, const SocketAddress& peer) {
  if (!allow_.empty() && !allow_.contains(ipKey(peer))) {
    ++counters_.refused;
    // At most one line per kRefusedLogInterval, however fast a scanner connects.
    const auto now = std::chrono::steady_clock::now();
    if (counters_.refused == 1 || now - last_refused_log_ >= kRefusedLogInterval) {
      last_refused_log_ = now;
      spdlog::warn("agent: refused {} (not in the agent allow list; {} refused so far)",
                   formatAddress(peer), counters_.refused);
    }
    return;  // fd closes: nothing was sent, nothing unread matters
  }
  if (open_.size() >= kMaxOpen) {
    ++counters_.overflow;
    return;
  }
  const std::string line = answer_();
  const ssize_t n = ::send(fd.get(), line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n != static_cast<ssize_t>(line.size())) {
    ++counters_.errors;
    spdlog::debug("agent: cannot answer {}: {}", formatAddress(peer),
                  n < 0 ? std::strerror(errno) : "short write");
    return;
  }
  ++counters_.checks;
  // FIN right after the line; then wait for the peer's own close (or what it sent).
  ::shutdown(fd.get(), SHUT_WR);
  Conn& c = open_.emplace_back();
  c.self = std::prev(open_.end());
  c.owner = this;
  c.peer = formatAddress(peer);
  c.fd = std::move(fd);
  c.event.reset(event_new(base_, c.fd.get(), EV_READ | EV_PERSIST, &onConnEvent, &c));
  const timeval tv = toTimeval(kPeerGrace);
  if (!c.event || event_add(c.event.get(), &tv) != 0) finish(c);
}

void AgentEndpoint::connEvent(Conn& c, short what) {
  if ((what & EV_TIMEOUT) != 0) {
    finish(c);
    return;
  }
  char buf[512];
  for (;;) {
    const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      const std::size_t room = kMaxReceived - std::min(kMaxReceived, c.received.size());
      c.received.append(buf, std::min<std::size_t>(room, static_cast<std::size_t>(n)));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // wait for more or EOF
    if (n < 0 && errno == EINTR) continue;
    finish(c);  // EOF or error: done
    return;
  }
}

void AgentEndpoint::finish(Conn& c) {
  peers_.record(AgentPeers::labelFor(c.received, c.peer), c.peer, std::chrono::steady_clock::now());
  c.event.reset();
  open_.erase(c.self);  // closes the fd
}

}  // namespace preforkd
