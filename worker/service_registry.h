// The built-in services, by name.
//
// Contract: builtinServices() lists every service in the order --list-services prints them;
// findService() returns nullptr for an unknown name. Pure and constant.
#pragma once

#include <span>
#include <string_view>

#include "worker/service.h"

namespace preforkd {

std::span<const ServiceDefinition> builtinServices();
const ServiceDefinition* findService(std::string_view name);

}  // namespace preforkd
