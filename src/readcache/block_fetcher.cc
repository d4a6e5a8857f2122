#include "readcache/block_fetcher.h"

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"

namespace immichfs::cache {

bool IsTransient(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:  // a body shorter than asked
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      return true;
    default:
      return false;
  }
}

absl::Status DownloadRange(immich::ImmichApi* api, const AssetRef& asset, uint64_t offset,
                           uint64_t length, std::string* out) {
  out->clear();
  out->reserve(length);
  bool overflow = false;
  absl::Status status;
  for (int attempt = 0; attempt < 2; ++attempt) {
    uint64_t from = offset + out->size();
    status = api->Download(asset.id, from, length - out->size(), asset.size,
                           [&](const char* data, size_t size) {
                             if (out->size() + size > length) {
                               overflow = true;
                               return false;
                             }
                             out->append(data, size);
                             return true;
                           });
    if (overflow) {
      return ErrnoError(EIO, absl::StrCat("asset ", asset.id, ": server sent more than bytes ",
                                          offset, "-", offset + length - 1));
    }
    if (status.ok() && out->size() == length) return absl::OkStatus();
    if (!IsTransient(status) || attempt == 1) break;
    LOG(kInfo, "asset %s: download of bytes %d-%d stopped at %d (%s); resuming", asset.id,
        offset, offset + length - 1, offset + out->size(), status.ToString());
  }
  return ErrnoError(EIO, absl::StrCat("asset ", asset.id, ": download of bytes ", offset, "-",
                                      offset + length - 1, " got ", out->size(), " bytes: ",
                                      status.ok() ? "short body" : status.ToString()));
}

struct BlockFetcher::Pending {
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::Status status ABSL_GUARDED_BY(mu);
  std::shared_ptr<const std::string> data ABSL_GUARDED_BY(mu);

  void Complete(absl::Status s, std::shared_ptr<const std::string> d) {
    absl::MutexLock lock(&mu);
    status = std::move(s);
    data = std::move(d);
    done = true;
  }
};

struct BlockFetcher::Slot {
  uint64_t index = 0;
  std::shared_ptr<Pending> pending;  // null: was in the cache when claimed
  bool mine = false;                 // this thread downloads it
};

BlockFetcher::BlockFetcher(immich::ImmichApi* api, BlockCache* cache, uint64_t block_size)
    : api_(api), cache_(cache), block_size_(block_size) {}

void BlockFetcher::DownloadRun(const AssetRef& asset, Slot* slots, size_t count) {
  uint64_t from = slots[0].index * block_size_;
  uint64_t to = std::min(asset.size, (slots[count - 1].index + 1) * block_size_);
  std::string body;
  absl::Status status = DownloadRange(api_, asset, from, to - from, &body);
  for (size_t i = 0; i < count; ++i) {
    std::shared_ptr<const std::string> block;
    if (status.ok()) {
      uint64_t at = slots[i].index * block_size_ - from;
      block = std::make_shared<const std::string>(
          body.substr(at, std::min<uint64_t>(block_size_, body.size() - at)));
      // Queued for the writer thread; a queued block counts as cached, so a
      // reader arriving after the erase below still finds it.
      if (cache_ != nullptr) cache_->PutAsync(asset.cache_key, slots[i].index, block);
    }
    slots[i].pending->Complete(status, std::move(block));
    absl::MutexLock lock(&mu_);
    inflight_.erase(absl::StrCat(asset.cache_key.prefix, ".", slots[i].index));
  }
}

absl::Status BlockFetcher::Fetch(const AssetRef& asset, uint64_t offset, size_t size,
                                 char* buf) {
  if (size == 0) return absl::OkStatus();
  const uint64_t first = offset / block_size_;
  const uint64_t last = (offset + size - 1) / block_size_;
  std::vector<Slot> slots;
  {
    absl::MutexLock lock(&mu_);
    for (uint64_t index = first; index <= last; ++index) {
      std::string name = absl::StrCat(asset.cache_key.prefix, ".", index);
      auto it = inflight_.find(name);
      if (it != inflight_.end()) {
        slots.push_back(Slot{index, it->second, false});
      } else if (cache_ != nullptr && cache_->Contains(asset.cache_key, index)) {
        slots.push_back(Slot{index, nullptr, false});
      } else {
        auto pending = std::make_shared<Pending>();
        inflight_.emplace(std::move(name), pending);
        slots.push_back(Slot{index, std::move(pending), true});
      }
    }
  }
  // One request per run of consecutive blocks this thread claimed.
  for (size_t i = 0; i < slots.size();) {
    if (!slots[i].mine) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < slots.size() && slots[j].mine) ++j;
    DownloadRun(asset, &slots[i], j - i);
    i = j;
  }
  absl::Status result;
  for (const Slot& slot : slots) {
    uint64_t block_start = slot.index * block_size_;
    uint64_t lo = std::max(offset, block_start);
    uint64_t hi = std::min(offset + size, block_start + block_size_);
    char* out = buf + (lo - offset);
    if (slot.pending == nullptr) {
      if (cache_->Read(asset.cache_key, slot.index, lo - block_start, hi - lo, out) == hi - lo) {
        continue;
      }
      // Evicted since we looked: fetch just this block, unshared.
      std::string block;
      uint64_t end = std::min(asset.size, block_start + block_size_);
      absl::Status status = DownloadRange(api_, asset, block_start, end - block_start, &block);
      if (!status.ok()) return status;
      std::copy_n(block.data() + (lo - block_start), hi - lo, out);
      continue;
    }
    absl::MutexLock lock(&slot.pending->mu);
    slot.pending->mu.Await(absl::Condition(&slot.pending->done));
    if (!slot.pending->status.ok()) {
      if (result.ok()) result = slot.pending->status;
      continue;
    }
    const std::string& data = *slot.pending->data;
    if (data.size() < hi - block_start) {
      return ErrnoError(EIO, absl::StrCat("asset ", asset.id, ": block ", slot.index,
                                          " is short (", data.size(), " bytes)"));
    }
    std::copy_n(data.data() + (lo - block_start), hi - lo, out);
  }
  return result;
}

}  // namespace immichfs::cache
