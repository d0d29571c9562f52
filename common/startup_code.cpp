#include "common/startup_code.h"

#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include "common/hot_path.h"

// The release runs once per process, but it is marked hot: it lives with the loop's code, so
// returning from it does not map its own pages (and their neighbours) straight back.

namespace preforkd {
namespace {

struct Released {
  std::uintptr_t page = 0;
  std::uintptr_t vdso = 0;  // the vDSO's ELF header: a kernel mapping, not a file's
  std::size_t bytes = 0;
  bool failed = false;
};

// Text relocations mean the loader wrote into this object's read-only segments: their pages
// are private copies now, and dropping them would bring back the unrelocated file contents.
PREFORKD_HOT
bool hasTextRelocations(const dl_phdr_info& info) {
  for (int i = 0; i < info.dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info.dlpi_phdr[i];
    if (ph.p_type != PT_DYNAMIC) continue;
    for (auto* d = reinterpret_cast<const ElfW(Dyn)*>(info.dlpi_addr + ph.p_vaddr);
         d->d_tag != DT_NULL; ++d) {
      if (d->d_tag == DT_TEXTREL) return true;
      if (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL)) return true;
    }
  }
  return false;
}

PREFORKD_HOT
bool isVdso(const dl_phdr_info& info, std::uintptr_t vdso) {
  for (int i = 0; i < info.dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info.dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const std::uintptr_t start = info.dlpi_addr + ph.p_vaddr;
    if (vdso >= (start & ~std::uintptr_t{0xfff}) && vdso < start + ph.p_memsz) return true;
  }
  return false;
}

PREFORKD_HOT
int releaseObject(dl_phdr_info* info, std::size_t, void* arg) {
  auto* out = static_cast<Released*>(arg);
  if (isVdso(*info, out->vdso) || hasTextRelocations(*info)) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    // Read-only segments only (code, constants, unwind tables). Relocated data (RELRO, the
    // GOT) lives in writable segments even when it is made read-only later: never touched.
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W)) continue;
    // Whole pages inside the segment only: a partial page may be shared with data.
    const std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    const std::uintptr_t lo = (start + out->page - 1) & ~(out->page - 1);
    const std::uintptr_t hi = (start + ph.p_memsz) & ~(out->page - 1);
    if (hi <= lo) continue;
    if (::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED) != 0) {
      out->failed = true;
      continue;
    }
    out->bytes += hi - lo;
  }
  return 0;  // on to the next object
}

}  // namespace

PREFORKD_HOT
std::size_t releaseStartupCode() noexcept {
  Released r;
  r.page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  r.vdso = static_cast<std::uintptr_t>(::getauxval(AT_SYSINFO_EHDR));
  ::dl_iterate_phdr(&releaseObject, &r);
  return r.failed ? 0 : r.bytes;
}

}  // namespace preforkd
