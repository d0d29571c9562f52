#include "worker/worker_main.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/fd_passing.h"
#include "common/hot_path.h"
#include "common/startup_code.h"
#include "common/status_protocol.h"
#include "worker/client_connection.h"
#include "worker/service.h"
#include "worker/service_registry.h"
#include "worker/session.h"
#include "worker/wake_signal.h"

namespace preforkd {
namespace {

// As the flag would be written: "30s", "1500ms".
std::string durationFlagText(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? fmt::format("{}s", d.count() / 1000)
                               : fmt::format("{}ms", d.count());
}

class Worker final : public SessionHost {
 public:
  Worker(UniqueFd channel, const WorkerSettings& settings, TakenSlot* taken, ClientWait wait)
      : channel_(std::move(channel)),
        settings_(settings),
        taken_(taken),
        client_wait_(wait),
        pid_(::getpid()) {}

  PREFORKD_HOT int run() {
    service_ = findService(settings_.service);
    if (service_ == nullptr) {
      spdlog::critical("unknown service '{}'", settings_.service);
      return kWorkerExitSetupError;
    }
    if (!report({.type = StatusType::Ready})) return kWorkerExitChannelError;
    spdlog::debug("ready");
    // From here on the worker runs its loop and little else (common/startup_code.h).
    releaseStartupCode();
    for (;;) {
      ReceivedMessage msg = receiveMessage(channel_.get());
      switch (msg.status) {
        case ReceiveStatus::Message: break;
        case ReceiveStatus::PeerClosed:
          spdlog::info("supervisor closed the channel: exiting");
          return kWorkerExitOk;
        case ReceiveStatus::WouldBlock:  // blocking socket: cannot happen; treat as error
        case ReceiveStatus::Error:
        case ReceiveStatus::BadControl:
        case ReceiveStatus::Truncated:
          spdlog::error("channel receive failed: {} (errno {})", toString(msg.status), msg.error);
          quit(QuitReason::ChannelError);
          return kWorkerExitChannelError;
      }
      std::string why;
      const auto command = decodeCommand(msg.payload, &why);
      if (!command) {
        spdlog::error("bad command from supervisor: {}", why);
        quit(QuitReason::ChannelError);
        return kWorkerExitChannelError;
      }
      if (command->type == CommandType::Stop) {
        spdlog::debug("stop requested: exiting");
        quit(QuitReason::Stopped);
        return kWorkerExitOk;
      }
      if (!msg.fd) {
        spdlog::error("Connection {} arrived without a descriptor", command->conn_id);
        quit(QuitReason::ChannelError);
        return kWorkerExitChannelError;
      }
      if (!serve(command->conn_id, std::move(msg.fd))) return kWorkerExitChannelError;
      if (stop_requested_) {
        quit(QuitReason::Stopped);
        return kWorkerExitOk;
      }
    }
  }

  PREFORKD_HOT bool checkChannel() override {
    ReceivedMessage msg = receiveMessage(channel_.get());
    if (msg.status != ReceiveStatus::Message) {
      // EOF shows up as a hang-up on the next poll; errors end the session the same way.
      if (msg.status != ReceiveStatus::WouldBlock) stop_requested_ = true;
      return stop_requested_;
    }
    const auto command = decodeCommand(msg.payload);
    if (command && command->type == CommandType::Stop) {
      stop_requested_ = true;
    } else {
      // A Connection while busy breaks the protocol; the fd (if any) closes with `msg`.
      spdlog::warn("unexpected command while serving a connection: ignored");
    }
    return stop_requested_;
  }

