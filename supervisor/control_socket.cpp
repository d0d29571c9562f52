#include "supervisor/control_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <stdexcept>

#include <event2/buffer.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "supervisor/control_commands.h"

namespace preforkd {

struct ControlSocket::Client {
  ControlSocket* owner = nullptr;
  BufferEventPtr bev;
  ControlPeer peer;
  std::deque<std::string> commands;  // split from the current line, not yet run
  std::uint64_t seq = 0;             // numbers the commands; a reply names the one it answers
  bool awaiting = false;             // command `seq` has not been answered yet
  bool dispatching = false;          // inside process(): a synchronous reply must not recurse
  bool eof = false;                  // the peer half-closed: answer what is left, then close
  bool closing = false;              // close once the output is flushed
  bool prompt = false;               // interactive mode
  std::list<std::shared_ptr<Client>>::iterator self;
};

// Shared by every copy of one command's Reply. Answers exactly once: a second call is
// ignored, and if the last copy goes away unanswered the client still gets an ERROR (it would
// otherwise wait forever, since its next command is not read before this one is answered).
struct ControlSocket::ReplyState {
  std::weak_ptr<Client> client;
  std::uint64_t seq = 0;
  bool answered = false;

  void answer(std::string_view body) {
    if (answered) return;
    answered = true;
    if (auto c = client.lock()) c->owner->deliver(*c, seq, body);
  }
  ~ReplyState() { answer("ERROR internal error: the command was dropped unanswered\n"); }
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

std::optional<gid_t> groupOrThrow(const std::string& name, const char* what) {
  if (name.empty()) return std::nullopt;
  std::string error;
  const auto gid = resolveGroup(name, &error);
  if (!gid) throw std::runtime_error(fmt::format("{}: {}", what, error));
  return gid;
}

}  // namespace

std::string ControlSocket::frameResponse(std::string_view body) {
  std::string out;
  out.reserve(body.size() + 2);
  std::size_t start = 0;
  while (start < body.size()) {
    std::size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    if (end > start) {
      out.append(body.substr(start, end - start));
      out += '\n';
    }
    start = end + 1;
  }
  out += '\n';
  return out;
}

ControlSocket::ControlSocket(event_base* base, std::string path, const ControlSettings& settings,
                             Handler handler)
    : base_(base), path_(std::move(path)), settings_(settings), handler_(std::move(handler)) {
  if (settings_.mode > 0777) {
    throw std::runtime_error(fmt::format("control socket mode {:o} is not a permission mode",
                                         settings_.mode));
  }
  const std::optional<gid_t> socket_gid = groupOrThrow(settings_.group, "--control-group");
  admin_rule_.daemon_euid = ::geteuid();
  admin_rule_.admin_gid = groupOrThrow(settings_.admin_group, "--control-admin-group");

  const sockaddr_un addr = makeAddress(path_);
  removeStaleSocket(path_, addr);
  listen_fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listen_fd_) throw std::runtime_error(fmt::format("socket(AF_UNIX): {}", std::strerror(errno)));
  // Tight umask around bind: the socket file never exists with a looser mode than 0600, not
  // even briefly; the configured group and mode are applied after.
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(listen_fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0) {
    throw std::runtime_error(
        fmt::format("control socket {}: bind: {}", path_, std::strerror(bind_errno)));
  }
  auto fail = [this](const std::string& what) {
    const int e = errno;
    ::unlink(path_.c_str());
    throw std::runtime_error(fmt::format("control socket {}: {}: {}", path_, what, std::strerror(e)));
  };
  if (socket_gid && ::lchown(path_.c_str(), static_cast<uid_t>(-1), *socket_gid) != 0) {
    fail(fmt::format("chgrp {}", settings_.group));
  }
  // chmod follows symbolic links, but the path was just bound by us: it is our socket.
  if (settings_.mode != 0600 && ::chmod(path_.c_str(), settings_.mode) != 0) {
    fail(fmt::format("chmod {:o}", settings_.mode));
  }
  if (::listen(listen_fd_.get(), 64) != 0) fail("listen");
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
  spdlog::info("control socket at {} (mode {:04o}{}{})", path_, settings_.mode,
               settings_.group.empty() ? "" : ", group " + settings_.group,
               settings_.admin_group.empty() ? "" : ", admin group " + settings_.admin_group);
}

