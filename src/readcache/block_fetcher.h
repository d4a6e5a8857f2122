// Bounded Range downloads of whole blocks, for readers that are not (yet)
// sequential, with at most one download of a block in flight at a time.
//
// A read that misses the cache and is not served by a handle's stream comes
// here. Its range is rounded out to blocks (block_cache.h's block size) so
// that what is downloaded can be cached; contiguous missing blocks go out as
// one "Range: bytes=a-b" request. A block another thread is already
// downloading is waited for and shared, not downloaded again: the in-flight
// entry is removed only after the block is in the cache, so a concurrent
// reader either joins the download or finds the block cached.
//
// Also home to IsTransient(), the one rule for which download failures are
// worth one resume (shared with read_stream.cc).
//
// Thread safety: Fetch may be called concurrently. Lock order:
// BlockFetcher::mu_ -> BlockCache::mu_ (Contains is called under mu_);
// Pending::mu is a leaf.
#ifndef IMMICHFS_READCACHE_BLOCK_FETCHER_H_
#define IMMICHFS_READCACHE_BLOCK_FETCHER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "immich/api.h"
#include "readcache/block_cache.h"

namespace immichfs::cache {

// One version of one asset, as the read path needs it.
struct AssetRef {
  std::string id;
  uint64_t size = 0;
  BlockKey cache_key;  // encodes id and checksum; also keys in-flight downloads
};

// Whether a failed or short download may be resumed (5xx, connection loss,
// timeouts, short body). Not: not found, permission, a changed asset.
bool IsTransient(const absl::Status& status);

// Downloads [offset, offset+length) of `asset` into `out` with bounded Range
// requests: one, plus one resume from where it stopped if the failure is
// transient. Anything short or more than asked is EIO naming asset and range.
absl::Status DownloadRange(immich::ImmichApi* api, const AssetRef& asset, uint64_t offset,
                           uint64_t length, std::string* out);

class BlockFetcher {
 public:
  // `cache` may be null. Both must outlive the fetcher.
  BlockFetcher(immich::ImmichApi* api, BlockCache* cache, uint64_t block_size);

  // Fills `buf` with [offset, offset+size), which must lie within the asset.
  // EIO (naming the asset and range) if a download fails; never partial data.
  absl::Status Fetch(const AssetRef& asset, uint64_t offset, size_t size, char* buf);

 private:
  struct Pending;
  struct Slot;

  // Downloads slots[0, count) (consecutive blocks this thread claimed) with
  // one request, caches them and completes their Pending entries, success or not.
  void DownloadRun(const AssetRef& asset, Slot* slots, size_t count);

  immich::ImmichApi* const api_;
  BlockCache* const cache_;
  const uint64_t block_size_;

  absl::Mutex mu_;
  // "<cache_key.prefix>.<block index>" -> the download in progress.
  absl::flat_hash_map<std::string, std::shared_ptr<Pending>> inflight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace immichfs::cache

#endif  // IMMICHFS_READCACHE_BLOCK_FETCHER_H_
