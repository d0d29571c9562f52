// preforkd-worker: the built-in services as a standalone program, for
// `preforkd --worker-exec preforkd-worker [flags]`. The supervisor starts it with its channel
// on fd 3 (docs/protocol.md); it checks that fd 3 really is a SEQPACKET Unix socket, then runs
// the same worker loop a forked worker runs.
#include <sys/socket.h>

#include <cstdlib>
#include <iostream>

#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "preforkd/version.h"
#include "worker/worker_main.h"
#include "worker/worker_options.h"

int main(int argc, char** argv) {
  using namespace preforkd;
  CLI::App app{"preforkd-worker: runs a built-in preforkd service as an exec'd worker.\n"
               "Started by `preforkd --worker-exec preforkd-worker [OPTIONS]` with the channel on "
               "fd 3.",
               "preforkd-worker"};
  app.set_version_flag("-V,--version", "preforkd-worker " PREFORKD_VERSION);
  WorkerOptionText raw;
  addWorkerOptions(app, raw);
  bool list = false;
  app.add_flag("--list-services", list, "print the built-in services and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 64;
  }
  if (list) {
    std::cout << listServices();
    return 0;
  }
  WorkerSettings settings = applyWorkerOptions(raw);
  setupLogging("worker", settings.log_level);
  if (const char* gen = std::getenv("PREFORKD_GENERATION")) {
    settings.generation = std::strtoull(gen, nullptr, 10);
  }
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(kWorkerChannelFd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      type != SOCK_SEQPACKET) {
    spdlog::critical("fd {} is not a preforkd channel: run me with `preforkd --worker-exec`",
                     kWorkerChannelFd);
    return 64;
  }
  return runWorker(UniqueFd(kWorkerChannelFd), settings);
}