 private:
  // Returns false when the channel is unusable (the caller exits).
  PREFORKD_HOT bool serve(ConnectionId id, UniqueFd client_fd) {
    // Taken first, before touching the client: until then the supervisor may still give this
    // client to another worker if we die.
    const auto started = std::chrono::steady_clock::now();
    if (taken_ != nullptr) {
      taken_->record(id, started);
    } else if (!report({.type = StatusType::Taken, .conn_id = id})) {
      return false;
    }
    ClientConnection client(std::move(client_fd), channel_.get(), client_wait_);
    const ServiceContext ctx{.settings = settings_,
                             .info = {.conn_id = id, .worker_pid = pid_},
                             .host = *this,
                             .served_before = served_,
                             .started_at = started};
    const SessionEnd ran = runService(client, ctx);
    const auto ended = std::chrono::steady_clock::now();
    // A write cut off by the session deadline is the limit at work, not a client fault.
    const SessionEnd end = sessionDeadline(ctx).classify(ran, ended);
    ++served_;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ended - started).count();
    const std::uint64_t in = client.bytesIn(), out = client.bytesOut();
    if (end == SessionEnd::SessionLimit) {
      // Operators want to see these (a client that never lets go, or a limit set too low).
      spdlog::info("connection {} from {}: session time limit ({}) reached", id, client.peer(),
                   durationFlagText(settings_.max_session));
    }
    if (spdlog::should_log(spdlog::level::debug)) {  // peer() costs a syscall: only if logged
      spdlog::debug("connection {} from {} ended ({}) after {} ms, {} bytes in, {} bytes out", id,
                    client.peer(), toString(end), ms, in, out);
    }
    if (end == SessionEnd::SupervisorGone) return false;
    // The client sees EOF before we say Available. If the supervisor has not yet seen our
    // Taken and still holds a copy of the client, closing ours would not end the connection:
    // send the FIN ourselves (a client that closed first is not waiting for it).
    client.close(taken_ != nullptr && taken_->supervisorHolds(id));
    return report({.type = StatusType::Available, .conn_id = id, .bytes_in = in,
                   .bytes_out = out});
  }

  // A service that throws (allocation failure, a bug) ends its session, not the worker: the
  // client is closed and the worker reports Available as usual.
  PREFORKD_HOT SessionEnd runService(ClientConnection& client, const ServiceContext& ctx) noexcept {
    try {
      return service_->run(client, ctx);
    } catch (const std::exception& e) {
      spdlog::error("{} session {} failed: {}", service_->name, ctx.info.conn_id, e.what());
    } catch (...) {
      spdlog::error("{} session {} failed with an unknown exception", service_->name,
                    ctx.info.conn_id);
    }
    return SessionEnd::Error;
  }

  PREFORKD_HOT bool report(const ChildStatus& status) {
    const int err = sendMessage(channel_.get(), encodeStatus(status).asBytes());
    if (err != 0) {
      spdlog::warn("cannot send {} to supervisor (errno {}): exiting", toString(status.type), err);
      return false;
    }
    return true;
  }

  void quit(QuitReason reason) { report({.type = StatusType::Quitting, .reason = reason}); }

  UniqueFd channel_;
  const WorkerSettings& settings_;
  TakenSlot* taken_;  // null: send Taken instead
  ClientWait client_wait_;
  pid_t pid_;
  const ServiceDefinition* service_ = nullptr;
  std::uint64_t served_ = 0;
  bool stop_requested_ = false;
};

}  // namespace

int runWorker(UniqueFd channel, const WorkerSettings& settings, TakenSlot* taken) noexcept {
  try {
    // Second line of defence after channel EOF: die with the supervisor.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    // A worker forked by the supervisor gets clients whose reads wake every kClientReadWake
    // (the supervisor sets SO_RCVTIMEO on its listeners then) and the wake signal after a Stop,
    // so it can block in recv() alone (common/client_read_wake.h). An exec'd one polls.
    ClientWait wait = ClientWait::Poll;
    if (taken != nullptr) {
      if (installWakeSignal()) {
        wait = ClientWait::BlockingRead;
      } else {
        spdlog::warn("cannot install the wake signal handler (errno {}): polling instead", errno);
      }
    }
    Worker worker(std::move(channel), settings, taken, wait);
    return worker.run();
  } catch (const std::exception& e) {
    spdlog::critical("worker failed: {}", e.what());
    return kWorkerExitSetupError;
  } catch (...) {
    spdlog::critical("worker failed with an unknown exception");
    return kWorkerExitSetupError;
  }
}

}  // namespace preforkd
