#include "common/client_read_wake.h"

#include <sys/socket.h>
#include <sys/time.h>

namespace preforkd {

bool setReadTimeout(int fd, std::chrono::milliseconds period) noexcept {
  const timeval tv{.tv_sec = static_cast<time_t>(period.count() / 1000),
                   .tv_usec = static_cast<suseconds_t>(period.count() % 1000 * 1000)};
  return ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0;
}

}  // namespace preforkd
