// The on-disk read cache: fixed-size blocks of asset originals, bounded in
// total size, evicted least-recently-used first.
//
// Layout: one file per block, all in one directory (normally
// <cache_dir>/blocks):
//
//   <asset>.<checksum-hex>.<block-index>.<xxh64-of-content-hex>
//
// Why one file per block rather than one sparse file per asset with a bitmap:
// a block becomes visible only by rename(2) of a fully written temp file, so
// a reader can never see a half-written block and no bitmap has to be kept
// in step with the data (no fsync ordering, no bitmap/data disagreement after
// a crash); eviction is a single unlink(2), which also works while another
// thread still reads the block through an open fd (it keeps the old inode).
// With 1 MiB blocks a 2 GiB cache is ~2000 files, which ext4/xfs handle well.
//
// Restarts: the index is rebuilt from a readdir at Open (cheap: names only),
// LRU order from mtimes. A block found that way is hashed (xxh64, against its
// name) the first time it is read, so a file torn by a crash is dropped, never
// served. Blocks written by this process are trusted. Stale temp files and
// names that do not parse are removed at Open.
//
// The checksum is part of every name, so a changed asset (new checksum) can
// never be served the old asset's bytes; the old blocks age out by LRU.
//
// Writes off the download thread: PutAsync hands a complete block to the
// cache's writer thread (started by the first PutAsync, so that opening the
// cache before the daemon forks into the background starts no thread a
// fork would lose) and returns at once (creating, writing, renaming a
// 1 MiB file and hashing it was ~27% of the daemon's CPU, on the thread that
// receives the download, stalling it meanwhile). Until it is written, a
// queued block counts as present: Contains is true and Read serves it from
// memory -- it is the same complete block the download produced, so "only
// complete, verified blocks are served" holds. At most `max_queued_bytes`
// wait; past that a block is simply not cached (a slow disk never slows a
// read). A failed write only logs: the block is missing, read again later.
// Crash safety is unchanged: a block reaches the directory only by rename.
//
// Thread safety: all methods may be called concurrently. `mu_` guards the
// in-memory index; reading and writing block data happen outside it, only the
// rename/unlink that publish or drop a block happen under it, so the index and
// the directory never disagree. A leaf lock: nothing else is locked under it.
#ifndef IMMICHFS_READCACHE_BLOCK_CACHE_H_
#define IMMICHFS_READCACHE_BLOCK_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace immichfs::cache {

struct BlockCacheOptions {
  std::string dir;                   // created if missing
  uint64_t capacity = 2ull << 30;    // bytes of block data kept at most
  uint64_t block_size = 1 << 20;
  uint64_t max_queued_bytes = 32ull << 20;  // PutAsync's backlog, at most
};

// Names the bytes of one asset version. Build with BlockCache::KeyFor().
struct BlockKey {
  std::string prefix;  // "<asset>.<checksum-hex>", safe as a file name part
};

class BlockCache {
 public:
  static absl::StatusOr<std::unique_ptr<BlockCache>> Open(BlockCacheOptions options);
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  static BlockKey KeyFor(absl::string_view asset_id, absl::string_view checksum);

  uint64_t block_size() const { return options_.block_size; }
  uint64_t capacity() const { return options_.capacity; }

  // Copies `size` bytes at `offset_in_block` of block `index` into `out`.
  // Returns the bytes copied: 0 on a miss, fewer than `size` when the stored
  // block is shorter (the asset's tail block). Never returns unverified data.
  size_t Read(const BlockKey& key, uint64_t index, uint64_t offset_in_block, size_t size,
              char* out);

  // Whether the block is present (it may still be evicted right after).
  bool Contains(const BlockKey& key, uint64_t index);

  // Stores a complete block (block_size bytes, or fewer for the tail block).
  // Storing a block that is already present only refreshes its LRU position.
  // A block larger than the capacity is not stored.
  absl::Status Put(const BlockKey& key, uint64_t index, absl::string_view data);

  // Like Put, but the write happens on the writer thread (see above); never
  // blocks on the disk. Returns false if the block was dropped (backlog full).
  bool PutAsync(const BlockKey& key, uint64_t index, std::shared_ptr<const std::string> data);
  // Waits until every block queued so far is written (or dropped on error).
  void Flush();

  uint64_t bytes_used();
  size_t block_count();

 private:
  struct Entry {
    uint64_t size = 0;
    uint64_t hash = 0;
    bool verified = false;
    std::list<std::string>::iterator lru;  // into lru_
  };

  explicit BlockCache(BlockCacheOptions options);
  absl::Status Load();
  absl::Status PutNamed(const std::string& name, absl::string_view data);
  void WriterLoop();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); }
  std::string PathOf(const std::string& name, uint64_t hash) const;
  // Drops least-recently-used blocks (index entry and file) until the total fits.
  void EvictLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveLocked(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BlockCacheOptions options_;

  absl::Mutex mu_;
  // Keyed by "<prefix>.<index>". Front of lru_ = most recently used.
  absl::flat_hash_map<std::string, Entry> index_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);
  uint64_t used_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_tmp_ ABSL_GUARDED_BY(mu_) = 0;

  // PutAsync's backlog: names in write order, and the blocks by name.
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<const std::string>> queued_
      ABSL_GUARDED_BY(mu_);
  uint64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int writing_ ABSL_GUARDED_BY(mu_) = 0;  // blocks taken off queue_, not yet written
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_ ABSL_GUARDED_BY(mu_);  // started by the first PutAsync, joined by ~BlockCache
};

}  // namespace immichfs::cache

#endif  // IMMICHFS_READCACHE_BLOCK_CACHE_H_
