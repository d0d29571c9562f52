#include "common/status_protocol.h"

#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "common/hot_path.h"

namespace preforkd {
namespace {

// Records are little-endian; on a little-endian host (every Linux target preforkd builds for
// today) that is one 8-byte copy, elsewhere byte by byte.
PREFORKD_HOT
std::uint64_t getU64(std::string_view in, std::size_t at) {
  if constexpr (std::endian::native == std::endian::little) {
    std::uint64_t v;
    std::memcpy(&v, in.data() + at, sizeof v);
    return v;
  } else {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
      v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
    }
    return v;
  }
}

bool fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

PREFORKD_HOT
bool expectSize(std::string_view record, std::size_t size, const char* what, std::string* error) {
  if (record.size() == size) return true;
  return fail(error, fmt::format("{} record has {} bytes, expected {}", what, record.size(), size));
}

}  // namespace

PREFORKD_HOT
void Record::putU64(std::uint64_t v) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(bytes_.data() + size_, &v, sizeof v);
    size_ += sizeof v;
  } else {
    for (int i = 0; i < 8; ++i) bytes_[size_++] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}

PREFORKD_HOT
Record encodeStatus(const ChildStatus& status) noexcept {
  Record out;
  out.put(static_cast<char>(status.type));
  switch (status.type) {
    case StatusType::Ready:
      break;
    case StatusType::Taken:
      out.putU64(status.conn_id);
      break;
    case StatusType::Available:
      out.putU64(status.conn_id);
      out.putU64(status.bytes_in);
      out.putU64(status.bytes_out);
      break;
    case StatusType::Quitting:
      out.put(static_cast<char>(status.reason));
      break;
  }
  return out;
}

PREFORKD_HOT
Record encodeCommand(const ParentCommand& command) noexcept {
  Record out;
  out.put(static_cast<char>(command.type));
  if (command.type == CommandType::Connection) out.putU64(command.conn_id);
  return out;
}

PREFORKD_HOT
std::optional<ChildStatus> decodeStatus(std::string_view record, std::string* error) {
  if (record.empty()) {
    fail(error, "empty status record");
    return std::nullopt;
  }
  ChildStatus s;
  const auto type = static_cast<unsigned char>(record[0]);
  switch (type) {
    case static_cast<unsigned char>(StatusType::Ready):
      if (!expectSize(record, 1, "Ready", error)) return std::nullopt;
      s.type = StatusType::Ready;
      return s;
    case static_cast<unsigned char>(StatusType::Taken):
      if (!expectSize(record, 9, "Taken", error)) return std::nullopt;
      s.type = StatusType::Taken;
      s.conn_id = getU64(record, 1);
      return s;
    case static_cast<unsigned char>(StatusType::Available):
      if (!expectSize(record, 25, "Available", error)) return std::nullopt;
      s.type = StatusType::Available;
      s.conn_id = getU64(record, 1);
      s.bytes_in = getU64(record, 9);
      s.bytes_out = getU64(record, 17);
      return s;
    case static_cast<unsigned char>(StatusType::Quitting): {
      if (!expectSize(record, 2, "Quitting", error)) return std::nullopt;
      const auto reason = static_cast<unsigned char>(record[1]);
      if (reason < 1 || reason > 3) {
        fail(error, fmt::format("Quitting record has unknown reason {}", reason));
        return std::nullopt;
      }
      s.type = StatusType::Quitting;
      s.reason = static_cast<QuitReason>(reason);
      return s;
    }
    default:
      fail(error, fmt::format("unknown status byte 0x{:02x}", type));
      return std::nullopt;
  }
}

PREFORKD_HOT
std::optional<ParentCommand> decodeCommand(std::string_view record, std::string* error) {
  if (record.empty()) {
    fail(error, "empty command record");
    return std::nullopt;
  }
  ParentCommand c;
  const auto type = static_cast<unsigned char>(record[0]);
  switch (type) {
    case static_cast<unsigned char>(CommandType::Connection):
      if (!expectSize(record, 9, "Connection", error)) return std::nullopt;
      c.type = CommandType::Connection;
      c.conn_id = getU64(record, 1);
      return c;
    case static_cast<unsigned char>(CommandType::Stop):
      if (!expectSize(record, 1, "Stop", error)) return std::nullopt;
      c.type = CommandType::Stop;
      return c;
    default:
      fail(error, fmt::format("unknown command byte 0x{:02x}", type));
      return std::nullopt;
  }
}

const char* toString(StatusType type) noexcept {
  switch (type) {
    case StatusType::Ready: return "Ready";
    case StatusType::Taken: return "Taken";
    case StatusType::Available: return "Available";
    case StatusType::Quitting: return "Quitting";
  }
  return "?";
}

const char* toString(QuitReason reason) noexcept {
  switch (reason) {
    case QuitReason::Stopped: return "stopped";
    case QuitReason::ParentGone: return "parent-gone";
    case QuitReason::ChannelError: return "channel-error";
  }
  return "?";
}

}  // namespace preforkd
