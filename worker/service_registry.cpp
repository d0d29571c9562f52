#include "worker/service_registry.h"

#include <array>

#include "worker/echo_service.h"

namespace preforkd {
namespace {

// One line per service: name, one-line description, entry point.
constexpr std::array kServices = {
    ServiceDefinition{"echo", "line echo with a banner, help and quit (byte-exact RFC 862 echo "
                              "with --no-banner)",
                      &runEchoService},
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
