#include "supervisor/startup_code.h"

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace preforkd {
namespace {

struct Released {
  std::size_t bytes = 0;
  bool failed = false;
};

int releaseMainProgram(dl_phdr_info* info, std::size_t, void* arg) {
  auto* out = static_cast<Released*>(arg);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || (ph.p_flags & PF_W)) continue;
    // Whole pages inside the segment only: a partial page may be shared with data.
    const std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    const std::uintptr_t lo = (start + page - 1) & ~(page - 1);
    const std::uintptr_t hi = (start + ph.p_memsz) & ~(page - 1);
    if (hi <= lo) continue;
    if (::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED) != 0) {
      out->failed = true;
      continue;
    }
    out->bytes += hi - lo;
  }
  return 1;  // the first entry is the main program: stop there
}

}  // namespace

std::size_t releaseStartupCode() noexcept {
  Released r;
  ::dl_iterate_phdr(&releaseMainProgram, &r);
  return r.failed ? 0 : r.bytes;
}

}  // namespace preforkd
