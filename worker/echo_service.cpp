#include "worker/echo_service.h"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "common/hot_path.h"

namespace preforkd {
namespace {

constexpr std::string_view kHelp =
    "commands:\r\n"
    "  help         this list\r\n"
    "  quit, exit   close the connection (Ctrl-D at the start of a line does too)\r\n"
    "anything else is echoed back.\r\n";

// Bytes go back as they came, from a buffer on the stack: no allocation per connection.
PREFORKD_HOT
SessionEnd runRawEcho(ClientConnection& client, const ServiceContext& ctx) {
  std::array<char, ClientConnection::kReadChunk> buf;
  for (;;) {
    std::size_t got = 0;
    if (const auto end = readClientInput(client, ctx, buf, got)) return *end;
    if (!client.writeAll({buf.data(), got}, writeTimeout(ctx))) return SessionEnd::WriteFailed;
  }
}

}  // namespace

std::string normalizeCommand(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  std::string out(text.substr(first, last - first + 1));
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string EchoHandler::greeting() {
  return fmt::format("preforkd echo service, worker pid {}, connection {}. "
                     "Type 'help' for commands.\r\n",
                     info_.worker_pid, info_.conn_id);
}

LineAction EchoHandler::onLine(std::string_view line, std::string& out) {
  const std::string command = normalizeCommand(line);
  if (command == "quit" || command == "exit") {
    out += "Goodbye.\r\n";
    return LineAction::Close;
  }
  if (command == "help") {
    out += kHelp;
  } else {
    out += line;
    out += "\r\n";
  }
  return LineAction::Continue;
}

PREFORKD_HOT
SessionEnd runEchoService(ClientConnection& client, const ServiceContext& ctx) {
  if (!ctx.settings.banner) return runRawEcho(client, ctx);
  EchoHandler handler(ctx.info);
  return runLineSession(client, ctx, handler);
}

}  // namespace preforkd
