#include "supervisor/source_limiter.h"

#include "common/hot_path.h"

namespace preforkd {

// The address bytes: 4 for IPv4 (and IPv4-mapped IPv6, so a dual-stack listener cannot be
// used to double the cap), 16 for IPv6. The lengths keep the two spaces apart. Other
// families (unix-domain peers carry no address) give "": not limited, not tracked.
std::string SourceLimiter::key(const SocketAddress& peer) { return ipKey(peer); }

PREFORKD_HOT
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

PREFORKD_HOT
void SourceLimiter::release(const SocketAddress& peer) {
  // Works whatever the current limit: entries held before setLimit(0) still drain away.
  if (held_.empty()) return;  // no limit, nothing held: skip formatting the key (hot path)
  const auto it = held_.find(key(peer));
  if (it == held_.end()) return;
  if (--it->second == 0) held_.erase(it);
}

std::size_t SourceLimiter::count(const SocketAddress& peer) const {
  const auto it = held_.find(key(peer));
  return it == held_.end() ? 0 : it->second;
}

}  // namespace preforkd
