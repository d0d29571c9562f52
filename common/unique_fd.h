// UniqueFd: the single owner of one file descriptor.
//
// Contract: move-only; the destructor closes the fd (if any). There is no "owns" flag: a
// borrowed fd is passed around as a plain `int`. release() hands ownership to the caller.
// close() errors other than EINTR are ignored on purpose: after close() the fd is gone either
// way (Linux semantics), and retrying could close a descriptor another owner just received.
#pragma once

#include <unistd.h>

#include <utility>

namespace preforkd {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership without closing.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the current fd (if any) and takes ownership of `fd`.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0 && fd_ != fd) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A connected pair of descriptors, e.g. from socketpair(2).
struct FdPair {
  UniqueFd first;
  UniqueFd second;
};

}  // namespace preforkd
