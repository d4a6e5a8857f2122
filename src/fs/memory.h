// How the daemon keeps its memory near what it holds, not what it once held.
//
// Why: listing a big album is a burst of transient memory (~2 MB of JSON per
// 1000 assets, a ~3 MB readdir snapshot per 20 000 entries) around the
// long-lived catalog. With glibc's defaults that burst stays resident after
// it is freed: each FUSE worker thread gets its own malloc arena and keeps
// its freed memory there. Measured over 100 000 listed assets (10 albums,
// ls -lR), RSS grew by 205-290 bytes/asset while 156 were in use; with one
// arena and a trim after each burst, by 148 (tests/bench/rss.py).
//  - TuneAllocator() (mallopt M_ARENA_MAX=1) runs before main(), from a
//    static initializer in memory.cc: arenas are made when threads first
//    allocate, and main() starts the cache's threads before the Filesystem
//    exists. Small allocations stay lock-free in glibc's per-thread tcache.
//  - Also there: M_MMAP_THRESHOLD 4 MiB and M_TRIM_THRESHOLD 64 MiB, so the
//    1 MiB read-stream blocks and ~1 MB listing pages reuse heap pages
//    instead of being mmapped and page-faulted in afresh each time (that was
//    ~9% of the daemon's CPU on a sequential read; the faults fell 90%).
//  - ReturnFreedMemory() (malloc_trim(0), about a millisecond) is called after
//    a burst: a big album paged, a big listing snapshot released.
#ifndef IMMICHFS_FS_MEMORY_H_
#define IMMICHFS_FS_MEMORY_H_

namespace immichfs::fs {

// Done before main(); calling it again is harmless.
void TuneAllocator();
void ReturnFreedMemory();

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_MEMORY_H_