ControlSocket::~ControlSocket() {
  // A response written just before the loop stopped (`shutdown`) still gets one chance.
  for (const auto& c : clients_) {
    evbuffer* out = bufferevent_get_output(c->bev.get());
    if (evbuffer_get_length(out) > 0) evbuffer_write(out, bufferevent_getfd(c->bev.get()));
  }
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
    if (clients_.size() >= settings_.max_clients) {
      static constexpr char kBusy[] = "ERROR too many control clients\n\n";
      [[maybe_unused]] auto n = ::send(fd.get(), kBusy, sizeof kBusy - 1, MSG_NOSIGNAL);
      spdlog::warn("control socket: refused a client (limit of {} reached)", settings_.max_clients);
      continue;
    }
    const std::optional<ControlPeer> peer = peerCredentials(fd.get());
    if (!peer) {
      spdlog::warn("control socket: SO_PEERCRED failed ({}): client refused", std::strerror(errno));
      continue;
    }
    auto client = std::make_shared<Client>();
    client->owner = this;
    client->peer = *peer;
    client->peer.level = accessLevelFor(peer->uid, peer->gid, admin_rule_, &userInGroup);
    client->bev.reset(bufferevent_socket_new(base_, fd.get(), BEV_OPT_CLOSE_ON_FREE));
    if (!client->bev) continue;
    (void)fd.release();  // the bufferevent owns it now
    spdlog::debug("control client pid {} uid {} connected ({})", client->peer.pid,
                  client->peer.uid, toString(client->peer.level));
    bufferevent_setcb(client->bev.get(), &onRead, &onWrite, &onEvent, client.get());
    const timeval idle = toTimeval(settings_.idle_timeout);
    bufferevent_set_timeouts(client->bev.get(), &idle, &idle);
    // Stop reading from the socket while this much input waits: a line longer than the limit
    // is detected, and a client that floods us fills its own socket buffer, not our memory.
    bufferevent_setwatermark(client->bev.get(), EV_READ, 0, settings_.max_command_bytes + 2);
    bufferevent_enable(client->bev.get(), EV_READ | EV_WRITE);
    clients_.push_front(std::move(client));
    clients_.front()->self = clients_.begin();
  }
}

void ControlSocket::onRead(bufferevent*, void* arg) noexcept {
  auto* client = static_cast<Client*>(arg);
  const std::shared_ptr<Client> keep = *client->self;  // process() may drop it
  try {
    client->owner->process(*client);
  } catch (const std::exception& e) {
    spdlog::error("control socket: {}", e.what());
    client->owner->drop(*client);
  }
}

void ControlSocket::onWrite(bufferevent*, void* arg) noexcept {
  // Called when the output has drained: close, or read the commands that waited for it.
  auto* client = static_cast<Client*>(arg);
  const std::shared_ptr<Client> keep = *client->self;
  try {
    if (client->closing) {
      client->owner->drop(*client);
    } else {
      client->owner->process(*client);
    }
  } catch (const std::exception& e) {
    spdlog::error("control socket: {}", e.what());
    client->owner->drop(*client);
  }
}

void ControlSocket::onEvent(bufferevent*, short what, void* arg) noexcept {
  auto* client = static_cast<Client*>(arg);
  const std::shared_ptr<Client> keep = *client->self;
  if (what & BEV_EVENT_EOF) {
    // Half-close: answer every command already sent (an unterminated last line too), then
    // close once everything is written. libevent has stopped reading.
    client->eof = true;
    try {
      client->owner->process(*client);
    } catch (const std::exception& e) {
      spdlog::error("control socket: {}", e.what());
      client->owner->drop(*client);
    }
    return;
  }
  if (what & BEV_EVENT_TIMEOUT) {
    spdlog::debug("control client pid {}: idle for {} ms, closing", client->peer.pid,
                  client->owner->settings_.idle_timeout.count());
  }
  client->owner->drop(*client);
}

