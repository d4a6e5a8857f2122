#include "readcache/read_path.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/status.h"
#include "readcache/block_cache.h"
#include "readcache/block_fetcher.h"
#include "readcache/read_stream.h"

namespace immichfs::cache {
namespace {

// How far ahead of a stream's start we look for a cached block to stop at.
constexpr uint64_t kScanAheadBlocks = 1024;

}  // namespace

class ReadPath::Handle final : public ReadHandle {
 public:
  Handle(ReadPath* path, const AssetKey& key)
      : path_(path),
        asset_{key.asset_id, key.size, BlockCache::KeyFor(key.asset_id, key.checksum)},
        window_(path->options_.min_readahead) {}

  ~Handle() override {
    absl::MutexLock lock(&mu_);
    if (stream_) stream_->Cancel();  // its thread ends on its own
  }

  absl::Status ReadView(uint64_t offset, size_t size, ReadResult* out) override;

  uint64_t ReadaheadWindow() override {
    absl::MutexLock lock(&mu_);
    return stream_ ? stream_->window() : window_;
  }

 private:
  // Serves at least one byte of [offset, offset+size), which starts with a
  // block the cache does not hold; `scratch` has room for `size` bytes.
  absl::StatusOr<size_t> ReadMiss(uint64_t offset, size_t size, char* scratch,
                                  ReadResult* out);
  bool StreamServes(uint64_t offset) {
    absl::MutexLock lock(&mu_);
    return stream_ && stream_->Locate(offset) == RangeStream::Place::kServe;
  }
  // The stream that should serve `offset`, or null to fetch it; *exact: fetch
  // just the bytes asked (the first read of a fresh handle).
  std::shared_ptr<RangeStream> Route(uint64_t offset, bool* exact);
  std::shared_ptr<RangeStream> StartStreamLocked(uint64_t offset, uint64_t window)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Eio(uint64_t offset, size_t size, const absl::Status& cause) const {
    return ErrnoError(EIO, absl::StrCat("asset ", asset_.id, ": read of ", size,
                                        " bytes at offset ", offset, ": ", cause.message()));
  }

  ReadPath* const path_;
  const AssetRef asset_;

