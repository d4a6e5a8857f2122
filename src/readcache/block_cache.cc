#include "readcache/block_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace immichfs::cache {
namespace {

bool IsSafeChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_';
}

// "~" + hex: cannot collide with a raw safe name, which never holds '~'.
std::string Escaped(absl::string_view text) {
  return absl::StrCat("~", ToHex(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

bool ParseU64(absl::string_view text, int base, uint64_t* out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out, base);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// Splits "<prefix>.<index>.<hash>" into the index key "<prefix>.<index>" and hash.
bool ParseName(absl::string_view name, std::string* key, uint64_t* hash) {
  size_t hash_dot = name.rfind('.');
  if (hash_dot == absl::string_view::npos || hash_dot == 0) return false;
  size_t index_dot = name.rfind('.', hash_dot - 1);
  if (index_dot == absl::string_view::npos || index_dot == 0) return false;
  uint64_t index;
  if (!ParseU64(name.substr(index_dot + 1, hash_dot - index_dot - 1), 10, &index)) return false;
  absl::string_view hash_hex = name.substr(hash_dot + 1);
  if (hash_hex.size() != 16 || !ParseU64(hash_hex, 16, hash)) return false;
  if (name.substr(0, index_dot).find('.') == absl::string_view::npos) return false;
  *key = std::string(name.substr(0, hash_dot));
  return true;
}

bool ReadAll(int fd, uint64_t offset, size_t size, char* out) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

BlockCache::BlockCache(BlockCacheOptions options) : options_(std::move(options)) {}

BlockCache::~BlockCache() {
  std::thread writer;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;  // PutAsync starts no writer from now on
    writer = std::move(writer_);
  }
  if (writer.joinable()) writer.join();
}

absl::StatusOr<std::unique_ptr<BlockCache>> BlockCache::Open(BlockCacheOptions options) {
  if (options.block_size == 0) return absl::InvalidArgumentError("block cache: block_size is 0");
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoFromSyscall(errno, absl::StrCat("mkdir ", options.dir));
  }
  std::unique_ptr<BlockCache> cache(new BlockCache(std::move(options)));
  absl::Status status = cache->Load();
  if (!status.ok()) return status;
  return cache;  // the writer thread starts with the first PutAsync
}

BlockKey BlockCache::KeyFor(absl::string_view asset_id, absl::string_view checksum) {
  bool safe = !asset_id.empty() && std::all_of(asset_id.begin(), asset_id.end(), IsSafeChar);
  std::optional<Sha1Digest> digest = ParseSha1(checksum);
  return BlockKey{absl::StrCat(safe ? std::string(asset_id) : Escaped(asset_id), ".",
                               digest ? ToHex(*digest) : Escaped(checksum))};
}

std::string BlockCache::PathOf(const std::string& name, uint64_t hash) const {
  return absl::StrFormat("%s/%s.%016x", options_.dir, name, hash);
}

absl::Status BlockCache::Load() {
  DIR* dir = ::opendir(options_.dir.c_str());
  if (dir == nullptr) return ErrnoFromSyscall(errno, absl::StrCat("opendir ", options_.dir));
  struct Found {
    std::string key;
    uint64_t hash, size;
    int64_t mtime_ns;
  };
  std::vector<Found> found;
  while (struct dirent* ent = ::readdir(dir)) {
    absl::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    std::string path = absl::StrCat(options_.dir, "/", name);
    Found f;
    struct stat st;
    if (!ParseName(name, &f.key, &f.hash) || ::stat(path.c_str(), &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        static_cast<uint64_t>(st.st_size) > options_.block_size) {
      ::unlink(path.c_str());  // temp file of a crashed run, or junk
      continue;
    }
    f.size = static_cast<uint64_t>(st.st_size);
    f.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    found.push_back(std::move(f));
  }
  ::closedir(dir);
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.mtime_ns < b.mtime_ns; });
  absl::MutexLock lock(&mu_);
  for (Found& f : found) {  // oldest first, so the newest ends at the front
    auto [it, inserted] = index_.try_emplace(f.key);
    if (!inserted) {  // same block under two hashes: keep neither
      ::unlink(PathOf(f.key, f.hash).c_str());
      continue;
    }
    lru_.push_front(f.key);
    it->second = Entry{f.size, f.hash, /*verified=*/false, lru_.begin()};
    used_ += f.size;
  }
  EvictLocked();
  LOG(kInfo, "read cache %s: %d blocks, %d bytes", options_.dir, index_.size(), used_);
  return absl::OkStatus();
}

size_t BlockCache::Read(const BlockKey& key, uint64_t index, uint64_t offset_in_block,
                        size_t size, char* out) {
  std::string name = absl::StrCat(key.prefix, ".", index);
  Entry entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(name);
    if (it == index_.end()) {
      auto q = queued_.find(name);
      if (q == queued_.end()) return 0;
      const std::string& block = *q->second;  // immutable; the writer only reads it
      if (offset_in_block >= block.size()) return 0;
      size = static_cast<size_t>(std::min<uint64_t>(size, block.size() - offset_in_block));
      std::copy_n(block.data() + offset_in_block, size, out);
      return size;
    }
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    entry = it->second;
  }
  if (offset_in_block >= entry.size || size == 0) return 0;
  size = static_cast<size_t>(std::min<uint64_t>(size, entry.size - offset_in_block));
  // An unlink by eviction after this open leaves our fd reading the old,
  // complete inode; before it, open fails and this is a miss.
  UniqueFd fd(::open(PathOf(name, entry.hash).c_str(), O_RDONLY | O_CLOEXEC));
  bool ok = fd.valid();
  if (ok && entry.verified) {
    ok = ReadAll(fd.get(), offset_in_block, size, out);
  } else if (ok) {
    std::string whole(entry.size, '\0');
    struct stat st;
    ok = ::fstat(fd.get(), &st) == 0 && static_cast<uint64_t>(st.st_size) == entry.size &&
         ReadAll(fd.get(), 0, whole.size(), whole.data()) &&
         Xxh64(whole.data(), whole.size()) == entry.hash;
    if (ok) {
      std::copy_n(whole.data() + offset_in_block, size, out);
      absl::MutexLock lock(&mu_);
      auto it = index_.find(name);
      if (it != index_.end() && it->second.hash == entry.hash) it->second.verified = true;
    } else {
      LOG(kWarning, "read cache: dropping damaged block %s", PathOf(name, entry.hash));
    }
  }
  if (!ok) {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(name);
    if (it != index_.end() && it->second.hash == entry.hash) RemoveLocked(name);
    return 0;
  }
  return size;
}

