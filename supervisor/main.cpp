// preforkd: read the configuration, choose the log destination, check who we may run as, bind
// (inside the Supervisor's constructor, still privileged), drop privileges, run; map failures
// to exit codes.
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <iostream>

#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "supervisor/cli.h"
#include "supervisor/privileges.h"
#include "supervisor/supervisor.h"
#include "supervisor/upgrade.h"

namespace {

// The directory systemd created for this service ($RUNTIME_DIRECTORY's first entry), if
// `path` lives directly in it.
std::string runtimeDirectoryOf(const std::string& path) {
  const char* runtime = std::getenv("RUNTIME_DIRECTORY");
  if (runtime == nullptr || *runtime == '\0') return {};
  std::string dir(runtime);
  dir = dir.substr(0, dir.find(':'));
  const auto slash = path.rfind('/');
  return slash != std::string::npos && path.substr(0, slash) == dir ? dir : std::string();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace preforkd;
  CommandLine cli = parseCommandLine(argc, argv);
  if (!cli.config) return cli.exit_status;
  SupervisorConfig& config = *cli.config;
  if (std::string error = openLogFile(config.log_file); !error.empty()) {
    std::cerr << "preforkd: cannot start: " << error << "\n";
    return kExitStartup;
  }
  setupLogging("supervisor", config.log_level);

  std::optional<Identity> identity;
  if (!config.user.empty() || !config.group.empty()) {
    std::string error;
    identity = resolveIdentity(config.user, config.group, &error);
    if (!identity) {
      spdlog::critical("cannot start: {}", error);
      return kExitStartup;
    }
  }
  if (std::string refusal = checkRootPolicy(::geteuid(), ::getegid(), identity,
                                            config.allow_root_workers);
      !refusal.empty()) {
    spdlog::critical("cannot start: {}", refusal);
    return kExitStartup;
  }
  if (!identity && ::geteuid() == 0) spdlog::warn("workers run as root (allow_root_workers)");

  const std::string control_socket = config.control_socket;
  const std::string log_file = config.log_file;
  try {
    // A hot upgrade (SIGUSR2) starts this program again with the same command line; a
    // reload (SIGHUP) re-reads the configuration file and re-applies the same flags.
    ProgramImage image{currentExecutable(), std::vector<std::string>(argv, argv + argc)};
    Supervisor supervisor(
        std::move(config),
        [source = cli.reload_source](std::string* error) { return reloadConfiguration(source, error); },
        std::move(image));  // binds and creates the control socket
    if (identity && needsDrop(*identity)) {
      // What the daemon must still manage once it is no longer root: remove its control
      // socket at exit (so the directory systemd made for it, too) and append to a reopened
      // log file.
      for (const std::string& path :
           {control_socket, runtimeDirectoryOf(control_socket), log_file}) {
        if (std::string error = handOverFile(path, *identity); !error.empty()) {
          spdlog::critical("cannot start: {}", error);
          return kExitStartup;
        }
      }
      if (std::string error = dropPrivileges(*identity); !error.empty()) {
        spdlog::critical("cannot start: dropping privileges: {}", error);
        return kExitStartup;
      }
      spdlog::info("running as user {} ({}), group {} ({})", identity->user, identity->uid,
                   identity->group, identity->gid);
    }
    return supervisor.run();
  } catch (const StartupError& e) {
    spdlog::critical("cannot start: {}", e.what());
    return kExitStartup;
  } catch (const std::exception& e) {
    spdlog::critical("internal error: {}", e.what());
    return kExitSoftware;
  }
}
