#include "supervisor/control_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <event2/buffer.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace preforkd {

struct ControlSocket::Client {
  ControlSocket* owner = nullptr;
  BufferEventPtr bev;
  bool closing = false;
  std::list<std::unique_ptr<Client>>::iterator self;
};

namespace {

sockaddr_un makeAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    throw std::runtime_error(fmt::format(
        "control socket path '{}' must be 1 to {} bytes long", path, sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// Removes a stale socket file left by a crashed instance; refuses to touch anything else.
void removeStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw std::runtime_error(fmt::format("control socket {}: {}", path, std::strerror(errno)));
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw std::runtime_error(
        fmt::format("control socket {}: the path exists and is not a socket", path));
  }
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) throw std::runtime_error(fmt::format("socket(AF_UNIX): {}", std::strerror(errno)));
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
    throw std::runtime_error(fmt::format(
        "control socket {}: another process is answering on it (is preforkd already running?)",
        path));
  }
  if (errno != ECONNREFUSED) {
    throw std::runtime_error(fmt::format("control socket {}: {}", path, std::strerror(errno)));
  }
  spdlog::info("removing stale control socket {}", path);
  ::unlink(path.c_str());
}

}  // namespace

ControlSocket::ControlSocket(event_base* base, std::string path, Handler handler,
                             ControlSocketLimits limits)
    : base_(base), path_(std::move(path)), handler_(std::move(handler)), limits_(limits) {
  const sockaddr_un addr = makeAddress(path_);
  removeStaleSocket(path_, addr);
  listen_fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listen_fd_) throw std::runtime_error(fmt::format("socket(AF_UNIX): {}", std::strerror(errno)));
  // Tight umask around bind: the socket file never exists with a looser mode, not even briefly.
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(listen_fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0) {
    throw std::runtime_error(
        fmt::format("control socket {}: bind: {}", path_, std::strerror(bind_errno)));
  }
  if (::listen(listen_fd_.get(), 16) != 0) {
    const int e = errno;
    ::unlink(path_.c_str());
    throw std::runtime_error(fmt::format("control socket {}: listen: {}", path_, std::strerror(e)));
  }
  accept_event_.reset(event_new(base_, listen_fd_.get(), EV_READ | EV_PERSIST, &onAccept, this));
  if (!accept_event_ || event_add(accept_event_.get(), nullptr) != 0) {
    ::unlink(path_.c_str());
    throw std::runtime_error("control socket: cannot register with the event loop");
  }
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
  spdlog::info("control socket at {}", path_);
}

ControlSocket::~ControlSocket() {
  clients_.clear();
  accept_event_.reset();
  listen_fd_.reset();
  // Only our own socket file: after a hot upgrade the path names the successor's socket.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
}

bool ControlSocket::moveTo(const std::string& path) {
  if (::rename(path_.c_str(), path.c_str()) != 0) {
    spdlog::error("control socket: cannot move {} to {}: {}", path_, path, std::strerror(errno));
    return false;
  }
  spdlog::info("control socket moved to {}", path);
  path_ = path;
  return true;
}

void ControlSocket::onAccept(evutil_socket_t, short, void* arg) noexcept {
  try {
    static_cast<ControlSocket*>(arg)->acceptClients();
  } catch (const std::exception& e) {
    spdlog::error("control socket: {}", e.what());
  }
}

void ControlSocket::onResume(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<ControlSocket*>(arg);
  event_add(self->accept_event_.get(), nullptr);
}