bool BlockCache::Contains(const BlockKey& key, uint64_t index) {
  std::string name = absl::StrCat(key.prefix, ".", index);
  absl::MutexLock lock(&mu_);
  return index_.contains(name) || queued_.contains(name);
}

bool BlockCache::PutAsync(const BlockKey& key, uint64_t index,
                          std::shared_ptr<const std::string> data) {
  if (data == nullptr || data->empty() || data->size() > options_.block_size ||
      data->size() > options_.capacity) {
    return false;
  }
  std::string name = absl::StrCat(key.prefix, ".", index);
  absl::MutexLock lock(&mu_);
  if (stop_) return false;
  if (auto it = index_.find(name); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return true;
  }
  if (queued_.contains(name)) return true;
  if (queued_bytes_ + data->size() > options_.max_queued_bytes) return false;
  if (!writer_.joinable()) {
    // Started here, not in Open: the daemon opens the cache before it forks
    // into the background, and a thread does not survive a fork.
    try {
      writer_ = std::thread([this] { WriterLoop(); });
    } catch (const std::system_error& e) {
      LOG(kWarning, "read cache: cannot start the writer thread (%s); not caching", e.what());
      return false;
    }
  }
  queued_bytes_ += data->size();
  queued_.emplace(name, std::move(data));
  queue_.push_back(std::move(name));
  return true;
}

void BlockCache::WriterLoop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(this, &BlockCache::HasWork));
    if (queue_.empty()) return;  // stop_ and drained
    std::string name = std::move(queue_.front());
    queue_.pop_front();
    std::shared_ptr<const std::string> data = queued_[name];
    ++writing_;
    mu_.Unlock();
    absl::Status put = PutNamed(name, *data);
    if (!put.ok()) LOG(kWarning, "read cache: %s", put.ToString());
    mu_.Lock();
    --writing_;
    // Written (now in index_) or failed (gone): either way no longer queued.
    queued_.erase(name);
    queued_bytes_ -= data->size();
  }
}

void BlockCache::Flush() {
  absl::MutexLock lock(&mu_);
  auto drained = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return queue_.empty() && writing_ == 0;
  };
  mu_.Await(absl::Condition(&drained));
}

absl::Status BlockCache::Put(const BlockKey& key, uint64_t index, absl::string_view data) {
  if (data.empty() || data.size() > options_.block_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("read cache: block ", key.prefix, ".", index, " has size ", data.size()));
  }
  if (data.size() > options_.capacity) return absl::OkStatus();
  return PutNamed(absl::StrCat(key.prefix, ".", index), data);
}

absl::Status BlockCache::PutNamed(const std::string& name, absl::string_view data) {
  uint64_t tmp_id;
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(name);
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return absl::OkStatus();
    }
    tmp_id = next_tmp_++;
  }
  uint64_t hash = Xxh64(data.data(), data.size());
  std::string tmp = absl::StrCat(options_.dir, "/tmp.", ::getpid(), ".", tmp_id);
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoFromSyscall(errno, absl::StrCat("open ", tmp));
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = n < 0 ? errno : EIO;
        ::unlink(tmp.c_str());
        return ErrnoFromSyscall(err, absl::StrCat("write ", tmp));
      }
      done += static_cast<size_t>(n);
    }
    if (::close(fd.release()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return ErrnoFromSyscall(err, absl::StrCat("close ", tmp));
    }
  }
  // rename and unlink happen under mu_, so the index and the directory never
  // disagree (an eviction cannot unlink a file a concurrent Put just renamed).
  absl::MutexLock lock(&mu_);
  if (index_.contains(name)) {  // a concurrent Put of the same block won
    ::unlink(tmp.c_str());
    return absl::OkStatus();
  }
  std::string path = PathOf(name, hash);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoFromSyscall(err, absl::StrCat("rename ", tmp, " to ", path));
  }
  lru_.push_front(name);
  index_[name] = Entry{data.size(), hash, /*verified=*/true, lru_.begin()};
  used_ += data.size();
  EvictLocked();
  return absl::OkStatus();
}

void BlockCache::EvictLocked() {
  while (used_ > options_.capacity && !lru_.empty()) {
    std::string name = lru_.back();
    RemoveLocked(name);
  }
}

void BlockCache::RemoveLocked(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) return;
  std::string path = PathOf(name, it->second.hash);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    LOG(kWarning, "read cache: unlink %s failed: %s", path, std::strerror(errno));
  }
  used_ -= it->second.size;
  lru_.erase(it->second.lru);
  index_.erase(it);
}

uint64_t BlockCache::bytes_used() {
  absl::MutexLock lock(&mu_);
  return used_;
}

size_t BlockCache::block_count() {
  absl::MutexLock lock(&mu_);
  return index_.size();
}

}  // namespace immichfs::cache
