// The channel codec: round trips for every record type, and rejection of everything else.
#include "common/status_protocol.h"

#include <gtest/gtest.h>

namespace preforkd {
namespace {

TEST(StatusProtocol, StatusRoundTrips) {
  const ChildStatus cases[] = {
      {.type = StatusType::Ready},
      {.type = StatusType::Taken, .conn_id = 1},
      {.type = StatusType::Taken, .conn_id = 0xfedcba9876543210ull},
      {.type = StatusType::Available, .conn_id = 7, .bytes_in = 12, .bytes_out = 1ull << 40},
      {.type = StatusType::Quitting, .reason = QuitReason::Stopped},
      {.type = StatusType::Quitting, .reason = QuitReason::ParentGone},
      {.type = StatusType::Quitting, .reason = QuitReason::ChannelError},
  };
  for (const ChildStatus& s : cases) {
    const std::string wire(encodeStatus(s).view());
    EXPECT_EQ(static_cast<unsigned char>(wire[0]), static_cast<unsigned char>(s.type));
    std::string error;
    const auto back = decodeStatus(wire, &error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(*back, s);
  }
}

TEST(StatusProtocol, WireFormatIsLittleEndianFixedWidth) {
  EXPECT_EQ(encodeStatus({.type = StatusType::Ready}), "R");
  EXPECT_EQ(encodeStatus({.type = StatusType::Taken, .conn_id = 0x0102}),
            std::string("T\x02\x01\0\0\0\0\0\0", 9));
  EXPECT_EQ(encodeCommand({.type = CommandType::Stop}), "S");
  EXPECT_EQ(encodeCommand({.type = CommandType::Connection, .conn_id = 5}),
            std::string("C\x05\0\0\0\0\0\0\0", 9));
}

TEST(StatusProtocol, CommandRoundTrips) {
  for (const ParentCommand& c : {ParentCommand{.type = CommandType::Stop},
                                 ParentCommand{.type = CommandType::Connection, .conn_id = 42}}) {
    const auto back = decodeCommand(encodeCommand(c));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, c);
  }
}

TEST(StatusProtocol, StatusRejects) {
  const std::string cases[] = {
      "",                             // empty
      "X",                            // unknown type byte
      std::string("\0", 1),           // NUL type
      "RR",                           // Ready with trailing bytes
      "T1234567",                     // Taken too short
      "T123456789",                   // Taken too long
      std::string(24, 'A'),           // Available one byte short
      "Q",                            // Quitting without reason
      std::string("Q\x09", 2),        // unknown reason
      std::string("Q\x00", 2),        // reason 0
      "C12345678",                    // a command is not a status
  };
  for (const std::string& wire : cases) {
    std::string error;
    EXPECT_FALSE(decodeStatus(wire, &error)) << "accepted: " << wire;
    EXPECT_FALSE(error.empty());
  }
}

TEST(StatusProtocol, CommandRejects) {
  for (const std::string& wire : {std::string(""), std::string("SS"), std::string("C1"),
                                 std::string("R"), std::string("\xff")}) {
    std::string error;
    EXPECT_FALSE(decodeCommand(wire, &error)) << "accepted: " << wire;
    EXPECT_FALSE(error.empty());
  }
}

}  // namespace
}  // namespace preforkd
