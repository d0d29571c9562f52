#include "common/socket_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace preforkd {

int SocketAddress::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return -1;
}

std::optional<SocketAddress> parseHostPort(std::string_view text, std::string* error) {
  auto fail = [&](std::string message) -> std::optional<SocketAddress> {
    if (error) *error = fmt::format("invalid address '{}': {}", text, message);
    return std::nullopt;
  };
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after IPv6 address");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') return fail("expected ':PORT' after ']'");
    port_text = text.substr(close + 2);
    bracketed = true;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("expected HOST:PORT");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail("IPv6 addresses must be written in brackets, e.g. [::1]:2323");
    }
  }
  if (host.empty()) return fail("missing host (use 0.0.0.0 or [::] for all addresses)");
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return fail("port must be a number from 0 to 65535");
  }
  const std::string host_str(host);
  SocketAddress addr;
  if (!bracketed) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&addr.storage);
    if (inet_pton(AF_INET, host_str.c_str(), &sin->sin_addr) == 1) {
      sin->sin_family = AF_INET;
      sin->sin_port = htons(static_cast<uint16_t>(port));
      addr.length = sizeof(sockaddr_in);
      return addr;
    }
    return fail("host must be a numeric IPv4 address or a bracketed IPv6 address "
                "(names are not resolved)");
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&addr.storage);
  if (inet_pton(AF_INET6, host_str.c_str(), &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    addr.length = sizeof(sockaddr_in6);
    return addr;
  }
  return fail("not a numeric IPv6 address");
}

std::string formatAddress(const sockaddr* addr, socklen_t length) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr == nullptr || length < static_cast<socklen_t>(sizeof(sa_family_t))) return "?";
  if (addr->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    return fmt::format("{}:{}", buf, ntohs(sin->sin_port));
  }
  if (addr->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
    return fmt::format("[{}]:{}", buf, ntohs(sin6->sin6_port));
  }
  if (addr->sa_family == AF_UNIX) return "unix";
  return fmt::format("family-{}", addr->sa_family);
}

std::string formatAddress(const SocketAddress& addr) { return formatAddress(addr.get(), addr.length); }

namespace {
std::string keyOf(const in6_addr& a) {
  const auto* bytes = reinterpret_cast<const char*>(&a);
  if (IN6_IS_ADDR_V4MAPPED(&a)) return std::string(bytes + 12, 4);
  return std::string(bytes, sizeof a);
}
}  // namespace

std::string ipKey(const SocketAddress& addr) {
  if (addr.family() == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, &addr.storage, sizeof in);
    return std::string(reinterpret_cast<const char*>(&in.sin_addr), sizeof in.sin_addr);
  }
  if (addr.family() == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &addr.storage, sizeof in6);
    return keyOf(in6.sin6_addr);
  }
  return {};
}

std::optional<std::string> ipKey(std::string_view numeric_ip) {
  const std::string text(numeric_ip);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return std::string(reinterpret_cast<const char*>(&v4), sizeof v4);
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) return keyOf(v6);
  return std::nullopt;
}

}  // namespace preforkd
