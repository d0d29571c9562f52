#include "supervisor/source_limiter.h"

#include <netinet/in.h>

#include <cstring>

namespace preforkd {

// The address bytes: 4 for IPv4 (and IPv4-mapped IPv6, so a dual-stack listener cannot be
// used to double the cap), 16 for IPv6. The lengths keep the two spaces apart. Other
// families (unix-domain peers carry no address) give "": not limited, not tracked.
std::string SourceLimiter::key(const SocketAddress& peer) {
  if (peer.family() == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, &peer.storage, sizeof in);
    return std::string(reinterpret_cast<const char*>(&in.sin_addr), sizeof in.sin_addr);
  }
  if (peer.family() == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &peer.storage, sizeof in6);
    const auto* bytes = reinterpret_cast<const char*>(&in6.sin6_addr);
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) return std::string(bytes + 12, 4);
    return std::string(bytes, sizeof in6.sin6_addr);
  }
  return {};
}

bool SourceLimiter::tryAcquire(const SocketAddress& peer) {
  if (max_ == 0) return true;
  std::string k = key(peer);
  if (k.empty()) return true;
  const auto it = held_.find(k);
  if (it == held_.end()) {
    held_.emplace(std::move(k), 1);
    return true;
  }
  if (it->second >= max_) return false;
  ++it->second;
  return true;
}

void SourceLimiter::release(const SocketAddress& peer) {
  // Works whatever the current limit: entries held before setLimit(0) still drain away.
  const auto it = held_.find(key(peer));
  if (it == held_.end()) return;
  if (--it->second == 0) held_.erase(it);
}

std::size_t SourceLimiter::count(const SocketAddress& peer) const {
  const auto it = held_.find(key(peer));
  return it == held_.end() ? 0 : it->second;
}

}  // namespace preforkd
