// PREFORKD_HOT: marks a function that runs for every connection or round trip.
//
// Why: GCC puts functions marked hot in .text.hot, and the linker gathers those in one run
// at the start of .text. The kernel maps code in 64 KiB fault-around windows, so a worker whose
// per-connection code sits together maps (and counts in its memory) a window or two instead
// of one per source file its loop passes through; the instruction TLB likes it too.
//
// Contract: a placement hint only, nothing depends on it. Mark what the per-connection path
// runs (the worker loop, client reads and writes, the channel codec, the supervisor's
// hand-off), not set-up, errors or rare commands: a hot section that grows with everything
// would be no better than none.
#pragma once

#define PREFORKD_HOT [[gnu::hot]]
