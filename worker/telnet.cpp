#include "worker/telnet.h"

namespace preforkd {
namespace {

// RFC 854 command bytes (EOR is RFC 885).
constexpr unsigned char kSe = 240;
constexpr unsigned char kBrk = 243;
constexpr unsigned char kIp = 244;
constexpr unsigned char kAyt = 246;
constexpr unsigned char kEc = 247;
constexpr unsigned char kEl = 248;
constexpr unsigned char kSb = 250;
constexpr unsigned char kWill = 251;
constexpr unsigned char kWont = 252;
constexpr unsigned char kDo = 253;
constexpr unsigned char kDont = 254;
constexpr unsigned char kIac = 255;

// The control bytes the line layer acts on (worker/line_protocol.h).
constexpr char kInterrupt = 0x03;
constexpr char kEraseChar = 0x08;
constexpr char kEraseLine = 0x15;

void append3(std::string& out, unsigned char a, unsigned char b, unsigned char c) {
  out.push_back(static_cast<char>(a));
  out.push_back(static_cast<char>(b));
  out.push_back(static_cast<char>(c));
}

}  // namespace

void TelnetFilter::feed(std::string_view raw, std::string& data, std::string& reply) {
  std::size_t i = 0;
  while (i < raw.size()) {
    const auto byte = static_cast<unsigned char>(raw[i]);
    switch (state_) {
      case State::Data: {
        // Almost all input is plain text: copy the whole run up to the next IAC at once.
        const std::size_t iac = raw.find(static_cast<char>(kIac), i);
        const std::size_t end = iac == std::string_view::npos ? raw.size() : iac;
        data.append(raw.substr(i, end - i));
        if (end == raw.size()) return;
        state_ = State::Command;
        i = end + 1;
        continue;
      }
      case State::Command:
        state_ = State::Data;  // command() overrides this for multi-byte sequences
        command(byte, data, reply);
        break;
      case State::Option:
        // Refuse everything: the NVT defaults are what a line server wants. Answering DO
        // TIMING-MARK matters most: the client sends it after Ctrl-C (IAC IP) and discards our
        // output until it gets an answer. DONT and WONT are never answered, so no loop starts.
        if (verb_ == kDo) append3(reply, kIac, kWont, byte);
        if (verb_ == kWill) append3(reply, kIac, kDont, byte);
        state_ = State::Data;
        break;
      case State::Subnegotiation:
        if (subneg_skipped_ >= kMaxSubnegotiationBytes) {
          // Abandon it; this byte is reprocessed as data (it is not consumed here).
          state_ = State::Data;
          continue;
        }
        ++subneg_skipped_;
        if (byte == kIac) state_ = State::SubnegotiationIac;
        break;
      case State::SubnegotiationIac:
        if (byte == kIac) {
          // An escaped 0xFF inside the subnegotiation: skipped like any other byte.
          ++subneg_skipped_;
          state_ = State::Subnegotiation;
        } else if (byte == kSe) {
          state_ = State::Data;
        } else {
          // RFC 854 allows only IAC SE here; treat any other IAC x as the end of the
          // subnegotiation followed by command x, so a sloppy client cannot wedge us in SB.
          state_ = State::Data;
          command(byte, data, reply);
        }
        break;
    }
    ++i;
  }
}

void TelnetFilter::command(unsigned char byte, std::string& data, std::string& reply) {
  switch (byte) {
    case kIac:
      data.push_back(static_cast<char>(kIac));
      break;
    case kWill:
    case kWont:
    case kDo:
    case kDont:
      verb_ = byte;
      state_ = State::Option;
      break;
    case kSb:
      subneg_skipped_ = 0;
      state_ = State::Subnegotiation;
      break;
    case kIp:
    case kBrk:
      data.push_back(kInterrupt);
      break;
    case kAyt:
      if (ayt_answered_ < kMaxAytAnswers) {
        ++ayt_answered_;
        reply.append(kAytAnswer);
      }
      break;
    case kEc:
      data.push_back(kEraseChar);
      break;
    case kEl:
      data.push_back(kEraseLine);
      break;
    default:
      // AO (flushing our output is the caller's business, and a line server has little to
      // flush), GA, NOP, DM, a stray SE, EOR, and unknown bytes 0..238: dropped with the IAC.
      break;
  }
}

}  // namespace preforkd
