// Telnet (RFC 854) input filter for one client connection, as a pure state machine (no syscalls).
//
// The worker's connection loop calls feed() with every chunk it reads from the client socket,
// passes `data` on to the LineDecoder (worker/line_protocol.h) and writes `reply` to the client.
// Every option is refused (DO x -> WONT x, WILL x -> DONT x; DONT/WONT are never answered, so no
// negotiation loop can start), which keeps the session in the NVT default: the client echoes
// locally and sends whole lines. Commands that mean something to a line reader are turned into
// the control bytes the LineDecoder understands: IP/BRK -> 0x03, EC -> 0x08, EL -> 0x15.
//
// It must not buffer client data or interpret line ends (CR, LF, NUL pass through unchanged):
// its own state is a few bytes, and everything after the last complete sequence is already out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace preforkd {

class TelnetFilter {
 public:
  // A subnegotiation (IAC SB ... IAC SE) is skipped without being stored, but a client that opens
  // one and never closes it would make us swallow its input forever, out of reach of the line
  // layer's length limit. After this many skipped bytes the filter goes back to plain data.
  static constexpr std::size_t kMaxSubnegotiationBytes = 4096;
  // AYT is the only command whose answer is longer than the request (2 bytes in, 19 out); a
  // client sending a stream of them would amplify its traffic. Later AYTs are ignored.
  static constexpr unsigned kMaxAytAnswers = 8;
  // What an AYT (Are You There) is answered with.
  static constexpr std::string_view kAytAnswer = "\r\n[preforkd: yes]\r\n";

  // Appends plain data bytes to `data` and bytes to send back to the client to `reply`.
  // State persists across calls: a sequence may be split at any byte boundary.
  void feed(std::string_view raw, std::string& data, std::string& reply);

 private:
  enum class State : std::uint8_t {
    Data,               // plain data
    Command,            // after IAC
    Option,             // after IAC WILL/WONT/DO/DONT, waiting for the option byte
    Subnegotiation,     // inside IAC SB, skipping
    SubnegotiationIac,  // after IAC inside a subnegotiation
  };

  // Handles the byte after an IAC (also after an IAC inside a subnegotiation, which ends it).
  void command(unsigned char byte, std::string& data, std::string& reply);

  State state_ = State::Data;
  unsigned char verb_ = 0;          // the WILL/WONT/DO/DONT byte, in State::Option
  std::size_t subneg_skipped_ = 0;  // bytes skipped in the current subnegotiation
  unsigned ayt_answered_ = 0;
};

}  // namespace preforkd
