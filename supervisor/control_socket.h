// ControlSocket: the supervisor's Unix stream control socket, served by its own event loop
// (so it answers while every worker is busy).
//
// Contract: created at start-up; throws std::runtime_error with context on failure (a
// start-up error): path too long, an existing file that is not a socket, a socket another
// process answers on, an unknown group. The path is bound under umask 0177 (never looser than
// 0600, not even briefly), then given `settings.group` and `settings.mode`. A stale socket
// file is replaced only when nothing answers on it. The destructor closes every client (after
// a last non-blocking attempt to send what is pending) and removes the socket file.
//
// Each client's uid is read with SO_PEERCRED when it connects and mapped to an AccessLevel
// (control_access.h); the handler gets it with every command. libevent writes with writev(),
// so the process must ignore SIGPIPE (the supervisor does).
//
// Framing (HAProxy runtime API style; docs/control.md):
//  - one line per request, LF or CR LF; a line may hold several commands separated by ';',
//    each answered in turn;
//  - every response ends with one empty line and contains none (the socket drops empty lines
//    from a handler's body and adds the final one), errors start with "ERROR ";
//  - a client may send many lines, or one line and half-close: it gets the responses, then
//    EOF (an unterminated last line is still answered);
//  - `prompt` toggles interactive mode: after each response's empty line comes "> ";
//    `quit` closes the connection;
//  - responses to one client stay in order: while a command's answer is pending (an
//    asynchronous `reload`), no further command of that client is read. The answer may come
//    after the client has gone: it is then dropped.
// Bounds: line length (a longer line gets an ERROR and the connection is closed), number of
// clients (the extra one gets an ERROR and is closed), idle time (no input while reading, or
// no output progress while writing: closed), and output pending for a client that does not
// read (commands stop being read until it drains; the idle time then closes it).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/unique_fd.h"
#include "supervisor/control_access.h"
#include "supervisor/control_settings.h"
#include "supervisor/event_loop.h"

namespace preforkd {

class ControlSocket {
 public:
  // Answers the command once through the reply function (now or later); must not throw.
  using Reply = std::function<void(std::string response)>;
  using Handler = std::function<void(std::string_view command, const ControlPeer& peer, Reply reply)>;

  // Output queued for one client above which its further commands wait.
  static constexpr std::size_t kMaxPendingOutput = 256 * 1024;
  static constexpr std::string_view kPrompt = "> ";

  ControlSocket(event_base* base, std::string path, const ControlSettings& settings,
                Handler handler);
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  const std::string& path() const noexcept { return path_; }
  // Atomically renames the socket file over `path` (a hot upgrade's successor binds a
  // temporary path and takes the real one over once it is ready). False, logged, on failure.
  bool moveTo(const std::string& path);

  std::size_t clients() const noexcept { return clients_.size(); }

  // The handler's body made a valid response: empty lines removed, a final "\n" added, then
  // the empty line that ends every response. Pure; public for its tests.
  static std::string frameResponse(std::string_view body);

 private:
  struct Client;
  struct ReplyState;
  static void onAccept(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onResume(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onRead(bufferevent* bev, void* arg) noexcept;
  static void onWrite(bufferevent* bev, void* arg) noexcept;
  static void onEvent(bufferevent* bev, short what, void* arg) noexcept;

  void acceptClients();
  void process(Client& client);
  bool nextLine(Client& client);
  void dispatch(Client& client, std::string command);
  void deliver(Client& client, std::uint64_t seq, std::string_view body);
  void write(Client& client, std::string_view text);
  void rejectTooLong(Client& client);
  void closeWhenFlushed(Client& client);
  void drop(Client& client);

  event_base* base_;
  std::string path_;
  ControlSettings settings_;
  AdminRule admin_rule_;
  Handler handler_;
  UniqueFd listen_fd_;
  dev_t dev_ = 0;  // identity of the socket file we bound: the destructor removes only it
  ino_t ino_ = 0;
  EventPtr accept_event_;
  EventPtr resume_event_;  // re-arms accept_event_ after fd exhaustion
  std::list<std::shared_ptr<Client>> clients_;
};

}  // namespace preforkd
