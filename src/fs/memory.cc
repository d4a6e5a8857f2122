#include "fs/memory.h"

#include <cstdlib>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace immichfs::fs {

void TuneAllocator() {
#if defined(__GLIBC__)
  mallopt(M_ARENA_MAX, 1);
  // Read-stream blocks (1 MiB) and listing pages (~1-2 MB) come and go
  // constantly; served by mmap each would be page-faulted in afresh every
  // time (~9% of the daemon's CPU on a sequential read). From the heap, and
  // with freed memory kept up to a bound, they reuse resident pages.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

namespace {
// Before main(): see memory.h.
const bool kTuned = (TuneAllocator(), true);
}  // namespace

void ReturnFreedMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace immichfs::fs
