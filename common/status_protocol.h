// The channel protocol between the supervisor and a worker, as a pure codec (no syscalls).
//
// Every record's first byte says what it is (docs/protocol.md is the reference):
//   child -> parent ("status"):  'R' Ready, 'T' Taken, 'A' Available, 'Q' Quitting
//   parent -> child ("command"): 'C' Connection (the client fd rides in SCM_RIGHTS), 'S' Stop
// Integers are little-endian, fixed width. Decoders reject unknown type bytes and wrong
// lengths; status records come from another process and are treated as untrusted.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace preforkd {

using ConnectionId = std::uint64_t;

// A worker that exits with this status says "do not restart me: the configuration is
// broken" (EX_CONFIG). The supervisor stops respawning until the next reload.
inline constexpr int kWorkerExitNoRestart = 78;

enum class StatusType : std::uint8_t {
  Ready = 'R',      // start-up finished; the child can take a connection
  Taken = 'T',      // the child holds the connection's fd; the parent may drop its copy
  Available = 'A',  // the connection is finished and closed; the child is idle again
  Quitting = 'Q',   // the child is leaving on its own (see QuitReason)
};

enum class QuitReason : std::uint8_t {
  Stopped = 1,       // it was told to Stop
  ParentGone = 2,    // its channel reached EOF
  ChannelError = 3,  // it received something it could not understand
};

struct ChildStatus {
  StatusType type = StatusType::Ready;
  ConnectionId conn_id = 0;     // Taken, Available
  std::uint64_t bytes_in = 0;   // Available: bytes read from the client
  std::uint64_t bytes_out = 0;  // Available: bytes written to the client
  QuitReason reason = QuitReason::Stopped;  // Quitting

  friend bool operator==(const ChildStatus&, const ChildStatus&) = default;
};

enum class CommandType : std::uint8_t {
  Connection = 'C',  // serve the client whose fd is attached
  Stop = 'S',        // exit when idle
};

struct ParentCommand {
  CommandType type = CommandType::Stop;
  ConnectionId conn_id = 0;  // Connection

  friend bool operator==(const ParentCommand&, const ParentCommand&) = default;
};

// One encoded record, held inline: encoding allocates nothing (it runs for every connection).
class Record {
 public:
  static constexpr std::size_t kMaxSize = 25;  // Available, the longest record

  std::string_view view() const noexcept { return {bytes_.data(), size_}; }
  operator std::string_view() const noexcept { return view(); }
  std::span<const std::byte> asBytes() const noexcept { return std::as_bytes(std::span(view())); }
  friend bool operator==(const Record& r, std::string_view other) noexcept {
    return r.view() == other;
  }

  void put(char c) noexcept { bytes_[size_++] = c; }
  void putU64(std::uint64_t v) noexcept;  // little-endian

 private:
  std::array<char, kMaxSize> bytes_{};
  std::size_t size_ = 0;
};

Record encodeStatus(const ChildStatus& status) noexcept;
Record encodeCommand(const ParentCommand& command) noexcept;

// On failure the optional is empty and *error (when given) says why.
std::optional<ChildStatus> decodeStatus(std::string_view record, std::string* error = nullptr);
std::optional<ParentCommand> decodeCommand(std::string_view record, std::string* error = nullptr);

const char* toString(StatusType type) noexcept;
const char* toString(QuitReason reason) noexcept;

}  // namespace preforkd
