#include "readcache/read_stream.h"

#include <algorithm>
#include <cerrno>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"

namespace immichfs::cache {
namespace {

// How far behind the furthest read a stream keeps a block nobody has read
// in full yet, for the kernel's out-of-order parallel reads: the window, and
// at least this many blocks.
constexpr uint64_t kKeepBehindBlocks = 2;
// Resumes of one stream after transient failures, in all.
constexpr int kMaxResumes = 3;

}  // namespace

void ThreadTracker::Add() {
  absl::MutexLock lock(&mu_);
  ++live_;
}

void ThreadTracker::Done() {
  absl::MutexLock lock(&mu_);
  --live_;
}

void ThreadTracker::WaitIdle() {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return live_ == 0; };
  mu_.Await(absl::Condition(&idle));
}

RangeStream::RangeStream(StreamParams params)
    : p_(std::move(params)),
      base_(p_.start),
      received_(p_.start),
      hwm_(p_.start),
      window_(std::max<uint64_t>(p_.window, 1)) {}

RangeStream::~RangeStream() = default;

absl::StatusOr<std::shared_ptr<RangeStream>> RangeStream::Start(
    StreamParams params, std::shared_ptr<ThreadTracker> tracker) {
  std::shared_ptr<RangeStream> stream(new RangeStream(std::move(params)));
  tracker->Add();
  try {
    std::thread([stream, tracker]() mutable {
      stream->Run();
      stream.reset();  // drop our reference before the tracker lets ReadPath go
      tracker->Done();
    }).detach();
  } catch (const std::system_error& e) {
    tracker->Done();
    return ErrnoError(EAGAIN, absl::StrCat("asset ", stream->p_.asset.id,
                                           ": cannot start a download thread: ", e.what()));
  }
  return stream;
}

void RangeStream::Run() {
  int failures = 0;  // in a row, without a byte in between
  int resumes = 0;
  while (true) {
    uint64_t from;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_ || idle_stopped_ || received_ >= p_.end) break;
      from = received_;
    }
    std::optional<uint64_t> length;
    if (p_.end < p_.asset.size) length = p_.end - from;
    absl::Status status =
        p_.api->Download(p_.asset.id, from, length, p_.asset.size,
                         [this](const char* data, size_t size) { return Sink(data, size); });
    absl::MutexLock lock(&mu_);
    if (cancelled_ || idle_stopped_ || !status_.ok()) break;
    if (status.ok() && received_ == p_.end) break;
    failures = received_ > from ? 1 : failures + 1;
    if (!IsTransient(status) || failures > 1 || ++resumes > kMaxResumes) {
      status_ = absl::UnavailableError(
          absl::StrCat("download of bytes ", from, "- stopped at ", received_, ": ",
                       status.ok() ? "short body" : status.ToString()));
      break;
    }
    LOG(kInfo, "asset %s: stream stopped at %d (%s); resuming", p_.asset.id, received_,
        status.ToString());
  }
  absl::MutexLock lock(&mu_);
  finished_ = true;
}

bool RangeStream::HasRoom() const { return cancelled_ || received_ < hwm_ + window_; }

bool RangeStream::Over() const {
  return cancelled_ || idle_stopped_ || finished_ || !status_.ok();
}

bool RangeStream::WaitForRoom() {
  while (!HasRoom()) {
    uint64_t hwm_before = hwm_;
    if (!mu_.AwaitWithTimeout(absl::Condition(this, &RangeStream::HasRoom), p_.idle_timeout) &&
        hwm_ == hwm_before) {
      idle_stopped_ = true;  // nobody is reading: give the connection back
      return false;
    }
  }
  return !cancelled_;
}

void RangeStream::DropConsumedLocked() {
  // A block a waiting reader starts in is kept (read_stream.h); one read in
  // full goes at once; one with bytes nobody asked for yet stays while it is
  // within the window behind the furthest read (or kKeepBehindBlocks).
  const uint64_t keep_from = waiting_.empty() ? UINT64_MAX : *waiting_.begin();
  const uint64_t keep_behind = std::max(kKeepBehindBlocks * p_.block_size, window_);
  while (!blocks_.empty()) {
    const Block& front = blocks_.front();
    // All but the last block are full; the last may be full too.
    if (blocks_.size() == 1 && front.bytes->size() < p_.block_size) break;
    if (base_ + p_.block_size > keep_from) break;
    if (front.served < front.bytes->size() && base_ + p_.block_size + keep_behind > hwm_) break;
    blocks_.pop_front();
    base_ += p_.block_size;
  }
}

