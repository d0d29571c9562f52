#include "worker/service.h"

#include <array>

#include "common/hot_path.h"

namespace preforkd {

PREFORKD_HOT
std::chrono::milliseconds writeTimeout(const ServiceContext& ctx) {
  if (ctx.settings.max_session.count() == 0) return ctx.settings.idle_timeout;
  return sessionDeadline(ctx).writeWait(ctx.settings.idle_timeout,
                                        SessionDeadline::Clock::now());
}

PREFORKD_HOT
std::optional<SessionEnd> readClientInput(ClientConnection& client, const ServiceContext& ctx,
                                          std::string& raw) {
  std::array<char, ClientConnection::kReadChunk> buf;
  std::size_t got = 0;
  auto end = readClientInput(client, ctx, buf, got);
  if (!end) raw.append(buf.data(), got);
  return end;
}

PREFORKD_HOT
std::optional<SessionEnd> readClientInput(ClientConnection& client, const ServiceContext& ctx,
                                          std::span<char> into, std::size_t& got) {
  const SessionDeadline deadline = sessionDeadline(ctx);
  for (;;) {
    InputWait wait{ctx.settings.idle_timeout, WaitLimit::Idle};
    if (deadline.limited()) {  // without a limit, skip the clock: this is the hot path
      const auto now = SessionDeadline::Clock::now();
      if (deadline.expired(now)) return SessionEnd::SessionLimit;
      wait = deadline.inputWait(ctx.settings.idle_timeout, now);
    }
    switch (client.readSome(into, got, wait.timeout)) {
      case ReadStatus::Data: return std::nullopt;
      case ReadStatus::Closed: return SessionEnd::ClientClosed;
      case ReadStatus::IdleTimeout:
        if (wait.limit == WaitLimit::Idle) return SessionEnd::IdleTimeout;
        continue;  // cut at the deadline: the check above ends it (poll may wake a bit early)
      case ReadStatus::ChannelReadable:
        if (ctx.host.checkChannel()) return SessionEnd::Stopped;
        continue;  // not a Stop: keep waiting for the client
      case ReadStatus::SupervisorGone: return SessionEnd::SupervisorGone;
      case ReadStatus::Error: return SessionEnd::Error;
    }
  }
}

}  // namespace preforkd
