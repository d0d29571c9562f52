// ControlSocket: the supervisor's Unix stream control socket, served by its own event loop.
//
// Contract: created at start-up (throws std::runtime_error with context on failure: that is
// a start-up error). The path is bound with mode 0600; an existing socket file is replaced
// only when nothing answers on it, and any other existing file is an error. Framing: one
// command per line (LF or CR LF), each response ends with an empty line; a client may send
// several lines, or one line and half-close. Bounded: line length, number of clients, idle
// time. The handler is called for each line and must not throw (it is called from a libevent
// callback). The destructor closes all clients and removes the socket file.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "common/unique_fd.h"
#include "supervisor/event_loop.h"

namespace preforkd {

struct ControlSocketLimits {
  std::size_t max_clients = 16;
  std::size_t max_line_bytes = 1024;
  std::chrono::milliseconds idle_timeout{60'000};
};

class ControlSocket {
 public:
  using Handler = std::function<std::string(std::string_view line)>;

  ControlSocket(event_base* base, std::string path, Handler handler,
                ControlSocketLimits limits = {});
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  const std::string& path() const noexcept { return path_; }
  // Atomically renames the socket file over `path` (a hot upgrade's successor binds a
  // temporary path and takes the real one over once it is ready). False, logged, on failure.
  bool moveTo(const std::string& path);

 private:
  struct Client;
  static void onAccept(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onResume(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onRead(bufferevent* bev, void* arg) noexcept;
  static void onWrite(bufferevent* bev, void* arg) noexcept;
  static void onEvent(bufferevent* bev, short what, void* arg) noexcept;

  void acceptClients();
  void handleInput(Client& client);
  void respond(Client& client, std::string_view line);
  void rejectTooLong(Client& client);
  void closeWhenFlushed(Client& client);
  void drop(Client& client);

  event_base* base_;
  std::string path_;
  Handler handler_;
  ControlSocketLimits limits_;
  UniqueFd listen_fd_;
  dev_t dev_ = 0;  // identity of the socket file we bound: the destructor removes only it
  ino_t ino_ = 0;
  EventPtr accept_event_;
  EventPtr resume_event_;  // re-arms accept_event_ after fd exhaustion
  std::list<std::unique_ptr<Client>> clients_;
};

}  // namespace preforkd
