#include "supervisor/cli.h"

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/logging.h"
#include "preforkd/version.h"

namespace preforkd {

std::string defaultControlSocketPath() {
  const char* runtime = std::getenv("RUNTIME_DIRECTORY");
  if (runtime != nullptr && *runtime != '\0') {
    std::string dir(runtime);
    // systemd may list several directories separated by ':'; the first is ours.
    dir = dir.substr(0, dir.find(':'));
    return dir + "/preforkd.sock";
  }
  return "preforkd.sock";
}

CommandLine parseCommandLine(int argc, char** argv) {
  // Everything after --worker-exec is the worker's command line, untouched by our parser.
  std::vector<std::string> worker_exec;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--worker-exec") {
      worker_exec.assign(argv + i + 1, argv + argc);
      argc = i;
      if (worker_exec.empty()) {
        std::cerr << "preforkd: --worker-exec needs a PROGRAM (and its arguments, if any)\n";
        return CommandLine{std::nullopt, kExitUsage};
      }
      break;
    }
  }
  CLI::App app{"preforkd: a descriptor-passing prefork supervisor.\n"
               "The supervisor accepts TCP connections and hands each one to an idle pre-forked "
               "worker over a Unix socket (SCM_RIGHTS).",
               "preforkd"};
  app.set_version_flag("-V,--version", "preforkd " PREFORKD_VERSION);
  app.get_formatter()->column_width(34);

  std::vector<std::string> listen{"127.0.0.1:2323"};
  std::size_t workers = 4;
  std::string control_socket = defaultControlSocketPath();
  std::string shutdown_timeout = "10s";
  bool list_services = false;
  WorkerOptionText worker;

  app.add_option("-l,--listen", listen,
                 "address to accept on, HOST:PORT or [IPV6]:PORT, numeric; repeatable; port 0 "
                 "picks a free port")
      ->default_str("127.0.0.1:2323");
  app.add_option("-w,--workers", workers, "number of worker processes")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}))
      ->capture_default_str();
  app.add_option("--control-socket", control_socket,
                 "path of the stats control socket (Unix stream socket, mode 0600); '' disables it")
      ->capture_default_str();
  app.add_option("--shutdown-timeout", shutdown_timeout,
                 "on SIGTERM/SIGINT, how long busy workers may finish before they are killed")
      ->check(positiveDuration())
      ->capture_default_str();
  addWorkerOptions(app, worker);
  app.add_flag("--list-services", list_services, "print the built-in services and exit");
  app.footer(
      "  --worker-exec PROGRAM [ARGS...]\n"
      "                              fork AND exec each worker: PROGRAM gets its channel on fd 3\n"
      "                              (docs/protocol.md); takes all remaining arguments, so it\n"
      "                              comes last. build/worker/preforkd-worker runs the built-in\n"
      "                              services this way.");

  CommandLine result;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive here as "successes" (exit code 0).
    const int code = app.exit(e);
    result.exit_status = code == 0 ? kExitOk : kExitUsage;
    return result;
  }

  if (list_services) {
    std::cout << listServices();
    return result;
  }
  SupervisorConfig config;
  for (const std::string& text : listen) {
    std::string error;
    auto addr = parseHostPort(text, &error);
    if (!addr) {
      std::cerr << "preforkd: --listen: " << error << "\n";
      result.exit_status = kExitUsage;
      return result;
    }
    config.listen.push_back(*addr);
  }
  config.workers = workers;
  config.worker = applyWorkerOptions(worker);
  config.worker_exec = std::move(worker_exec);
  config.control_socket = control_socket;
  config.shutdown_timeout = *parseDuration(shutdown_timeout);
  config.log_level = config.worker.log_level;
  result.config = std::move(config);
  return result;
}

}  // namespace preforkd
