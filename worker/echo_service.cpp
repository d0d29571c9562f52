#include "worker/echo_service.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "worker/line_protocol.h"
#include "worker/telnet.h"

namespace preforkd {
namespace {

// "500 ms", "30 s", "1.5 s": what an operator would have written.
std::string formatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return fmt::format("{} s", d.count() / 1000);
  if (d.count() < 1000) return fmt::format("{} ms", d.count());
  return fmt::format("{:.3g} s", static_cast<double>(d.count()) / 1000.0);
}

std::string lowerTrimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  std::string out(text.substr(first, last - first + 1));
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

constexpr std::string_view kHelp =
    "commands:\r\n"
    "  help         this list\r\n"
    "  quit, exit   close the connection (Ctrl-D at the start of a line does too)\r\n"
    "anything else is echoed back.\r\n";
constexpr std::string_view kGoodbye = "Goodbye.\r\n";
constexpr std::string_view kShuttingDown = "preforkd is shutting down. Goodbye.\r\n";

SessionEnd runRawEcho(ClientConnection& client, const WorkerSettings& settings, SessionHost& host) {
  std::string buf;
  for (;;) {
    buf.clear();
    switch (client.readSome(buf, settings.idle_timeout)) {
      case ReadStatus::Data:
        if (!client.writeAll(buf, settings.idle_timeout)) return SessionEnd::WriteFailed;
        break;
      case ReadStatus::Closed: return SessionEnd::ClientClosed;
      case ReadStatus::IdleTimeout: return SessionEnd::IdleTimeout;
      case ReadStatus::ChannelReadable:
        if (host.checkChannel()) return SessionEnd::Stopped;
        break;
      case ReadStatus::SupervisorGone: return SessionEnd::SupervisorGone;
      case ReadStatus::Error: return SessionEnd::Error;
    }
  }
}

SessionEnd runLineEcho(ClientConnection& client, const WorkerSettings& settings,
                       const SessionInfo& info, SessionHost& host) {
  const auto write_timeout = settings.idle_timeout;
  auto say = [&](std::string_view text) { return client.writeAll(text, write_timeout); };
  if (!say(fmt::format("preforkd echo service, worker pid {}, connection {}. "
                       "Type 'help' for commands.\r\n",
                       info.worker_pid, info.conn_id))) {
    return SessionEnd::WriteFailed;
  }
  TelnetFilter telnet;
  LineDecoder lines(settings.max_line_bytes);
  std::string raw, data, reply;
  std::vector<LineEvent> events;
  bool stop_requested = false;
  for (;;) {
    raw.clear();
    switch (client.readSome(raw, settings.idle_timeout)) {
      case ReadStatus::Data: break;
      case ReadStatus::Closed: return SessionEnd::ClientClosed;
      case ReadStatus::IdleTimeout:
        say(fmt::format("idle for {}: closing the connection.\r\n",
                        formatDuration(settings.idle_timeout)));
        return SessionEnd::IdleTimeout;
      case ReadStatus::ChannelReadable:
        stop_requested = host.checkChannel();
        if (stop_requested) {
          say(kShuttingDown);
          return SessionEnd::Stopped;
        }
        continue;
      case ReadStatus::SupervisorGone: return SessionEnd::SupervisorGone;
      case ReadStatus::Error: return SessionEnd::Error;
    }
    data.clear();
    reply.clear();
    telnet.feed(raw, data, reply);
    if (!reply.empty() && !say(reply)) return SessionEnd::WriteFailed;
    events.clear();
    lines.feed(data, events);
    std::string out;
    for (const LineEvent& ev : events) {
      switch (ev.kind) {
        case LineEventKind::Line: {
          const std::string command = lowerTrimmed(ev.text);
          if (command == "quit" || command == "exit") {
            out += kGoodbye;
            say(out);
            return SessionEnd::ClientQuit;
          }
          if (command == "help") {
            out += kHelp;
          } else {
            out += ev.text;
            out += "\r\n";
          }
          break;
        }
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

}  // namespace

SessionEnd runEchoSession(ClientConnection& client, const WorkerSettings& settings,
                          const SessionInfo& info, SessionHost& host) {
  return settings.banner ? runLineEcho(client, settings, info, host)
                         : runRawEcho(client, settings, host);
}

const char* toString(SessionEnd end) noexcept {
  switch (end) {
    case SessionEnd::ClientQuit: return "client-quit";
    case SessionEnd::ClientClosed: return "client-closed";
    case SessionEnd::IdleTimeout: return "idle-timeout";
    case SessionEnd::LineTooLong: return "line-too-long";
    case SessionEnd::Stopped: return "stopped";
    case SessionEnd::SupervisorGone: return "supervisor-gone";
    case SessionEnd::WriteFailed: return "write-failed";
    case SessionEnd::Error: return "error";
  }
  return "?";
}

}  // namespace preforkd
