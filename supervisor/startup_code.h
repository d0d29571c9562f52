// releaseStartupCode(): after start-up, let go of the code pages only start-up used.
//
// Why: the supervisor runs a lot of code exactly once (command line and config parsing,
// logging set-up, listener and pool start-up), and the kernel maps executable pages in 64 KiB
// fault-around windows, so about 1.3 MiB of preforkd's code stays mapped for the life of the
// process although its event loop touches a fraction of it: all of it counts in its PSS.
// madvise(MADV_DONTNEED) on the executable's code segments drops those mappings; the pages
// stay in the page cache, and whatever the loop runs next is mapped again on first use.
//
// Contract: only the main program's PT_LOAD segments with PF_X and without PF_W (read-only
// code, never modified, so nothing is lost: the kernel maps the file's pages back) are
// released, whole pages only. Returns the bytes covered (0 if nothing was found or madvise
// failed). A debugger's software breakpoints live in copied code pages and would be dropped
// too: call it once, at the end of start-up, before anyone attaches.
#pragma once

#include <cstddef>

namespace preforkd {

std::size_t releaseStartupCode() noexcept;

}  // namespace preforkd
