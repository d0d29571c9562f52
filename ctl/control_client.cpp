#include "ctl/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace preforkd::ctl {
namespace {

timeval toTimeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000),
                 static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

}  // namespace

ControlClient ControlClient::connect(const std::string& path, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw Unreachable(fmt::format("control socket path '{}' must be 1 to {} bytes long", path,
                                  sizeof addr.sun_path - 1));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw Unreachable(fmt::format("socket(AF_UNIX): {}", std::strerror(errno)));
  const timeval tv = toTimeval(timeout);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  while (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    if (e == EINTR) continue;
    switch (e) {
      case ENOENT:
        throw Unreachable(fmt::format(
            "no control socket at {} (is preforkd running? --socket PATH names another one)", path));
      case ECONNREFUSED:
        throw Unreachable(fmt::format(
            "nothing answers on {} (a stale socket file: preforkd is not running)", path));
      case EACCES:
      case EPERM:
        throw Unreachable(fmt::format(
            "permission denied on {} (the socket's mode and group decide who may connect: "
            "preforkd --control-mode, --control-group)",
            path));
      case EAGAIN:
      case ETIMEDOUT:
        throw Unreachable(fmt::format("{}: preforkd did not accept the connection within {} ms",
                                      path, timeout.count()));
      default:
        throw Unreachable(fmt::format("cannot connect to {}: {}", path, std::strerror(e)));
    }
  }
  return ControlClient(std::move(fd), path);
}

std::vector<std::string> ControlClient::request(std::string_view line, std::size_t responses,
                                                std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string out(line);
  out += '\n';
  for (std::size_t sent = 0; sent < out.size();) {
    const ssize_t n = ::send(fd_.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Unreachable(fmt::format("{}: cannot send the command: {}", path_, std::strerror(errno)));
    }
    sent += static_cast<std::size_t>(n);
  }
  std::vector<std::string> result;
  while (result.size() < responses) {
    // A response ends with an empty line; an empty response is just that line.
    std::size_t end = std::string::npos;
    if (buf_.starts_with("\n")) {
      end = 0;
    } else if (const auto at = buf_.find("\n\n"); at != std::string::npos) {
      end = at + 1;
    }
    if (end != std::string::npos) {
      result.push_back(buf_.substr(0, end));
      buf_.erase(0, end + 1);
      continue;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      throw Unreachable(fmt::format("{}: no answer to '{}' within {} ms", path_, line,
                                    timeout.count()));
    }
    pollfd p{fd_.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // the deadline check above ends it
    char chunk[16384];
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw Unreachable(fmt::format("{}: {}", path_, std::strerror(errno)));
    }
    if (n == 0) {
      // preforkd closed the connection: a last error line without its empty line (too many
      // clients, command too long) is still an answer.
      if (!buf_.empty()) {
        result.push_back(buf_.back() == '\n' ? buf_ : buf_ + "\n");
        buf_.clear();
        continue;
      }
      if (!result.empty() && isError(result.back())) return result;
      throw Unreachable(fmt::format("{}: preforkd closed the connection without answering", path_));
    }
    buf_.append(chunk, static_cast<std::size_t>(n));
  }
  return result;
}

}  // namespace preforkd::ctl
