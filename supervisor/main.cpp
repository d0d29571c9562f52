// preforkd: parse the command line, build the supervisor, run it; map failures to exit codes.
#include <exception>
#include <iostream>

#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "supervisor/cli.h"
#include "supervisor/supervisor.h"
#include "supervisor/upgrade.h"

int main(int argc, char** argv) {
  using namespace preforkd;
  CommandLine cli = parseCommandLine(argc, argv);
  if (!cli.config) return cli.exit_status;
  setupLogging("supervisor", cli.config->log_level);
  try {
    // A hot upgrade (SIGUSR2) starts this program again with the same command line.
    ProgramImage image{currentExecutable(), std::vector<std::string>(argv, argv + argc)};
    Supervisor supervisor(std::move(*cli.config), {}, std::move(image));
    return supervisor.run();
  } catch (const StartupError& e) {
    spdlog::critical("cannot start: {}", e.what());
    return kExitStartup;
  } catch (const std::exception& e) {
    spdlog::critical("internal error: {}", e.what());
    return kExitSoftware;
  }
}