bool RangeStream::Sink(const char* data, size_t size) {
  std::vector<std::pair<uint64_t, std::shared_ptr<std::string>>> complete;
  bool keep_going = true;
  {
    absl::MutexLock lock(&mu_);
    while (size > 0) {
      if (!WaitForRoom()) {
        keep_going = false;
        break;
      }
      if (received_ + size > p_.end) {
        status_ = absl::DataLossError(
            absl::StrCat("server sent more than bytes ", p_.start, "-", p_.end - 1));
        keep_going = false;
        break;
      }
      if (blocks_.empty() || blocks_.back().bytes->size() == p_.block_size) {
        auto block = std::make_shared<std::string>();
        block->reserve(std::min<uint64_t>(p_.block_size, p_.end - received_));
        blocks_.push_back(Block{std::move(block)});
      }
      std::string& last = *blocks_.back().bytes;
      size_t take = std::min<uint64_t>(size, p_.block_size - last.size());
      last.append(data, take);
      received_ += take;
      data += take;
      size -= take;
      if (last.size() == p_.block_size || received_ == p_.end) {
        complete.emplace_back((received_ - 1) / p_.block_size, blocks_.back().bytes);
      }
      DropConsumedLocked();
    }
  }
  // Full blocks are never modified again: safe to share without mu_. The
  // write happens on the cache's writer thread; dropped if it is behind.
  if (p_.cache != nullptr) {
    const uint64_t last = (p_.asset.size - 1) / p_.block_size;
    for (auto& [index, block] : complete) {
      if (p_.cache_every_block || index == 0 || index == last) {
        p_.cache->PutAsync(p_.asset.cache_key, index, block);
      }
    }
  }
  return keep_going;
}

RangeStream::Place RangeStream::Locate(uint64_t offset) {
  absl::MutexLock lock(&mu_);
  if (cancelled_ || !status_.ok()) return Place::kAway;
  if (offset >= base_ && offset < received_) return Place::kServe;
  bool running = !finished_ && !idle_stopped_;
  // One block of slack past the window for reads the kernel sends early.
  if (running && offset >= received_ && offset < p_.end &&
      offset < std::max(hwm_, received_) + window_ + p_.block_size) {
    return Place::kServe;
  }
  if (offset < base_ && offset + window_ + p_.block_size >= base_) return Place::kBehind;
  return Place::kAway;
}

absl::StatusOr<size_t> RangeStream::Read(uint64_t offset, size_t size, ReadResult* out,
                                         absl::Duration stall_timeout) {
  absl::MutexLock lock(&mu_);
  if (offset >= p_.end || offset < base_) return absl::AbortedError("not in this stream");
  const uint64_t want_end = std::min<uint64_t>(offset + size, p_.end);
  hwm_ = std::max(hwm_, want_end);  // lets the download run far enough to cover us
  // Our bytes stay until we have taken their views, below; blocks we read
  // in full may go then.
  auto pin = waiting_.insert(offset);
  absl::Cleanup unpin = [this, pin]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    waiting_.erase(pin);
    DropConsumedLocked();
  };
  auto ready = [this, want_end]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return received_ >= want_end || Over();
  };
  while (!ready()) {
    uint64_t before = received_;
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), stall_timeout) && received_ == before) {
      status_ = absl::DeadlineExceededError(absl::StrCat(
          "no data for ", absl::FormatDuration(stall_timeout), " at offset ", received_));
      cancelled_ = true;  // the sink returns false on its next call
      break;
    }
  }
  if (received_ < want_end) {
    if (!status_.ok()) return status_;
    return absl::AbortedError("stream stopped");
  }
  if (offset < base_) return absl::AbortedError("bytes already dropped");
  for (uint64_t at = offset; at < want_end;) {
    Block& block = blocks_[(at - base_) / p_.block_size];
    uint64_t in_block = (at - base_) % p_.block_size;
    uint64_t take = std::min<uint64_t>(want_end - at, block.bytes->size() - in_block);
    // data() stays put: the block's capacity was reserved up front.
    out->Add(block.bytes->data() + in_block, take);
    out->holders.push_back(block.bytes);
    block.served += take;
    at += take;
  }
  consumed_ += want_end - offset;
  while (consumed_ >= window_ && window_ < p_.max_window) {
    window_ = std::min(window_ * 2, p_.max_window);
  }
  return static_cast<size_t>(want_end - offset);
}

void RangeStream::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
}

uint64_t RangeStream::window() {
  absl::MutexLock lock(&mu_);
  return window_;
}

}  // namespace immichfs::cache
