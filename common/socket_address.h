// Numeric socket addresses: parse "host:port" for --listen and format peers for logs.
//
// Contract: pure apart from inet_pton/inet_ntop; never resolves names (no DNS anywhere in
// preforkd: a peer is logged as numbers). Accepted forms: "127.0.0.1:2323", "[::1]:2323",
// "0.0.0.0:0", "[::]:80". Port 0 asks the kernel for a free port.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

namespace preforkd {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const noexcept { return storage.ss_family; }
  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&storage); }
  int port() const noexcept;
};

// On failure returns nullopt and sets *error to a message fit for the user.
std::optional<SocketAddress> parseHostPort(std::string_view text, std::string* error);

// "127.0.0.1:2323", "[::1]:2323"; unix and unknown families get a placeholder.
std::string formatAddress(const sockaddr* addr, socklen_t length);
std::string formatAddress(const SocketAddress& addr);

// The IP address alone as raw bytes (4 for IPv4, 16 for IPv6; an IPv4-mapped IPv6 address
// gives its 4 IPv4 bytes, so both spellings of one client compare equal); "" for other
// families. For per-address bookkeeping and allow lists, never for display.
std::string ipKey(const SocketAddress& addr);
// The same key from a numeric IP address without a port ("127.0.0.1", "::1"); nothing if the
// text is not one.
std::optional<std::string> ipKey(std::string_view numeric_ip);

}  // namespace preforkd
