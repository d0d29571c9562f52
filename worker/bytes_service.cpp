#include "worker/bytes_service.h"

#include <algorithm>
#include <charconv>
#include <exception>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/hot_path.h"
#include "worker/line_protocol.h"

namespace preforkd {
namespace {

constexpr std::string_view kBlanks = " \t";

PREFORKD_HOT
bool isDigit(char c) { return c >= '0' && c <= '9'; }

PREFORKD_HOT
std::string_view trimBlanks(std::string_view text) {
  const auto first = text.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kBlanks);
  return text.substr(first, last - first + 1);
}

// Writes `count` pattern bytes from `chunk` (one kBytesChunk of the pattern, starting at offset
// 0). Every piece starts at a multiple of kBytesChunk, hence at pattern offset 0, so the same
// buffer serves every piece. Gives up (false, like a failed write) at the session deadline: a
// large count to a slow reader must not outlast --max-session.
PREFORKD_HOT
bool writePattern(ClientConnection& client, std::string_view chunk, std::uint64_t count,
                  const ServiceContext& ctx) {
  const SessionDeadline deadline = sessionDeadline(ctx);
  while (count > 0) {
    if (deadline.limited() && deadline.expired(SessionDeadline::Clock::now())) return false;
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(count, chunk.size()));
    if (!client.writeAll(chunk.substr(0, n), writeTimeout(ctx))) return false;
    count -= n;
  }
  return true;
}

// One kBytesChunk of the pattern, built by the compiler: it lives in the binary's read-only
// data, so every worker shares the page cache's copy (built at run time it was 64 KiB of
// private memory per worker; built per connection it cost more than the whole hand-off:
// docs/performance.md). A reply maps only the pages it sends. A plain array filled by plain
// loops: compilers cap the steps of a constant evaluation (clang: about a million), and
// 64 Ki calls of std::array's or string_view's operator[] went over it.
struct PatternChunk {
  char bytes[kBytesChunk];
};
constexpr PatternChunk kPatternChunk = [] {
  static_assert(kBytesChunk % kBytesPattern.size() == 0);
  PatternChunk c{};
  const char* pattern = kBytesPattern.data();
  const std::size_t period = kBytesPattern.size();
  for (std::size_t i = 0; i < kBytesChunk; i += period) {
    for (std::size_t j = 0; j < period; ++j) c.bytes[i + j] = pattern[j];
  }
  return c;
}();

PREFORKD_HOT
std::string_view patternChunk() { return {kPatternChunk.bytes, kBytesChunk}; }

PREFORKD_HOT
SessionEnd serveBytes(ClientConnection& client, const ServiceContext& ctx) {
  const WorkerSettings& settings = ctx.settings;
  const std::string_view chunk = patternChunk();
  LineDecoder lines(kBytesMaxLine);
  std::string raw;
  std::vector<LineEvent> events;
  for (;;) {
    raw.clear();
    // Endings are silent: a benchmark client reads a byte count, not prose.
    if (const auto end = readClientInput(client, ctx, raw)) return *end;
    events.clear();
    lines.feed(raw, events);
    for (const LineEvent& ev : events) {
      switch (ev.kind) {
        case LineEventKind::Line: {
          const BytesRequest req = parseBytesRequest(ev.text, settings.bytes_max);
          if (req.error != BytesError::None) {
            client.writeAll(bytesErrorLine(req.error, settings.bytes_max), writeTimeout(ctx));
            return SessionEnd::ProtocolError;
          }
          if (!writePattern(client, chunk, req.count, ctx)) {
            return SessionEnd::WriteFailed;
          }
          break;
        }
        case LineEventKind::Interrupted:
          break;  // Ctrl-C: the partial line is gone; the next line is a fresh request
        case LineEventKind::EndOfInput:
          return SessionEnd::ClientQuit;
        case LineEventKind::TooLong:
          client.writeAll(fmt::format("ERR request line longer than {} bytes\r\n", kBytesMaxLine),
                          writeTimeout(ctx));
          return SessionEnd::LineTooLong;
      }
    }
  }
}

}  // namespace

PREFORKD_HOT
BytesRequest parseBytesRequest(std::string_view line, std::uint64_t max) {
  const std::string_view text = trimBlanks(line);
  if (text.empty()) return {.error = BytesError::Empty};
  if (text.front() == '-') {
    return {.error = text.size() > 1 && isDigit(text[1]) ? BytesError::Negative
                                                         : BytesError::NotANumber};
  }
  // from_chars would not take "+5" or " 5" either, but say so explicitly: only digits count.
  if (!isDigit(text.front())) return {.error = BytesError::NotANumber};
  std::uint64_t count = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, count);
  // On overflow from_chars still consumes every digit, so junk is judged the same way.
  if (ptr != end) return {.error = BytesError::TrailingJunk};
  if (ec == std::errc::result_out_of_range || count > max) return {.error = BytesError::TooLarge};
  if (ec != std::errc()) return {.error = BytesError::NotANumber};
  if (count == 0) return {.error = BytesError::Zero};
  return {.count = count};
}

std::string bytesErrorLine(BytesError error, std::uint64_t max) {
  switch (error) {
    case BytesError::None: break;
    case BytesError::Empty: return "ERR empty request: expected a decimal byte count\r\n";
    case BytesError::NotANumber: return "ERR not a decimal byte count\r\n";
    case BytesError::Negative: return "ERR negative byte count\r\n";
    case BytesError::Zero: return "ERR byte count must be at least 1\r\n";
    case BytesError::TrailingJunk: return "ERR junk after the byte count\r\n";
    case BytesError::TooLarge: return fmt::format("ERR byte count above the limit of {}\r\n", max);
  }
  return "ERR bad request\r\n";
}

void fillBytesPattern(std::span<char> out, std::uint64_t offset) noexcept {
  std::size_t at = static_cast<std::size_t>(offset % kBytesPattern.size());
  for (char& c : out) {
    c = kBytesPattern[at];
    if (++at == kBytesPattern.size()) at = 0;
  }
}

PREFORKD_HOT
SessionEnd runBytesService(ClientConnection& client, const ServiceContext& ctx) {
  return serveBytes(client, ctx);
}

}  // namespace preforkd