// Takes the next line off the input into `commands`; false if there is none yet. A final
// line without its terminator counts once the peer has half-closed.
bool ControlSocket::nextLine(Client& client) {
  evbuffer* in = bufferevent_get_input(client.bev.get());
  std::size_t len = 0;
  std::string line;
  if (char* raw = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) {
    line.assign(raw, len);
    std::free(raw);
  } else {
    const std::size_t left = evbuffer_get_length(in);
    if (left > settings_.max_command_bytes) {
      rejectTooLong(client);  // no terminator within the limit: too long whatever follows
      return false;
    }
    if (!client.eof || left == 0) return false;
    // (Removed, not terminated in place: libevent keeps the input's end frozen.)
    line.resize(left);
    evbuffer_remove(in, line.data(), left);
    if (line.back() == '\r') line.pop_back();
  }
  if (line.size() > settings_.max_command_bytes) {
    rejectTooLong(client);
    return false;
  }
  for (std::string& cmd : splitCommands(line)) client.commands.push_back(std::move(cmd));
  return true;
}

void ControlSocket::process(Client& client) {
  if (client.dispatching) return;
  client.dispatching = true;
  evbuffer* out = bufferevent_get_output(client.bev.get());
  while (!client.closing && !client.awaiting) {
    if (evbuffer_get_length(out) >= kMaxPendingOutput) break;  // onWrite resumes
    if (client.commands.empty()) {
      if (!nextLine(client)) break;
      continue;
    }
    std::string command = std::move(client.commands.front());
    client.commands.pop_front();
    dispatch(client, std::move(command));
  }
  client.dispatching = false;
  if (client.closing) {
    if (evbuffer_get_length(out) == 0) drop(client);
    return;
  }
  if (client.awaiting) {
    // Responses stay in order: read nothing more until this one is answered.
    bufferevent_disable(client.bev.get(), EV_READ);
    return;
  }
  if (client.eof) {
    if (client.commands.empty() && evbuffer_get_length(bufferevent_get_input(client.bev.get())) == 0) {
      closeWhenFlushed(client);
    }
    return;
  }
  bufferevent_enable(client.bev.get(), EV_READ);
}

void ControlSocket::dispatch(Client& client, std::string command) {
  if (command == "quit") {
    client.commands.clear();
    closeWhenFlushed(client);
    return;
  }
  if (command == "prompt") {
    client.prompt = !client.prompt;
    write(client, frameResponse(client.prompt
                                    ? "interactive mode: 'prompt' again to leave it, 'quit' to close"
                                    : "interactive mode off"));
    if (client.prompt) write(client, kPrompt);
    return;
  }
  client.awaiting = true;
  const std::uint64_t seq = ++client.seq;
  auto state = std::make_shared<ReplyState>();
  state->client = *client.self;
  state->seq = seq;
  try {
    handler_(command, client.peer, [state](std::string response) { state->answer(response); });
  } catch (const std::exception& e) {
    // The handler must not throw; if it does, the client still gets its one answer.
    spdlog::error("control: '{}' threw: {}", command.substr(0, 64), e.what());
    state->answer(fmt::format("ERROR internal error: {}\n", e.what()));
  }
}

void ControlSocket::deliver(Client& client, std::uint64_t seq, std::string_view body) {
  if (!client.awaiting || seq != client.seq || client.closing) return;
  client.awaiting = false;
  write(client, frameResponse(body));
  if (client.prompt) write(client, kPrompt);
  if (!client.dispatching) process(client);  // an asynchronous answer: carry on reading
}

void ControlSocket::write(Client& client, std::string_view text) {
  evbuffer_add(bufferevent_get_output(client.bev.get()), text.data(), text.size());
}

void ControlSocket::rejectTooLong(Client& client) {
  write(client, frameResponse(
                    fmt::format("ERROR command longer than {} bytes", settings_.max_command_bytes)));
  client.commands.clear();
  closeWhenFlushed(client);
}

void ControlSocket::closeWhenFlushed(Client& client) {
  client.closing = true;
  bufferevent_disable(client.bev.get(), EV_READ);
  // process() (or onWrite) drops the client once the output is empty; outside process(),
  // drop it here.
  if (!client.dispatching && evbuffer_get_length(bufferevent_get_output(client.bev.get())) == 0) {
    drop(client);
  }
}

void ControlSocket::drop(Client& client) {
  if (client.self == clients_.end()) return;
  auto it = client.self;
  client.self = clients_.end();
  clients_.erase(it);
}

}  // namespace preforkd
