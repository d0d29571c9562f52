// The bytes service: Stevens' web_child (UNP ch. 30) benchmark protocol.
//
// Contract: no greeting. The client sends a decimal byte count ending in LF or CR LF; the
// server answers with exactly that many bytes of the pattern below, then reads the next count,
// until the client closes. Several counts may arrive in one packet; they are answered in order.
// A count that is empty, not a plain decimal number, zero, negative, followed by junk or above
// settings.bytes_max, and a request line longer than kBytesMaxLine, get one line
// "ERR <reason>\r\n" and the connection is closed. Blanks (space, tab) around the number are
// allowed. Requests go through LineDecoder without telnet filtering (this is not a telnet
// service), so its control bytes apply: Ctrl-D at the start of a line ends the session
// quietly, Ctrl-C discards the partial line, backspace/DEL erase a byte. Idle between requests,
// at the session time limit (--max-session) and on a stop request from the supervisor the
// connection is closed silently; a reply that is being written is finished first, unless the
// session time limit cuts it off. Replies are written in kBytesChunk pieces from one
// reused buffer, so memory does not grow with the count.
//
// The pattern: byte i of every reply (i counted from 0 at the start of that reply) is
// kBytesPattern[i % 16], i.e. "0123456789abcdef0123456789abcdef...". A client can verify any
// reply byte for byte; a reply of n bytes is the first n bytes of that endless string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "worker/service.h"

namespace preforkd {

inline constexpr std::string_view kBytesPattern = "0123456789abcdef";
inline constexpr std::size_t kBytesChunk = 64 * 1024;  // a multiple of the pattern's length
inline constexpr std::size_t kBytesMaxLine = 32;       // longest request line accepted

enum class BytesError {
  None,
  Empty,         // nothing but blanks
  NotANumber,    // does not start with a decimal digit ("abc", "+5")
  Negative,      // "-5"
  Zero,          // "0": a reply must have at least one byte
  TrailingJunk,  // "12abc", "1 2", "1.5", "0x10"
  TooLarge,      // above the limit (also numbers too large for 64 bits)
};

struct BytesRequest {
  std::uint64_t count = 0;  // meaningful when error == BytesError::None
  BytesError error = BytesError::None;
  friend bool operator==(const BytesRequest&, const BytesRequest&) = default;
};

// Parses one request line (terminator already removed). Pure.
BytesRequest parseBytesRequest(std::string_view line, std::uint64_t max);

// The error line sent for `error` (not None): "ERR <reason>\r\n".
std::string bytesErrorLine(BytesError error, std::uint64_t max);

// Fills `out` with the pattern bytes at positions offset .. offset + out.size() of a reply.
void fillBytesPattern(std::span<char> out, std::uint64_t offset) noexcept;

SessionEnd runBytesService(ClientConnection& client, const ServiceContext& ctx);

}  // namespace preforkd
