// The HAProxy tests' main(): a private network namespace when we may have one, then GoogleTest.
//
// As root, unshare(CLONE_NEWNET) gives this process (and everything it starts: HAProxy,
// preforkd and their children) a loopback of its own, so no port can collide with anything
// else on the machine and nothing outside can reach what the tests start. It must happen
// before any thread exists (a namespace is per thread; threads inherit their creator's).
// Without the privilege the tests run on the host's loopback and say so.
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "common/unique_fd.h"

namespace {

// "" on success, else why not.
std::string enterPrivateNetwork() {
  if (::geteuid() != 0) return "not running as root";
  if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  // A new namespace has only `lo`, and it is down.
  preforkd::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::string("socket: ") + std::strerror(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(fd.get(), SIOCGIFFLAGS, &ifr) != 0) return std::string("SIOCGIFFLAGS lo: ") + std::strerror(errno);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(fd.get(), SIOCSIFFLAGS, &ifr) != 0) return std::string("SIOCSIFFLAGS lo: ") + std::strerror(errno);
  return "";
}

bool listingOnly(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--gtest_list_tests") return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  // Test discovery only lists names: no namespace, no note (its output is parsed).
  if (!listingOnly(argc, argv)) {
    const std::string why = enterPrivateNetwork();
    if (why.empty()) {
      std::cerr << "note: running in a private network namespace (own loopback)\n";
    } else {
      std::cerr << "note: no private network namespace (" << why
                << "): HAProxy and preforkd use the host's loopback\n";
    }
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
