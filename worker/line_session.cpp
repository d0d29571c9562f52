#include "worker/line_session.h"

#include <vector>

#include <fmt/format.h>

#include "worker/line_protocol.h"
#include "worker/telnet.h"

namespace preforkd {
namespace {

constexpr std::string_view kGoodbye = "Goodbye.\r\n";
constexpr std::string_view kShuttingDown = "preforkd is shutting down. Goodbye.\r\n";

// "500 ms", "30 s", "1.5 s": what an operator would have written.
std::string formatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{} s", d.count() / 1000);
  if (d.count() < 1000) return fmt::format("{} ms", d.count());
  return fmt::format("{:.3g} s", static_cast<double>(d.count()) / 1000.0);
}

}  // namespace

SessionEnd runLineSession(ClientConnection& client, const ServiceContext& ctx,
                          LineHandler& handler) {
  const WorkerSettings& settings = ctx.settings;
  auto say = [&](std::string_view text) { return client.writeAll(text, writeTimeout(ctx)); };
  if (const std::string hello = handler.greeting(); !hello.empty() && !say(hello)) {
    return SessionEnd::WriteFailed;
  }
  TelnetFilter telnet;
  LineDecoder lines(settings.max_line_bytes);
  std::string raw, data, reply, out;
  std::vector<LineEvent> events;
  for (;;) {
    raw.clear();
    if (const auto end = readClientInput(client, ctx, raw)) {
      // Line clients are people: say why the connection ends.
      if (*end == SessionEnd::IdleTimeout) {
        say(fmt::format("idle for {}: closing the connection.\r\n",
                        formatDuration(settings.idle_timeout)));
      } else if (*end == SessionEnd::SessionLimit) {
        say(fmt::format("session time limit ({}) reached: closing the connection.\r\n",
                        formatDuration(settings.max_session)));
      } else if (*end == SessionEnd::Stopped) {
        say(kShuttingDown);
      }
      return *end;
    }
    data.clear();
    reply.clear();
    telnet.feed(raw, data, reply);
    if (!reply.empty() && !say(reply)) return SessionEnd::WriteFailed;
    events.clear();
    lines.feed(data, events);
    out.clear();
    for (const LineEvent& ev : events) {
      switch (ev.kind) {
        case LineEventKind::Line:
          if (handler.onLine(ev.text, out) == LineAction::Close) {
            say(out);
            return SessionEnd::ClientQuit;
          }
          break;
        case LineEventKind::Interrupted:
          break;  // Ctrl-C: the partial line is gone; the session goes on
        case LineEventKind::EndOfInput:
          out += kGoodbye;
          say(out);
          return SessionEnd::ClientQuit;
        case LineEventKind::TooLong:
          out += fmt::format("error: line longer than {} bytes: closing the connection.\r\n",
                             settings.max_line_bytes);
          say(out);
          return SessionEnd::LineTooLong;
      }
    }
    if (!out.empty() && !say(out)) return SessionEnd::WriteFailed;
  }
}

}  // namespace preforkd
