// Length-prefixed framing for the rpc service, as a pure state machine (no syscalls).
//
// Contract: a frame is a 4-byte little-endian unsigned body length followed by that many body
// bytes (the seed's struct.pack("I", len) on x86; fixed to little-endian here whatever the
// host). FrameDecoder accepts the bytes in any split (one byte at a time works) and emits each
// complete body in order. A length above max_body is a broken or hostile frame: it emits
// TooLarge (carrying the announced length), drops its buffer and ignores all further input,
// since the stream has no trustworthy frame boundary left. It never holds more than the header
// plus max_body bytes. A zero-length frame is a valid (empty) frame; judging it is the caller's
// business.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace preforkd {

inline constexpr std::size_t kFrameHeaderBytes = 4;

enum class FrameEventKind {
  Frame,     // `body` is one complete frame body
  TooLarge,  // `length` is the announced body length; the decoder stops here
};

struct FrameEvent {
  FrameEventKind kind = FrameEventKind::Frame;
  std::string body{};
  std::uint64_t length = 0;  // the announced length (also set for Frame)
  friend bool operator==(const FrameEvent&, const FrameEvent&) = default;
};

class FrameDecoder {
 public:
  explicit FrameDecoder(std::uint32_t max_body) : max_body_(max_body) {}

  // Appends the events `data` completes to `out`. State persists across calls.
  void feed(std::string_view data, std::vector<FrameEvent>& out);

  std::size_t buffered() const noexcept { return header_fill_ + body_.size(); }
  bool failed() const noexcept { return failed_; }
  // True between frames: no header byte of the next frame has arrived yet.
  bool atBoundary() const noexcept { return header_fill_ == 0 && !in_body_; }

 private:
  std::uint32_t max_body_;
  unsigned char header_[kFrameHeaderBytes] = {};
  std::size_t header_fill_ = 0;
  bool in_body_ = false;
  std::uint32_t body_length_ = 0;
  std::string body_;
  bool failed_ = false;
};

// The 4-byte little-endian header plus `body`. Precondition: body.size() <= UINT32_MAX.
std::string encodeFrame(std::string_view body);

}  // namespace preforkd
