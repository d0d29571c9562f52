#include "bench/session_script.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace preforkd::bench {
namespace {

constexpr std::string_view kEchoBanner =
    "preforkd echo service, worker pid #, connection #. Type 'help' for commands.\r\n";
constexpr std::string_view kShellBanner =
    "preforkd shell service, worker pid #, connection #. Type HELP for commands.\r\n";
constexpr std::string_view kGoodbye = "Goodbye.\r\n";

// Bytes that a line or telnet layer would not pass through unchanged.
constexpr std::array<unsigned char, 16> kAwkwardBytes = {
    0xff, 0xfd, 0x06,  // IAC DO TIMING-MARK
    0xff, 0xf4,        // IAC IP
    0x00, '\r', '\n', '\r', 0x00, 0x03, 0x04, 0x1b, 0x7f, 0x80, 0xfe};

// kBytesPattern repeated, long enough to compare any chunk at any phase in one memcmp.
constexpr std::size_t kPatternChunk = 64 * 1024;
const std::string& patternBuffer() {
  static const std::string buffer = [] {
    std::string b(kPatternChunk + kBytesPattern.size(), '\0');
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = kBytesPattern[i % kBytesPattern.size()];
    return b;
  }();
  return buffer;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string payloadBytes(Service service, std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    if (service == Service::RawEcho) {
      out[i] = static_cast<char>(i < kAwkwardBytes.size() ? kAwkwardBytes[i] : i % 256);
    } else {
      out[i] = static_cast<char>('a' + i % 26);
    }
  }
  return out;
}

SessionScript::SessionScript(const BenchOptions& options) {
  const Service service = options.service;
  persistent_ = options.mode == Mode::Rr;
  const bool line = isLineService(service);
  banner_template_ = service == Service::Echo ? kEchoBanner : kShellBanner;

  // The one request/reply round trip of this service.
  Step round_trip;
  switch (service) {
    case Service::RawEcho:
      payload_ = payloadBytes(service, options.payload);
      round_trip = {.send = payload_, .expect = ExpectKind::Exact, .text = payload_};
      break;
    case Service::Bytes:
      request_text_ = fmt::format("{}\n", options.bytes_count);
      round_trip = {.send = request_text_, .expect = ExpectKind::Pattern,
                    .count = options.bytes_count};
      break;
    case Service::Echo:
      request_text_ = payloadBytes(service, options.payload) + "\r\n";
      round_trip = {.send = request_text_, .expect = ExpectKind::Exact, .text = request_text_};
      break;
    case Service::Shell:
      request_text_ = "PING\r\n";
      reply_text_ = "PONG\r\n";
      round_trip = {.send = request_text_, .expect = ExpectKind::Exact, .text = reply_text_};
      break;
  }
  const Step banner{.expect = ExpectKind::Line, .text = banner_template_};

  if (persistent_) {
    if (line) setup_.push_back(banner);
    request_.push_back(round_trip);
    return;
  }
  if (line) {
    quit_text_ = service == Service::Echo ? "quit\r\n" : "QUIT\r\n";
    request_ = {banner, round_trip,
                Step{.send = quit_text_, .expect = ExpectKind::Exact, .text = kGoodbye},
                Step{.expect = ExpectKind::Eof}};
    return;
  }
  if (options.mode == Mode::Churn) {
    request_ = {Step{.shutdown_write = true, .expect = ExpectKind::Eof}};
    return;
  }
  request_ = {round_trip};
}

void ReplyMatcher::begin(const Step& step) noexcept {
  kind_ = step.expect;
  text_ = step.text;
  count_ = step.count;
  received_ = 0;
  line_.clear();
}

ReplyMatcher::FeedResult ReplyMatcher::mismatch(std::string detail) {
  detail_ = std::move(detail);
  return {Status::Mismatch, 0};
}

ReplyMatcher::FeedResult ReplyMatcher::feed(const char* data, std::size_t size) {
  switch (kind_) {
    case ExpectKind::Exact: {
      const std::size_t n = static_cast<std::size_t>(
          std::min<std::uint64_t>(size, text_.size() - received_));
      if (std::memcmp(data, text_.data() + received_, n) != 0) {
        std::size_t at = 0;
        while (data[at] == text_[received_ + at]) ++at;
        const std::uint64_t offset = received_ + at;
        return mismatch(fmt::format("byte {} of the reply: expected \"{}\", got \"{}\"", offset,
                                    escapeBytes(text_.substr(offset), 24),
                                    escapeBytes({data + at, n - at}, 24)));
      }
      received_ += n;
      return {received_ == text_.size() ? Status::Done : Status::NeedMore, n};
    }
    case ExpectKind::Pattern: {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(size, count_ - received_));
      const std::string& pattern = patternBuffer();
      for (std::size_t done = 0; done < n;) {
        const std::size_t piece = std::min(n - done, kPatternChunk);
        const char* want = pattern.data() + (received_ + done) % kBytesPattern.size();
        if (std::memcmp(data + done, want, piece) != 0) {
          std::size_t at = 0;
          while (data[done + at] == want[at]) ++at;
          return mismatch(fmt::format("byte {} of {} pattern bytes: expected '{}', got \"{}\"",
                                      received_ + done + at, count_,
                                      escapeBytes({want + at, 1}),
                                      escapeBytes({data + done + at, n - done - at}, 24)));
        }
        done += piece;
      }
      received_ += n;
      return {received_ == count_ ? Status::Done : Status::NeedMore, n};
    }
    case ExpectKind::Line: {
      const char* newline = static_cast<const char*>(std::memchr(data, '\n', size));
      const std::size_t n = newline != nullptr ? static_cast<std::size_t>(newline - data) + 1
                                               : size;
      if (line_.size() + n > kMaxLineReply) {
        return mismatch(fmt::format("a reply line longer than {} bytes: \"{}\"", kMaxLineReply,
                                    escapeBytes(line_ + std::string(data, n))));
      }
      line_.append(data, n);
      received_ += n;
      if (newline == nullptr) return {Status::NeedMore, n};
      if (!matchesLineTemplate(line_, text_)) {
        return mismatch(fmt::format("expected a line like \"{}\", got \"{}\"",
                                    escapeBytes(text_, 100), escapeBytes(line_, 100)));
      }
      return {Status::Done, n};
    }
    case ExpectKind::Eof:
      return mismatch(fmt::format("expected EOF, got \"{}\"", escapeBytes({data, size})));
  }
  return mismatch("unknown expectation");
}

ReplyMatcher::Status ReplyMatcher::onEof() const noexcept {
  return kind_ == ExpectKind::Eof ? Status::Done : Status::NeedMore;
}

bool matchesLineTemplate(std::string_view line, std::string_view pattern) noexcept {
  std::size_t at = 0;
  for (const char p : pattern) {
    if (p == '#') {
      const std::size_t start = at;
      while (at < line.size() && isDigit(line[at])) ++at;
      if (at == start) return false;
    } else {
      if (at == line.size() || line[at] != p) return false;
      ++at;
    }
  }
  return at == line.size();
}

std::string escapeBytes(std::string_view bytes, std::size_t limit) {
  std::string out;
  for (const char c : bytes) {
    if (out.size() >= limit) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace preforkd::bench
