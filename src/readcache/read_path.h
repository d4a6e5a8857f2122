// The read path: how a FUSE read of an asset becomes bytes.
//
// `open` fetches nothing. A ReadHandle serves reads from, in order:
//   1. the on-disk block cache (block_cache.h), keyed by asset id + checksum,
//      so a changed asset never serves stale bytes;
//   2. the handle's streaming download: a sequential reader is fed by ONE
//      open-ended "Range: bytes=N-" request that keeps running ahead of the
//      reader by a read-ahead window (starting small, doubling while the
//      reader stays sequential, capped at `max_readahead`); a seek outside
//      the window cancels the stream and the window starts small again;
//   3. for a random reader, a bounded Range request for just what it asked.
// Real Immich costs ~3 ms per request, so one request per FUSE read would
// cap throughput far below what a single streaming GET gets.
//
// Every byte handed out is a byte the server sent for this asset at this
// offset: a short or failed transfer is EIO (after one resume attempt),
// never wrong or zero-filled data. Reads at or past `size` return 0 bytes
// without asking the server (real Immich answers such a Range with 404).
//
// Who does what: ReadHandle (read_path.cc) decides, per read, between the
// cache, its RangeStream (read_stream.h, one download thread per sequential
// run) and BlockFetcher (block_fetcher.h, bounded block-aligned requests,
// one download per block at a time across all handles).
//
// Sequential vs seek: the kernel sends reads of one file in parallel and
// slightly out of order. A read the stream holds or will reach within its
// window (plus one block) is served by it; one a little behind it is fetched
// without disturbing it; a read within one block of where the previous read
// ended (or at 0 on a new handle) starts a stream there, keeping the window
// if a stream was already running; anything else is a seek: the stream is
// cancelled, the window falls back to `min_readahead` and the read is fetched.
//
// Thread safety: ReadPath is shared by all handles. One ReadHandle may get
// concurrent Read calls (the kernel issues parallel reads on one file).
// Lock order: ReadHandle's mu_ -> RangeStream::mu_; BlockFetcher::mu_ ->
// BlockCache::mu_. Every handle must be destroyed before the ReadPath, whose
// destructor waits for the stream threads the handles cancelled.
#ifndef IMMICHFS_READCACHE_READ_PATH_H_
#define IMMICHFS_READCACHE_READ_PATH_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "immich/api.h"

namespace immichfs::cache {

class BlockCache;
class BlockFetcher;
class ThreadTracker;

// What identifies the bytes of an asset: a new checksum means new bytes.
struct AssetKey {
  std::string asset_id;
  std::string checksum;   // base64 SHA-1 as Immich reports it
  uint64_t size = 0;      // exact size of the original
};

struct ReadPathOptions {
  uint64_t min_readahead = 256 << 10;        // first window of a sequential reader
  // The window doubles up to this. 16 MiB is ~40 ms at a real Immich's
  // ~390 MB/s: enough to ride out a stall. Bigger only touched more memory:
  // on the bench's 1 GiB read, 64 MiB cost 25% more daemon CPU (page faults,
  // cache misses) for a slower read.
  uint64_t max_readahead = 16ull << 20;
  absl::Duration stall_timeout = absl::Seconds(60);  // no byte for this long -> EIO
  // A stream nobody reads for this long stops and frees its connection.
  absl::Duration idle_timeout = absl::Seconds(30);
  uint64_t block_size = 1 << 20;  // fetch granularity when there is no cache
  // A sequential stream of an asset larger than this writes only the asset's
  // first and last block to the disk cache (0: a 32nd of the cache, 64 MiB
  // of the default 2 GiB: photos, RAW files and short clips are cached
  // whole, a video read end to end is not). One pass over a big video would
  // otherwise evict hundreds of photos, and writing the blocks (copy into the
  // cache file, xxHash) is CPU the read pays for: ~45% of the daemon's CPU
  // on a cold 200 MiB read from a real Immich 3.1 on the same 2 cores,
  // which made that read ~20% slower (it was an eighth of the cache
  // before, so that file was cached). Blocks fetched for random reads are
  // always cached; the kernel's page cache still keeps what was streamed.
  uint64_t stream_cache_limit = 0;
};

// The bytes of one read, handed out without copying where they already sit in
// memory: a stream's blocks are pointed at (and kept alive by `holders`), other
// bytes (cache file, bounded fetch) are copied into the caller's `scratch`.
// fuse_ll replies with the spans as an iovec (fuse_reply_iov), so a streamed
// byte is copied once by curl into its block and once by the kernel into the
// page cache -- the per-read copy into a reply buffer (~6% of the daemon's CPU
// on a sequential read) is gone. Plain types: fs/ and readcache/ know no libfuse.
struct ReadResult {
  struct Span {
    const char* data;
    size_t size;
  };
  char* scratch = nullptr;  // set by the caller: room for the read's `size` bytes
  std::vector<Span> spans;  // in file order; their sizes add up to size()
  std::vector<std::shared_ptr<const void>> holders;  // keep spans' buffers alive

  size_t size() const;
  // Appends a span, merging it with the previous one when contiguous.
  void Add(const char* data, size_t size);
  // Copies the spans into `out` (unless they already are there).
  void CopyTo(char* out) const;
};

class ReadHandle {
 public:
  virtual ~ReadHandle() = default;
  // Appends up to `size` bytes at `offset` to `out` (whose scratch must hold
  // `size` bytes); short only at end of file.
  virtual absl::Status ReadView(uint64_t offset, size_t size, ReadResult* out) = 0;
  // Fills buf with up to `size` bytes at `offset`; short only at end of file.
  absl::StatusOr<size_t> Read(uint64_t offset, size_t size, char* buf);
  // The current read-ahead window in bytes (for tests and debugging).
  virtual uint64_t ReadaheadWindow() { return 0; }
};

class ReadPath {
 public:
  // `cache` may be null (no disk cache); if not, its block size is used.
  // Both must outlive the ReadPath.
  ReadPath(immich::ImmichApi* api, BlockCache* cache, ReadPathOptions options);
  ~ReadPath();
  ReadPath(const ReadPath&) = delete;
  ReadPath& operator=(const ReadPath&) = delete;

  std::unique_ptr<ReadHandle> Open(const AssetKey& key);

 private:
  class Handle;

  immich::ImmichApi* const api_;
  BlockCache* const cache_;
  const ReadPathOptions options_;
  const uint64_t block_size_;
  const uint64_t stream_cache_limit_;  // see ReadPathOptions
  std::unique_ptr<BlockFetcher> fetcher_;
  std::shared_ptr<ThreadTracker> threads_;
};

}  // namespace immichfs::cache

#endif  // IMMICHFS_READCACHE_READ_PATH_H_
