// releaseStartupCode() on this very process: the executable's code mappings shrink, and the
// process goes on running code from them (the pages are mapped again on use).
#include "supervisor/startup_code.h"

#include <unistd.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

// Rss (KiB) of this executable's executable mappings, from /proc/self/smaps.
long executableCodeRssKib() {
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return -1;
  const std::string self(exe, static_cast<std::size_t>(n));
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_code = false;
  long kib = 0;
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') < line.find(' ')) {
      std::istringstream fields(line);
      std::string range, perms, offset, dev, inode, path;
      fields >> range >> perms >> offset >> dev >> inode >> path;
      in_code = path == self && perms.size() >= 3 && perms[2] == 'x';
    } else if (in_code && line.rfind("Rss:", 0) == 0) {
      kib += std::stol(line.substr(4));
    }
  }
  return kib;
}

TEST(StartupCode, ReleasesTheExecutablesCodeMappings) {
  const long before = executableCodeRssKib();
  ASSERT_GT(before, 0);
  const std::size_t released = releaseStartupCode();
  EXPECT_GT(released, 0u);
  const long after = executableCodeRssKib();  // runs code from the released range again
  ASSERT_GE(after, 0);
  EXPECT_LT(after, before) << "before " << before << " KiB, after " << after << " KiB";
  // And everything still runs: a second call, more parsing.
  EXPECT_GT(releaseStartupCode(), 0u);
  EXPECT_GT(executableCodeRssKib(), 0);
}

}  // namespace
}  // namespace preforkd
