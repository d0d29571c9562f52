// SourceLimiter: a cap on concurrent connections per client address (IP only, the port is
// ignored; IPv4-mapped IPv6 counts as IPv4).
//
// Contract: pure bookkeeping. tryAcquire() before a connection is queued; release() exactly
// once when it ends (served, lost, rejected later, dropped). With max 0 the cap is off and
// nothing is tracked. Memory is bounded by the number of connections held: an address's
// entry is erased when its count drops to 0. release() of an address that holds nothing is a
// no-op, and release() works whatever the current limit (entries held before setLimit(0)
// drain away). Peers without an IP address (unix-domain) are never limited or tracked.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>

#include "common/socket_address.h"

namespace preforkd {

class SourceLimiter {
 public:
  explicit SourceLimiter(std::size_t max_per_source = 0) : max_(max_per_source) {}

  void setLimit(std::size_t max_per_source) noexcept { max_ = max_per_source; }
  std::size_t limit() const noexcept { return max_; }
  // True (and counted) if `peer`'s address holds fewer than the cap; false: reject it.
  bool tryAcquire(const SocketAddress& peer);
  void release(const SocketAddress& peer);
  std::size_t count(const SocketAddress& peer) const;
  std::size_t sources() const noexcept { return held_.size(); }

 private:
  static std::string key(const SocketAddress& peer);
  std::size_t max_;
  std::unordered_map<std::string, std::size_t> held_;
};

}  // namespace preforkd
