// The SpoolTest fixture shared by the spool's unit tests (spool_test.cc,
// incomplete_test.cc): a Spool over FakeImmichApi in a temp directory.
// Settle and backoff are tiny; nothing asserts on timing: tests wait for
// conditions with generous deadlines.
#ifndef IMMICHFS_TESTS_UNIT_SPOOL_SPOOL_FIXTURE_H_
#define IMMICHFS_TESTS_UNIT_SPOOL_SPOOL_FIXTURE_H_

#include "spool/spool.h"

#include <stdlib.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/hash.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "memory_immich/memory_immich.h"
#include "spool/journal.h"

namespace immichfs::cache {

namespace stdfs = std::filesystem;
using fake::FakeImmichApi;
using fake::Method;

constexpr absl::Duration kDeadline = absl::Seconds(60);

inline std::string ChecksumB64(const std::string& bytes) {
  Sha1 sha;
  sha.Update(bytes.data(), bytes.size());
  return ToBase64(sha.Final());
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Data, meta and upload files left in the spool directory (not failed/, not
// the lock file).
inline int SpoolFiles(const std::string& dir) {
  int n = 0;
  for (const auto& e : stdfs::directory_iterator(dir)) {
    n += e.is_regular_file() && e.path().filename() != "lock";
  }
  return n;
}

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (stdfs::temp_directory_path() / "spool_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    options_.dir = root_ + "/spool";
    options_.settle = absl::Milliseconds(20);
    options_.min_backoff = absl::Milliseconds(10);
    options_.max_backoff = absl::Milliseconds(50);
    options_.commit_workers = 4;
    album_ = api_.AddAlbum("Trip");
  }
  // The spool's fdatasync fails with EIO while failing_syncs_ > 0 (each
  // failure counts it down; a large value fails until it is set to 0); syncs_ counts
  // every call. Call before OpenSpool().
  void FailFdatasync(int times) {
    failing_syncs_ = times;
    options_.fdatasync_for_test = [this](int fd) {
      ++syncs_;
      int left = failing_syncs_.load();
      while (left > 0 && !failing_syncs_.compare_exchange_weak(left, left - 1)) {
      }
      if (left > 0) {
        errno = EIO;
        return -1;
      }
      return ::fdatasync(fd);
    };
  }
  std::atomic<int> failing_syncs_{0};
  std::atomic<int> syncs_{0};

  void TearDown() override {
    if (!release_.HasBeenNotified()) release_.Notify();  // a failed test must not hang the workers
    spool_.reset();
    stdfs::remove_all(root_);
  }

  // The spool's owner: records what the spool tells it; commits everything
  // under its own name.
  class TestOwner : public SpoolOwner {
   public:
    explicit TestOwner(SpoolTest* test) : test_(test) {}
    absl::Status SpoolPrecheck(const std::string&, uint64_t) override {
      return absl::OkStatus();
    }
    std::string UploadName(const std::string& name) override { return name; }
    void OnCommitted(const CommitResult& r) override {
      absl::MutexLock l(&test_->mu_);
      test_->committed_.push_back(r);
    }
    void OnFailed(PendingId id, const FailedFile& f) override {
      absl::MutexLock l(&test_->mu_);
      test_->failed_.emplace_back(id, f);
    }
    void OnIncomplete(const PendingFile& f) override {
      absl::MutexLock l(&test_->mu_);
      test_->incomplete_.push_back(f);
    }

   private:
    SpoolTest* const test_;
  };

  void OpenSpool(bool start = true) {
    absl::StatusOr<std::unique_ptr<Spool>> s = Spool::Open(options_, &api_);
    ASSERT_TRUE(s.ok()) << s.status();
    spool_ = *std::move(s);
    if (start) spool_->Start(&owner_);
  }

  // create + write + release, as `cp` does.
  PendingId Put(const std::string& name, const std::string& bytes, std::string album = "") {
    absl::StatusOr<PendingId> id =
        spool_->Create(album.empty() ? album_ : album, name, absl::FromUnixSeconds(1700000000));
    EXPECT_TRUE(id.ok()) << id.status();
    EXPECT_TRUE(spool_->Write(*id, 0, bytes.data(), bytes.size()).ok());
    EXPECT_TRUE(spool_->Release(*id).ok());
    return *id;
  }

  bool WaitFor(const std::function<bool()>& done) {
    absl::Time end = absl::Now() + kDeadline;
    while (!done()) {
      if (absl::Now() > end) return false;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return true;
  }

  std::optional<CommitResult> CommittedFor(PendingId id) {
    absl::MutexLock l(&mu_);
    for (const CommitResult& r : committed_) {
      if (r.id == id) return r;
    }
    return std::nullopt;
  }
  bool WaitCommitted(PendingId id) {
    return WaitFor([&] { return CommittedFor(id).has_value() && !spool_->Get(id); });
  }
  size_t FailedCount() {
    absl::MutexLock l(&mu_);
    return failed_.size();
  }

  std::string root_;
  SpoolOptions options_;
  FakeImmichApi api_;
  std::string album_;
  // The first call of `method` waits, inside the fake server, until
  // release_ is notified; held_ is notified when it got there.
  void HoldCallsTo(Method method) {
    api_.SetCallHook([this, method](Method m) {
      if (m != method || held_.HasBeenNotified()) return;
      held_.Notify();
      release_.WaitForNotification();
    });
  }
  absl::Notification held_, release_;
  TestOwner owner_{this};  // outlives spool_
  std::unique_ptr<Spool> spool_;
  absl::Mutex mu_;
  std::vector<CommitResult> committed_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<PendingId, FailedFile>> failed_ ABSL_GUARDED_BY(mu_);
  std::vector<PendingFile> incomplete_ ABSL_GUARDED_BY(mu_);  // OnIncomplete
};

}  // namespace immichfs::cache

#endif  // IMMICHFS_TESTS_UNIT_SPOOL_SPOOL_FIXTURE_H_
