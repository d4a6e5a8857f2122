#include "fs/memory.h"

#include <cstdlib>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace immichfs::fs {

void TuneAllocator() {
#if defined(__GLIBC__)
  mallopt(M_ARENA_MAX, 1);
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
