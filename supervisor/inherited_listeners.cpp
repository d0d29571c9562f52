#include "supervisor/inherited_listeners.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

namespace preforkd {
namespace {

std::optional<long> parseNumber(const char* text) {
  if (text == nullptr || *text == '\0') return std::nullopt;
  long value = 0;
  const std::string_view s(text);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

int socketOption(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, level, name, &value, &len) != 0) return -1;
  return value;
}

}  // namespace

std::vector<InheritedListener> takeInheritedListeners() {
  const auto pid = parseNumber(std::getenv("LISTEN_PID"));
  const auto count = parseNumber(std::getenv("LISTEN_FDS"));
  const char* names_env = std::getenv("LISTEN_FDNAMES");
  const std::string names = names_env != nullptr ? names_env : "";
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  std::vector<InheritedListener> out;
  if (!pid || !count || *pid != ::getpid() || *count <= 0) return out;
  if (*count > 1024) throw std::runtime_error(fmt::format("LISTEN_FDS={} is implausible", *count));

  // Take ownership of every fd first, so all are closed if one is rejected.
  std::size_t name_pos = 0;
  for (long i = 0; i < *count; ++i) {
    const int fd = kListenFdsStart + static_cast<int>(i);
    InheritedListener l;
    l.listener.fd.reset(fd);
    const std::size_t colon = names.find(':', name_pos);
    if (name_pos <= names.size()) {
      l.name = names.substr(name_pos, colon == std::string::npos ? std::string::npos : colon - name_pos);
      name_pos = colon == std::string::npos ? names.size() + 1 : colon + 1;
    }
    out.push_back(std::move(l));
  }
  for (InheritedListener& l : out) {
    const int fd = l.listener.fd.get();
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
      throw std::runtime_error(fmt::format("inherited fd {}: {}", fd, std::strerror(errno)));
    }
    const int domain = socketOption(fd, SOL_SOCKET, SO_DOMAIN);
    if (socketOption(fd, SOL_SOCKET, SO_TYPE) != SOCK_STREAM ||
        (domain != AF_INET && domain != AF_INET6) ||
        socketOption(fd, SOL_SOCKET, SO_ACCEPTCONN) != 1) {
      throw std::runtime_error(fmt::format(
          "inherited fd {}{} is not a listening TCP socket", fd,
          l.name.empty() ? "" : fmt::format(" ({})", l.name)));
    }
    // The loop never blocks on accept.
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
      throw std::runtime_error(fmt::format("inherited fd {}: {}", fd, std::strerror(errno)));
    }
    SocketAddress bound;
    socklen_t len = sizeof bound.storage;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound.storage), &len) != 0) {
      throw std::runtime_error(fmt::format("inherited fd {}: {}", fd, std::strerror(errno)));
    }
    bound.length = len;
    l.listener.address = formatAddress(bound);
  }
  return out;
}

}  // namespace preforkd