  absl::Mutex mu_;
  std::shared_ptr<RangeStream> stream_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;  // where the latest read ended
  uint64_t window_ ABSL_GUARDED_BY(mu_);    // for the next stream
  bool fresh_ ABSL_GUARDED_BY(mu_) = true;  // no read has missed the cache yet
};

size_t ReadResult::size() const {
  size_t total = 0;
  for (const Span& span : spans) total += span.size;
  return total;
}

void ReadResult::Add(const char* data, size_t size) {
  if (size == 0) return;
  if (!spans.empty() && spans.back().data + spans.back().size == data) {
    spans.back().size += size;
    return;
  }
  spans.push_back(Span{data, size});
}

void ReadResult::CopyTo(char* out) const {
  for (const Span& span : spans) {
    if (span.data != out) std::memcpy(out, span.data, span.size);
    out += span.size;
  }
}

absl::StatusOr<size_t> ReadHandle::Read(uint64_t offset, size_t size, char* buf) {
  ReadResult result;
  result.scratch = buf;
  if (absl::Status status = ReadView(offset, size, &result); !status.ok()) return status;
  result.CopyTo(buf);
  return result.size();
}

absl::Status ReadPath::Handle::ReadView(uint64_t offset, size_t size, ReadResult* out) {
  if (offset >= asset_.size || size == 0) return absl::OkStatus();  // never ask past EOF
  size = static_cast<size_t>(std::min<uint64_t>(size, asset_.size - offset));
  BlockCache* cache = path_->cache_;
  const uint64_t bs = path_->block_size_;
  size_t done = 0;
  while (done < size) {
    uint64_t at = offset + done;
    size_t want = static_cast<size_t>(std::min<uint64_t>(size - done, bs - at % bs));
    char* scratch = out->scratch + done;
    // A running stream that holds (or is about to receive) the bytes serves
    // them even if its completed blocks are in the cache by now: no copy,
    // and its window keeps moving with the reader.
    if (cache != nullptr && !StreamServes(at) &&
        cache->Read(asset_.cache_key, at / bs, at % bs, want, scratch) == want) {
      out->Add(scratch, want);
      done += want;
      continue;
    }
    absl::StatusOr<size_t> got = ReadMiss(at, size - done, scratch, out);
    if (!got.ok()) return got.status();
    done += *got;
  }
  absl::MutexLock lock(&mu_);
  next_ = offset + done;
  return absl::OkStatus();
}

absl::StatusOr<size_t> ReadPath::Handle::ReadMiss(uint64_t offset, size_t size, char* scratch,
                                                  ReadResult* out) {
  bool exact = false;
  if (std::shared_ptr<RangeStream> stream = Route(offset, &exact)) {
    absl::StatusOr<size_t> got =
        stream->Read(offset, size, out, path_->options_.stall_timeout);
    if (got.ok()) return got;
    if (got.status().code() != absl::StatusCode::kAborted) {
      absl::MutexLock lock(&mu_);
      if (stream_ == stream) stream_.reset();  // the next read starts afresh
      return Eio(offset, size, got.status());
    }
    // The stream cannot serve it after all (cancelled, stopped): fetch.
  }
  if (exact) {
    // Time to first byte: just the bytes asked, one request, nothing cached.
    std::string bytes;
    absl::Status status = DownloadRange(path_->api_, asset_, offset, size, &bytes);
    if (!status.ok()) return Eio(offset, size, status);
    std::memcpy(scratch, bytes.data(), size);
    out->Add(scratch, size);
    return size;
  }
  absl::Status status = path_->fetcher_->Fetch(asset_, offset, size, scratch);
  if (!status.ok()) return Eio(offset, size, status);
  out->Add(scratch, size);
  return size;
}

std::shared_ptr<RangeStream> ReadPath::Handle::Route(uint64_t offset, bool* exact) {
  const uint64_t bs = path_->block_size_;
  absl::MutexLock lock(&mu_);
  if (fresh_) {
    // The first miss of a handle: fetch exactly what was asked rather than a
    // block (a 1 MiB block costs a 128 KiB reader ~8x the transfer) or a
    // stream (whose connection a close right after would throw away). If the
    // reader goes on sequentially, its next read starts the stream.
    fresh_ = false;
    if (!stream_) {
      *exact = true;
      return nullptr;
    }
  }
  RangeStream::Place place = stream_ ? stream_->Locate(offset) : RangeStream::Place::kAway;
  if (place == RangeStream::Place::kServe) return stream_;
  if (place == RangeStream::Place::kBehind) return nullptr;
  if (offset + bs >= next_ && offset <= next_ + bs) {  // sequential: (re)start a stream here
    uint64_t window = window_;
    if (stream_) {
      window = std::max(window, stream_->window());
      stream_->Cancel();
      stream_.reset();
    }
    return StartStreamLocked(offset, window);
  }
  // A seek.
  if (stream_) {
    stream_->Cancel();
    stream_.reset();
  }
  window_ = path_->options_.min_readahead;
  return nullptr;
}

std::shared_ptr<RangeStream> ReadPath::Handle::StartStreamLocked(uint64_t offset,
                                                                 uint64_t window) {
  const uint64_t bs = path_->block_size_;
  StreamParams params;
  params.api = path_->api_;
  params.cache = path_->cache_;
  params.cache_every_block = asset_.size <= path_->stream_cache_limit_;
  params.asset = asset_;
  params.start = offset / bs * bs;
  params.end = asset_.size;
  // Stop at the next cached block: from there the cache serves the reader.
  if (path_->cache_ != nullptr) {
    uint64_t first = params.start / bs + 1;
    uint64_t limit = std::min((asset_.size + bs - 1) / bs, first + kScanAheadBlocks);
    for (uint64_t index = first; index < limit; ++index) {
      if (path_->cache_->Contains(asset_.cache_key, index)) {
        params.end = index * bs;
        break;
      }
    }
  }
  params.block_size = bs;
  params.window = window;
  params.max_window = path_->options_.max_readahead;
  params.idle_timeout = path_->options_.idle_timeout;
  absl::StatusOr<std::shared_ptr<RangeStream>> stream =
      RangeStream::Start(std::move(params), path_->threads_);
  if (!stream.ok()) {
    LOG(kWarning, "%s; fetching instead", stream.status().message());
    return nullptr;
  }
  window_ = window;
  stream_ = *std::move(stream);
  return stream_;
}

ReadPath::ReadPath(immich::ImmichApi* api, BlockCache* cache, ReadPathOptions options)
    : api_(api),
      cache_(cache),
      options_(options),
      block_size_(cache != nullptr ? cache->block_size() : std::max<uint64_t>(options.block_size, 1)),
      stream_cache_limit_(options.stream_cache_limit != 0 || cache == nullptr
                              ? options.stream_cache_limit
                              : cache->capacity() / 32),
      fetcher_(std::make_unique<BlockFetcher>(api, cache, block_size_)),
      threads_(std::make_shared<ThreadTracker>()) {}

ReadPath::~ReadPath() { threads_->WaitIdle(); }

std::unique_ptr<ReadHandle> ReadPath::Open(const AssetKey& key) {
  return std::make_unique<Handle>(this, key);  // downloads nothing
}

}  // namespace immichfs::cache
