// Fuzz target: the supervisor <-> worker channel codec (common/status_protocol.h). Status
// records come from a worker, another process: the decoder must take any bytes.
//
// Input: one record, given to both decodeStatus() and decodeCommand(). Checked: a rejected
// record always says why; an accepted one re-encodes to exactly its bytes (the format is fixed
// width with no spare bits, so decode is the inverse of encode) and names a known type. The
// other direction too: a record built from the input's bytes with any valid type decodes back
// to itself.
#include <cstring>
#include <string>

#include "common/status_protocol.h"
#include "fuzz/fuzz_support.h"

namespace preforkd {
namespace {

std::uint64_t u64At(std::string_view in, std::size_t at) {
  std::uint64_t v = 0;
  if (at + sizeof v <= in.size()) std::memcpy(&v, in.data() + at, sizeof v);
  return v;
}

void decodeDirection(std::string_view record) {
  std::string error;
  if (const auto status = decodeStatus(record, &error)) {
    FUZZ_CHECK(error.empty());
    FUZZ_CHECK(encodeStatus(*status) == record);
    FUZZ_CHECK(std::string_view(toString(status->type)) != "?");
    FUZZ_CHECK(std::string_view(toString(status->reason)) != "?");
  } else {
    FUZZ_CHECK(!error.empty());
  }
  FUZZ_CHECK(decodeStatus(record).has_value() == error.empty());  // *error is optional

  error.clear();
  if (const auto command = decodeCommand(record, &error)) {
    FUZZ_CHECK(error.empty());
    FUZZ_CHECK(encodeCommand(*command) == record);
  } else {
    FUZZ_CHECK(!error.empty());
  }
  FUZZ_CHECK(decodeCommand(record).has_value() == error.empty());
}

void encodeDirection(std::string_view in) {
  if (in.size() < 2) return;
  constexpr StatusType kTypes[] = {StatusType::Ready, StatusType::Taken, StatusType::Available,
                                   StatusType::Quitting};
  constexpr QuitReason kReasons[] = {QuitReason::Stopped, QuitReason::ParentGone,
                                     QuitReason::ChannelError};
  // Only the fields a type carries are set: the others are not on the wire.
  ChildStatus status;
  status.type = kTypes[static_cast<unsigned char>(in[0]) % 4];
  switch (status.type) {
    case StatusType::Ready:
      break;
    case StatusType::Taken:
      status.conn_id = u64At(in, 2);
      break;
    case StatusType::Available:
      status.conn_id = u64At(in, 2);
      status.bytes_in = u64At(in, 10);
      status.bytes_out = u64At(in, 18);
      break;
    case StatusType::Quitting:
      status.reason = kReasons[static_cast<unsigned char>(in[1]) % 3];
      break;
  }
  const auto status_back = decodeStatus(encodeStatus(status));
  FUZZ_CHECK(status_back.has_value() && *status_back == status);

  ParentCommand command;
  command.type = (in[1] & 1) ? CommandType::Connection : CommandType::Stop;
  if (command.type == CommandType::Connection) command.conn_id = u64At(in, 2);
  const auto command_back = decodeCommand(encodeCommand(command));
  FUZZ_CHECK(command_back.has_value() && *command_back == command);
}

}  // namespace
}  // namespace preforkd

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = preforkd::fuzz::text(data, size);
  preforkd::decodeDirection(in);
  preforkd::encodeDirection(in);
  return 0;
}
