// ControlClient: preforkctl's side of the control socket (docs/control.md).
//
// Contract: connect() opens the Unix stream socket with a bounded wait (SO_SNDTIMEO bounds
// connect(2) on AF_UNIX when the listen backlog is full) and throws Unreachable with a message
// that says what to do (no socket, nothing listening, permission denied, timed out).
// request() sends one line and reads `responses` responses, each up to the empty line that
// ends it; every read is bounded by `timeout` overall. A response is returned without that
// empty line (so it ends in "\n", or is empty). The connection is closed by the destructor.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"

namespace preforkd::ctl {

struct Unreachable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class ControlClient {
 public:
  static ControlClient connect(const std::string& path, std::chrono::milliseconds timeout);

  std::vector<std::string> request(std::string_view line, std::size_t responses,
                                   std::chrono::milliseconds timeout);

 private:
  explicit ControlClient(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;
  std::string path_;
  std::string buf_;
};

// True if a response is an error answer ("ERROR ...").
inline bool isError(std::string_view response) { return response.starts_with("ERROR "); }

}  // namespace preforkd::ctl
