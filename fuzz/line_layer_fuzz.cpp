// Fuzz target: the worker's line layer, TelnetFilter (worker/telnet.h) feeding LineDecoder
// (worker/line_protocol.h), as the worker's connection loop drives them.
//
// Input: byte 0 picks max_line_bytes (1..64, or 4096 when its top bit is set); the rest is what
// the client sends, fed in pieces cut at positions the input decides (fuzz_support.h).
// Checked: both contracts' bounds after every piece (decoded data never longer than the raw
// bytes that produced it, the reply never longer than the input plus the capped AYT answers and
// made only of refusals and AYT answers, the decoder never holding more than max_line_bytes,
// nothing after EndOfInput or TooLong), the shape of each event, and that the split changes
// nothing: the same data, reply and events as one feed of the whole input.
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "worker/line_protocol.h"
#include "worker/telnet.h"

namespace preforkd {
namespace {

constexpr unsigned char kIac = 255, kWont = 252, kDont = 254;

struct Outcome {
  std::string data;
  std::string reply;
  std::vector<LineEvent> events;
};

bool isEnd(LineEventKind kind) {
  return kind == LineEventKind::EndOfInput || kind == LineEventKind::TooLong;
}

// The reply is a sequence of IAC WONT x / IAC DONT x refusals and at most kMaxAytAnswers AYT
// answers, nothing else.
void checkReply(std::string_view reply) {
  unsigned ayt = 0;
  std::size_t i = 0;
  while (i < reply.size()) {
    if (static_cast<unsigned char>(reply[i]) == kIac) {
      FUZZ_CHECK(i + 3 <= reply.size());
      const auto verb = static_cast<unsigned char>(reply[i + 1]);
      FUZZ_CHECK(verb == kWont || verb == kDont);
      i += 3;
    } else {
      FUZZ_CHECK(reply.substr(i).starts_with(TelnetFilter::kAytAnswer));
      ++ayt;
      i += TelnetFilter::kAytAnswer.size();
    }
  }
  FUZZ_CHECK(ayt <= TelnetFilter::kMaxAytAnswers);
}

void checkEvent(const LineEvent& ev, std::size_t max_line) {
  if (ev.kind != LineEventKind::Line) {
    FUZZ_CHECK(ev.text.empty());
    return;
  }
  FUZZ_CHECK(ev.text.size() <= max_line);
  // Terminators end a line and editing bytes act on it: none of them is ever part of one.
  FUZZ_CHECK(ev.text.find_first_of(std::string_view("\r\n\x03\x08\x15\x7f", 6)) ==
             std::string::npos);
}

Outcome run(const std::vector<std::string_view>& pieces, std::size_t max_line) {
  TelnetFilter filter;
  LineDecoder decoder(max_line);
  Outcome out;
  std::size_t raw_total = 0;
  bool ended = false;
  for (std::string_view piece : pieces) {
    raw_total += piece.size();
    const std::size_t data_before = out.data.size();
    filter.feed(piece, out.data, out.reply);
    // Every data byte comes from at least one raw byte of this piece (the filter buffers
    // nothing), and a refusal is as long as the request it answers.
    FUZZ_CHECK(out.data.size() - data_before <= piece.size());
    FUZZ_CHECK(out.reply.size() <= raw_total + TelnetFilter::kMaxAytAnswers *
                                                   TelnetFilter::kAytAnswer.size());

    const std::size_t events_before = out.events.size();
    decoder.feed(std::string_view(out.data).substr(data_before), out.events);
    FUZZ_CHECK(decoder.buffered() <= max_line);
    if (ended) FUZZ_CHECK(out.events.size() == events_before);
    for (std::size_t i = events_before; i < out.events.size(); ++i) {
      FUZZ_CHECK(!ended);  // nothing after EndOfInput or TooLong, in the same feed either
      checkEvent(out.events[i], max_line);
      ended = isEnd(out.events[i].kind);
    }
    const bool too_long = !out.events.empty() && out.events.back().kind == LineEventKind::TooLong;
    FUZZ_CHECK(decoder.failed() == too_long);
    if (decoder.failed()) FUZZ_CHECK(decoder.buffered() == 0);
  }
  checkReply(out.reply);
  return out;
}

}  // namespace
}  // namespace preforkd

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace preforkd;
  if (size == 0) return 0;
  const std::size_t max_line = (data[0] & 0x80) ? 4096 : 1 + (data[0] & 0x3f);
  const std::string_view raw = fuzz::text(data + 1, size - 1);

  const Outcome split = run(fuzz::splitChunks(raw), max_line);
  const Outcome whole = run({raw}, max_line);
  FUZZ_CHECK(split.data == whole.data);
  FUZZ_CHECK(split.reply == whole.reply);
  FUZZ_CHECK(split.events == whole.events);
  // Without an IAC the filter is the identity.
  if (raw.find(static_cast<char>(kIac)) == std::string_view::npos) {
    FUZZ_CHECK(whole.data == raw);
    FUZZ_CHECK(whole.reply.empty());
  }
  return 0;
}
