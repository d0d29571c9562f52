// releaseStartupCode(): after start-up, let go of the read-only pages only start-up used.
//
// Why: a process runs a lot of code exactly once (the supervisor: command line and config
// parsing, logging set-up, listener and pool start-up; a worker: whatever the supervisor ran
// before fork plus its own set-up), and the kernel maps file pages in fault-around windows of
// 64 KiB or more, so far more code and constants stay mapped for the life of the process than
// its loop touches: all of it counts in its PSS, and a forked worker's in every worker's.
// madvise(MADV_DONTNEED) on the read-only segments of the program and of every library drops
// those mappings; the pages stay in the page cache, and whatever the loop runs next is mapped
// again on first use (functions marked PREFORKD_HOT sit together: common/hot_path.h).
//
// Contract: only PT_LOAD segments without PF_W are released (code, constants, unwind tables:
// never modified, so nothing is lost: the kernel maps the file's pages back), whole pages only;
// relocated data lives in writable segments and is never touched. Skipped: the vDSO (a kernel
// mapping) and any object with text relocations (its code pages are private copies). Returns
// the bytes covered (0 if madvise failed anywhere). A debugger's software breakpoints live in
// copied code pages and would be dropped too: call it once, at the end of start-up (the
// supervisor when its pool is ready, a worker just before its loop), before anyone attaches.
#pragma once

#include <cstddef>

namespace preforkd {

std::size_t releaseStartupCode() noexcept;

}  // namespace preforkd
