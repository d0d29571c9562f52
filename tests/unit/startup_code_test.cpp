// releaseStartupCode() on this very process: the read-only mappings of the executable and of
// the libraries shrink, and the process goes on running code from them (the pages are mapped
// again on use).
#include "common/startup_code.h"

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

std::string selfPath() {
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  return n > 0 ? std::string(exe, static_cast<std::size_t>(n)) : std::string();
}

// Rss (KiB) of the read-only file mappings (r-x or r--) whose path passes `wanted`, from
// /proc/self/smaps.
long readOnlyRssKib(const std::function<bool(const std::string&)>& wanted) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool counted = false;
  long kib = 0;
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') < line.find(' ')) {
      std::istringstream fields(line);
      std::string range, perms, offset, dev, inode, path;
      fields >> range >> perms >> offset >> dev >> inode >> path;
      counted = !path.empty() && path[0] == '/' && perms.size() >= 2 && perms[1] == '-' &&
                wanted(path);
    } else if (counted && line.rfind("Rss:", 0) == 0) {
      kib += std::stol(line.substr(4));
    }
  }
  return kib;
}

TEST(StartupCode, ReleasesTheReadOnlyMappingsOfTheProgramAndItsLibraries) {
  const std::string self = selfPath();
  ASSERT_FALSE(self.empty());
  const auto isSelf = [&](const std::string& p) { return p == self; };
  const auto isLibc = [](const std::string& p) { return p.find("/libc.so") != std::string::npos; };
  const long self_before = readOnlyRssKib(isSelf), libc_before = readOnlyRssKib(isLibc);
  ASSERT_GT(self_before, 0);
  ASSERT_GT(libc_before, 0);
  const std::size_t released = releaseStartupCode();
  EXPECT_GT(released, 0u);
  // Measuring runs code from the released ranges again: both still shrank.
  const long self_after = readOnlyRssKib(isSelf), libc_after = readOnlyRssKib(isLibc);
  EXPECT_LT(self_after, self_before) << "before " << self_before << " KiB, after " << self_after;
  EXPECT_LT(libc_after, libc_before) << "before " << libc_before << " KiB, after " << libc_after;
  // And everything still runs: a second call, more parsing.
  EXPECT_GT(releaseStartupCode(), 0u);
  EXPECT_GT(readOnlyRssKib(isSelf), 0);
}

}  // namespace
}  // namespace preforkd
