#include "worker/service_registry.h"

#include <array>

#include "worker/bytes_service.h"
#include "worker/echo_service.h"
#include "worker/rpc_service.h"
#include "worker/shell_service.h"

namespace preforkd {
namespace {

// One line per service: name, one-line description, entry point.
constexpr std::array kServices = {
    ServiceDefinition{"echo", "line echo with a banner, help and quit (byte-exact RFC 862 echo "
                              "with --no-banner)",
                      &runEchoService},
    ServiceDefinition{"shell", "telnet command shell: HELP, PING, ECHO, TIME, INFO, QUIT",
                      &runShellService},
    ServiceDefinition{"bytes", "Stevens web_child benchmark: send a byte count, get that many "
                               "bytes of 0123456789abcdef...",
                      &runBytesService},
    ServiceDefinition{"rpc", "length-prefixed JSON RPC (4-byte LE length + {\"in\", \"params\"}): "
                             "ping, echo, methods",
                      &runRpcService},
};

}  // namespace

std::span<const ServiceDefinition> builtinServices() { return kServices; }

const ServiceDefinition* findService(std::string_view name) {
  for (const ServiceDefinition& s : kServices) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace preforkd
