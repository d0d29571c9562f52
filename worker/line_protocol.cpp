#include "worker/line_protocol.h"

#include "common/hot_path.h"

namespace preforkd {
namespace {

constexpr char kNul = 0x00;
constexpr char kInterrupt = 0x03;   // Ctrl-C, or telnet IP/BRK
constexpr char kEndOfInput = 0x04;  // Ctrl-D
constexpr char kBackspace = 0x08;   // Ctrl-H, or telnet EC
constexpr char kLf = 0x0a;
constexpr char kCr = 0x0d;
constexpr char kEraseLine = 0x15;  // Ctrl-U, or telnet EL
constexpr char kDelete = 0x7f;

}  // namespace

PREFORKD_HOT
LineDecoder::LineDecoder(std::size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

PREFORKD_HOT
void LineDecoder::feed(std::string_view data, std::vector<LineEvent>& out) {
  for (const char byte : data) {
    if (state_ != State::Running) return;

    if (after_cr_) {
      after_cr_ = false;
      // CR LF and CR NUL are one terminator; the line was already emitted at the CR.
      if (byte == kLf || byte == kNul) continue;
    }

    switch (byte) {
      case kCr:
        after_cr_ = true;
        [[fallthrough]];
      case kLf:
        // Copy and clear rather than move: the buffer's capacity is reused for the next line.
        out.push_back({LineEventKind::Line, line_});
        line_.clear();
        break;
      case kBackspace:
      case kDelete:
        if (!line_.empty()) line_.pop_back();
        break;
      case kEraseLine:
        line_.clear();
        break;
      case kInterrupt:
        line_.clear();
        out.push_back({LineEventKind::Interrupted, {}});
        break;
      case kEndOfInput:
        if (line_.empty()) {
          out.push_back({LineEventKind::EndOfInput, {}});
          state_ = State::Finished;
          break;
        }
        // Mid-line it is just data, like any other control byte.
        [[fallthrough]];
      default:
        if (line_.size() >= max_line_bytes_) {
          // Checked before appending, so we never hold more than max_line_bytes_.
          line_ = std::string();  // release the memory, not just the contents
          out.push_back({LineEventKind::TooLong, {}});
          state_ = State::Failed;
          return;
        }
        line_.push_back(byte);
        break;
    }
  }
}

std::size_t LineDecoder::buffered() const noexcept { return line_.size(); }

bool LineDecoder::failed() const noexcept { return state_ == State::Failed; }

}  // namespace preforkd
