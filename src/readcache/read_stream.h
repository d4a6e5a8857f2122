// One streaming download feeding one sequential reader.
//
// A RangeStream runs a single "Range: bytes=start-" request (or, when a
// cached block lies ahead, "bytes=start-end") on its own thread and keeps the
// bytes it receives in memory, one block per buffer, until the reader has
// gone past them. Backpressure: the download's sink blocks while the stream
// holds more than `window` bytes past the furthest offset a reader asked for,
// so memory stays bounded (a window ahead, at most a window behind, see
// below) and TCP flow control slows the server down. The window doubles each
// time the reader has consumed as much as the window, up to `max_window`.
//
// Complete blocks go to the block cache as they arrive (BlockCache::PutAsync:
// the disk write happens on the cache's writer thread, never on this one), so
// what a stream downloaded also serves later reads and other handles.
//
// What a stream keeps: the kernel sends its readahead reads in parallel (1
// MiB each, several at a time) and the daemon's threads take them in any
// order, so a read may come several MiB behind the furthest one asked. A
// block is dropped once readers took all its bytes; one with bytes nobody
// asked for yet stays until the furthest read is a window (at least a few
// blocks) past it; and a block a reader is waiting in is never dropped,
// however far the other reads have pushed the high-water mark meanwhile (the
// download thread may run on for several blocks before the woken reader gets
// the lock). Dropping blocks a few MiB behind the furthest read, as before,
// sent such readers to the cache or to a bounded fetch of their block: on a
// cold 200 MiB read from a real Immich 3.1, one extra 1 MiB request every
// few MiB.
//
// Read hands out views into the blocks (ReadResult spans, with the block's
// shared_ptr as holder) instead of copying. A block is allocated with exactly
// its final size reserved, so appending to it never moves its bytes, and the
// sink only ever appends past the bytes a reader was given.
//
// A transient failure is resumed from the last byte received (once per
// failure, a few times per stream); otherwise the stream fails and every
// reader waiting on it gets EIO. Bytes are handed out only after the server
// sent them for exactly that offset: never zeros, never guesses.
//
// If no reader moves for `idle_timeout` while the sink is blocked, the
// stream stops itself (releasing its connection); a later read then starts
// a new stream.
//
// Lifetime: the download thread holds a shared_ptr to the stream, so a
// handle can Cancel() and drop it without waiting for the network; the
// thread ends once the sink notices. ThreadTracker lets ReadPath's
// destructor wait for all such threads.
//
// Thread safety: all methods may be called concurrently; `mu_` guards the
// state. Lock order: ReadHandle's mutex -> RangeStream::mu_ -> (nothing).
// The cache is written without holding mu_.
#ifndef IMMICHFS_READCACHE_READ_STREAM_H_
#define IMMICHFS_READCACHE_READ_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "readcache/block_fetcher.h"
#include "readcache/read_path.h"

namespace immichfs::cache {

// Counts live download threads.
class ThreadTracker {
 public:
  void Add();
  void Done();
  void WaitIdle();

 private:
  absl::Mutex mu_;
  int live_ ABSL_GUARDED_BY(mu_) = 0;
};

struct StreamParams {
  immich::ImmichApi* api = nullptr;
  BlockCache* cache = nullptr;  // may be null
  // Whether every completed block goes to `cache`; if not, only the asset's
  // first and last block do (read_path.h, stream_cache_limit).
  bool cache_every_block = true;
  AssetRef asset;
  uint64_t start = 0;  // a multiple of block_size
  uint64_t end = 0;    // exclusive; asset.size means an open-ended request
  uint64_t block_size = 1 << 20;
  uint64_t window = 256 << 10;
  uint64_t max_window = 16ull << 20;
  absl::Duration idle_timeout = absl::Seconds(30);
};

class RangeStream {
 public:
  // Where an offset stands relative to the stream.
  enum class Place {
    kServe,   // held now or soon delivered: Read it from the stream
    kBehind,  // just behind what the stream still holds: fetch it, keep the stream
    kAway,    // elsewhere, or the stream is over
  };

  // Starts the download thread; an error if the thread cannot be created.
  static absl::StatusOr<std::shared_ptr<RangeStream>> Start(
      StreamParams params, std::shared_ptr<ThreadTracker> tracker);
  ~RangeStream();
  RangeStream(const RangeStream&) = delete;
  RangeStream& operator=(const RangeStream&) = delete;

  Place Locate(uint64_t offset);

  // Appends views of the bytes from `offset` (which Locate placed kServe) to
  // `out`, waiting for them to arrive: `size` bytes, or fewer where the stream's
  // range ends. kAborted: the stream cannot serve this (bytes already
  // dropped, stream cancelled or stopped), read them elsewhere. Any other
  // error: the download failed or stalled for `stall_timeout`.
  absl::StatusOr<size_t> Read(uint64_t offset, size_t size, ReadResult* out,
                              absl::Duration stall_timeout);

  // Stops the download soon; waiting readers get kAborted.
  void Cancel();
  uint64_t window();

 private:
  explicit RangeStream(StreamParams params);
  void Run();
  bool Sink(const char* data, size_t size);
  // Waits until the window has room; false if the stream must stop.
  bool WaitForRoom() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropConsumedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Over() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const StreamParams p_;

  absl::Mutex mu_;
  struct Block {
    std::shared_ptr<std::string> bytes;
    uint64_t served = 0;  // bytes handed to readers (a byte read twice counts twice)
  };
  // blocks_[i] holds bytes from base_ + i * block_size; all but the last are full.
  std::deque<Block> blocks_ ABSL_GUARDED_BY(mu_);
  uint64_t base_ ABSL_GUARDED_BY(mu_);
  uint64_t received_ ABSL_GUARDED_BY(mu_);  // offset just past the last byte received
  uint64_t hwm_ ABSL_GUARDED_BY(mu_);       // furthest end a reader asked for
  uint64_t window_ ABSL_GUARDED_BY(mu_);
  uint64_t consumed_ ABSL_GUARDED_BY(mu_) = 0;  // bytes handed to readers
  // Where the readers inside Read start: their blocks are kept until they
  // have taken their views.
  std::multiset<uint64_t> waiting_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);    // the download's failure, if any
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool idle_stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // the thread is done downloading
};

}  // namespace immichfs::cache

#endif  // IMMICHFS_READCACHE_READ_STREAM_H_
