// A bounded pool of libcurl easy handles. An easy handle keeps its connection
// open after a transfer (HTTP keep-alive), so taking the most recently used
// idle handle for the next request reuses a warm TCP (and TLS) connection
// instead of opening a new one per request. The handles also share one DNS
// and TLS-session cache, so a handle that must connect afresh skips the DNS
// lookup and resumes the TLS session.
//
// At most `max_handles` transfers run at once; a caller beyond that waits for
// a handle to come back. That caps the connections immichfs opens to the
// server however many FUSE threads ask at the same time.
#ifndef IMMICHFS_IMMICH_CURL_POOL_H_
#define IMMICHFS_IMMICH_CURL_POOL_H_

#include <curl/curl.h>

#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace immichfs::immich {

class CurlPool {
 public:
  // A handle on loan; goes back to the pool when destroyed. The handle is
  // reset (curl_easy_reset keeps its connection and caches) before each loan.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    CURL* get() const { return handle_; }

   private:
    friend class CurlPool;
    Lease(CurlPool* pool, CURL* handle) : pool_(pool), handle_(handle) {}
    CurlPool* pool_;
    CURL* handle_;
  };

  explicit CurlPool(int max_handles);
  ~CurlPool();  // All leases must have been returned.
  CurlPool(const CurlPool&) = delete;
  CurlPool& operator=(const CurlPool&) = delete;

  // Blocks while max_handles transfers are running. Never fails except on
  // out-of-memory, where it returns a lease with a null handle.
  Lease Acquire();

 private:
  void Release(CURL* handle);
  static void LockShare(CURL* handle, curl_lock_data data, curl_lock_access access, void* self);
  static void UnlockShare(CURL* handle, curl_lock_data data, void* self);

  const int max_handles_;
  CURLSH* share_ = nullptr;
  // libcurl calls LockShare/UnlockShare around every use of a shared cache;
  // one std::mutex per kind of data (absl::Mutex cannot be locked in one C
  // callback and unlocked in another under the thread-safety analysis).
  std::mutex share_mu_[CURL_LOCK_DATA_LAST];

  absl::Mutex mu_;
  // Most recently returned last: Acquire takes from the back so the warmest
  // connection is reused and surplus ones age out on the server side.
  std::vector<CURL*> idle_ ABSL_GUARDED_BY(mu_);
  int created_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace immichfs::immich

#endif  // IMMICHFS_IMMICH_CURL_POOL_H_
