#include "worker/rpc_framing.h"

#include <algorithm>

namespace preforkd {

void FrameDecoder::feed(std::string_view data, std::vector<FrameEvent>& out) {
  while (!data.empty() && !failed_) {
    if (!in_body_) {
      const std::size_t take = std::min(kFrameHeaderBytes - header_fill_, data.size());
      std::copy_n(data.begin(), take, header_ + header_fill_);
      header_fill_ += take;
      data.remove_prefix(take);
      if (header_fill_ < kFrameHeaderBytes) return;
      header_fill_ = 0;
      body_length_ = static_cast<std::uint32_t>(header_[0]) |
                     static_cast<std::uint32_t>(header_[1]) << 8 |
                     static_cast<std::uint32_t>(header_[2]) << 16 |
                     static_cast<std::uint32_t>(header_[3]) << 24;
      if (body_length_ > max_body_) {
        out.push_back({.kind = FrameEventKind::TooLarge, .length = body_length_});
        failed_ = true;
        body_ = std::string();  // nothing of this stream is worth keeping
        return;
      }
      in_body_ = true;
      body_.reserve(body_length_);  // at most max_body, checked above; saves regrowth copies
    }
    // Runs right after the header too, so a zero-length frame is emitted without more input.
    const std::size_t take = std::min<std::size_t>(body_length_ - body_.size(), data.size());
    body_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (body_.size() == body_length_) {
      // Moved, not copied: a body may be as large as max_body.
      out.push_back({.kind = FrameEventKind::Frame, .body = std::move(body_),
                     .length = body_length_});
      body_.clear();
      in_body_ = false;
    }
  }
}

std::string encodeFrame(std::string_view body) {
  const auto n = static_cast<std::uint32_t>(body.size());
  std::string frame;
  frame.reserve(kFrameHeaderBytes + body.size());
  frame.push_back(static_cast<char>(n & 0xff));
  frame.push_back(static_cast<char>((n >> 8) & 0xff));
  frame.push_back(static_cast<char>((n >> 16) & 0xff));
  frame.push_back(static_cast<char>((n >> 24) & 0xff));
  frame.append(body);
  return frame;
}

}  // namespace preforkd
