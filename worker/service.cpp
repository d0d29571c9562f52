#include "worker/service.h"

namespace preforkd {

std::optional<SessionEnd> readClientInput(ClientConnection& client, const ServiceContext& ctx,
                                          std::string& raw) {
  for (;;) {
    switch (client.readSome(raw, ctx.settings.idle_timeout)) {
      case ReadStatus::Data: return std::nullopt;
      case ReadStatus::Closed: return SessionEnd::ClientClosed;
      case ReadStatus::IdleTimeout: return SessionEnd::IdleTimeout;
      case ReadStatus::ChannelReadable:
        if (ctx.host.checkChannel()) return SessionEnd::Stopped;
        continue;  // not a Stop: keep waiting for the client
      case ReadStatus::SupervisorGone: return SessionEnd::SupervisorGone;
      case ReadStatus::Error: return SessionEnd::Error;
    }
  }
}

}  // namespace preforkd
