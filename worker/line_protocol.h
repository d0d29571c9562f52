// Line framing for one client connection, as a pure state machine (no syscalls).
//
// The worker's connection loop feeds it the `data` output of TelnetFilter (worker/telnet.h) and
// acts on the events: answers a Line, drops the partial input on Interrupted, says goodbye on
// EndOfInput, rejects the client on TooLong. The control bytes it acts on are the ones the
// telnet filter produces for IP/BRK (0x03), EC (0x08) and EL (0x15), plus what a raw client
// types (0x04, 0x7F). It never holds more than max_line_bytes of client data, and after
// EndOfInput or TooLong it ignores all further input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace preforkd {

enum class LineEventKind {
  Line,         // a complete line; `text` excludes the terminator
  Interrupted,  // 0x03 seen: the partial line so far was discarded
  EndOfInput,   // 0x04 (Ctrl-D) at the start of a line: the client wants to finish
  TooLong,      // the line exceeded max_line_bytes; the decoder stops producing events
};

struct LineEvent {
  LineEventKind kind;
  std::string text;
  friend bool operator==(const LineEvent&, const LineEvent&) = default;
};

// Splits (telnet-filtered) client bytes into lines. Terminators: LF, CR LF, CR NUL, and a lone
// CR (followed by anything else, or by nothing yet: then the next feed decides).
class LineDecoder {
 public:
  explicit LineDecoder(std::size_t max_line_bytes);

  // Appends the events the bytes complete to `out`. A CR ends its line at once (an interactive
  // client is answered without waiting for more), and an LF or NUL right after it, in this feed
  // or the next, is swallowed; so any split of the input gives the same events.
  void feed(std::string_view data, std::vector<LineEvent>& out);

  std::size_t buffered() const noexcept;  // bytes of the current partial line
  bool failed() const noexcept;           // TooLong was emitted

 private:
  enum class State : std::uint8_t {
    Running,
    Finished,  // EndOfInput was emitted
    Failed,    // TooLong was emitted
  };

  std::size_t max_line_bytes_;
  std::string line_;       // the partial line
  bool after_cr_ = false;  // the previous byte was a CR that ended a line
  State state_ = State::Running;
};

}  // namespace preforkd
