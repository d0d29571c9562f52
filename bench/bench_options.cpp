#include "bench/bench_options.h"

namespace preforkd::bench {

std::string_view modeName(Mode mode) noexcept {
  switch (mode) {
    case Mode::Crr: return "crr";
    case Mode::Rr: return "rr";
    case Mode::Churn: return "churn";
  }
  return "?";
}

std::string_view serviceName(Service service) noexcept {
  switch (service) {
    case Service::Echo: return "echo";
    case Service::RawEcho: return "raw-echo";
    case Service::Shell: return "shell";
    case Service::Bytes: return "bytes";
  }
  return "?";
}

std::optional<Mode> parseMode(std::string_view name) noexcept {
  for (Mode m : {Mode::Crr, Mode::Rr, Mode::Churn}) {
    if (modeName(m) == name) return m;
  }
  return std::nullopt;
}

std::optional<Service> parseService(std::string_view name) noexcept {
  for (Service s : {Service::Echo, Service::RawEcho, Service::Shell, Service::Bytes}) {
    if (serviceName(s) == name) return s;
  }
  return std::nullopt;
}

bool isLineService(Service service) noexcept {
  return service == Service::Echo || service == Service::Shell;
}

}  // namespace preforkd::bench
