#include "immich/curl_pool.h"

#include <utility>

#include "common/log.h"

namespace immichfs::immich {
namespace {

// curl_global_init is not thread-safe and must run before any other curl
// call; the pool is the first thing to touch curl, so it does it once.
void GlobalInitOnce() {
  static const CURLcode kInit = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (kInit != CURLE_OK) {
    LOG(kError, "curl_global_init failed: %s", curl_easy_strerror(kInit));
  }
}

}  // namespace

CurlPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), handle_(std::exchange(other.handle_, nullptr)) {}

CurlPool::Lease::~Lease() {
  if (handle_ != nullptr) pool_->Release(handle_);
}

CurlPool::CurlPool(int max_handles) : max_handles_(max_handles > 0 ? max_handles : 1) {
  GlobalInitOnce();
  share_ = curl_share_init();
  if (share_ != nullptr) {
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &CurlPool::LockShare);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &CurlPool::UnlockShare);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
}

CurlPool::~CurlPool() {
  absl::MutexLock lock(&mu_);
  for (CURL* handle : idle_) curl_easy_cleanup(handle);
  idle_.clear();
  // The share must outlive every handle that uses it.
  if (share_ != nullptr) curl_share_cleanup(share_);
}

CurlPool::Lease CurlPool::Acquire() {
  CURL* handle = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto can_proceed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || created_ < max_handles_;
    };
    mu_.Await(absl::Condition(&can_proceed));
    if (!idle_.empty()) {
      handle = idle_.back();
      idle_.pop_back();
    } else {
      handle = curl_easy_init();
      if (handle == nullptr) return Lease(this, nullptr);
      ++created_;
    }
  }
  // Resets options only: the connection, DNS and TLS-session caches stay.
  curl_easy_reset(handle);
  if (share_ != nullptr) curl_easy_setopt(handle, CURLOPT_SHARE, share_);
  return Lease(this, handle);
}

void CurlPool::Release(CURL* handle) {
  absl::MutexLock lock(&mu_);
  idle_.push_back(handle);
}

void CurlPool::LockShare(CURL*, curl_lock_data data, curl_lock_access, void* self) {
  static_cast<CurlPool*>(self)->share_mu_[data].lock();
}

void CurlPool::UnlockShare(CURL*, curl_lock_data data, void* self) {
  static_cast<CurlPool*>(self)->share_mu_[data].unlock();
}

}  // namespace immichfs::immich