void ControlSocket::acceptClients() {
  for (int i = 0; i < 16; ++i) {  // bounded: never starve the rest of the loop
    UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      const int err = errno;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        // The pending client keeps the socket readable: retrying now would spin. Pause
        // accepting and retry from a timer (the supervisor logs fd exhaustion already).
        event_del(accept_event_.get());
        if (!resume_event_) {
          resume_event_.reset(evtimer_new(base_, &onResume, this));
        }
        if (resume_event_) {
          const timeval tv{0, 100'000};
          event_add(resume_event_.get(), &tv);
        }
        return;
      }
      if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED) {
        spdlog::warn("control socket accept: {}", std::strerror(err));
      }
      return;
    }
    if (clients_.size() >= limits_.max_clients) {
      static constexpr char kBusy[] = "ERROR too many control clients\n\n";
      [[maybe_unused]] auto n = ::send(fd.get(), kBusy, sizeof kBusy - 1, MSG_NOSIGNAL);
      spdlog::warn("control socket: refused a client (limit of {} reached)", limits_.max_clients);
      continue;
    }
    auto client = std::make_unique<Client>();
    client->owner = this;
    client->bev.reset(bufferevent_socket_new(base_, fd.get(), BEV_OPT_CLOSE_ON_FREE));
    if (!client->bev) continue;
    (void)fd.release();  // the bufferevent owns it now
    bufferevent_setcb(client->bev.get(), &onRead, &onWrite, &onEvent, client.get());
    const timeval idle = toTimeval(limits_.idle_timeout);
    bufferevent_set_timeouts(client->bev.get(), &idle, &idle);
    bufferevent_enable(client->bev.get(), EV_READ | EV_WRITE);
    clients_.push_front(std::move(client));
    clients_.front()->self = clients_.begin();
  }
}

void ControlSocket::onRead(bufferevent*, void* arg) noexcept {
  auto* client = static_cast<Client*>(arg);
  try {
    client->owner->handleInput(*client);
  } catch (const std::exception& e) {
    spdlog::error("control socket: {}", e.what());
    client->owner->drop(*client);
  }
}

void ControlSocket::handleInput(Client& client) {
  evbuffer* in = bufferevent_get_input(client.bev.get());
  while (!client.closing) {
    std::size_t len = 0;
    char* raw = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
    if (raw == nullptr) break;
    std::unique_ptr<char, decltype(&std::free)> line(raw, &std::free);
    respond(client, std::string_view(line.get(), len));
  }
  // No terminator within the limit: the command is too long whatever comes next.
  if (!client.closing && evbuffer_get_length(in) > limits_.max_line_bytes) rejectTooLong(client);
}

void ControlSocket::rejectTooLong(Client& client) {
  evbuffer_add_printf(bufferevent_get_output(client.bev.get()),
                      "ERROR command longer than %zu bytes\n\n", limits_.max_line_bytes);
  closeWhenFlushed(client);
}

void ControlSocket::respond(Client& client, std::string_view line) {
  if (line.size() > limits_.max_line_bytes) {
    rejectTooLong(client);
    return;
  }
  std::string response = handler_(line);
  response += '\n';
  evbuffer_add(bufferevent_get_output(client.bev.get()), response.data(), response.size());
}

void ControlSocket::onWrite(bufferevent*, void* arg) noexcept {
  auto* client = static_cast<Client*>(arg);
  if (client->closing) client->owner->drop(*client);
}

void ControlSocket::onEvent(bufferevent* bev, short what, void* arg) noexcept {
  auto* client = static_cast<Client*>(arg);
  if (what & BEV_EVENT_EOF) {
    // Half-close: answer the complete lines, then a final line that lacks its terminator,
    // then close once everything is written. (The leftover bytes are taken out of the input
    // buffer: libevent keeps its end frozen, so appending a "\n" to it would fail.)
    ControlSocket* owner = client->owner;
    evbuffer* in = bufferevent_get_input(bev);
    try {
      owner->handleInput(*client);
      const std::size_t left = evbuffer_get_length(in);
      if (!client->closing && left > 0 && left <= owner->limits_.max_line_bytes) {
        std::string last(left, '\0');
        evbuffer_remove(in, last.data(), left);
        if (last.back() == '\r') last.pop_back();
        owner->respond(*client, last);
      }
    } catch (const std::exception& e) {
      spdlog::error("control socket: {}", e.what());
    }
    // respond() never frees the client (an error reply is queued first), so it is alive.
    owner->closeWhenFlushed(*client);
    return;
  }
  // Errors and timeouts: just close.
  client->owner->drop(*client);
}

void ControlSocket::closeWhenFlushed(Client& client) {
  client.closing = true;
  bufferevent_disable(client.bev.get(), EV_READ);
  if (evbuffer_get_length(bufferevent_get_output(client.bev.get())) == 0) drop(client);
}

void ControlSocket::drop(Client& client) { clients_.erase(client.self); }

}  // namespace preforkd
