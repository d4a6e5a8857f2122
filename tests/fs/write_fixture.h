// Fixture for the write-path tests: fs::Filesystem over FakeImmichApi with a
// real cache::Spool in a temp directory, wired as src/main.cc wires them.
// The settle time is an hour unless a test asks for a short one, so commits
// happen when a test fsyncs (deterministic); tests wait for conditions with
// generous deadlines and never assert on timing.
#ifndef IMMICHFS_TESTS_FS_WRITE_FIXTURE_H_
#define IMMICHFS_TESTS_FS_WRITE_FIXTURE_H_

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "fs/filesystem.h"
#include "fs/name_codec.h"
#include "gtest/gtest.h"
#include "memory_immich/memory_immich.h"
#include "spool/spool.h"

namespace immichfs::fs {

// Records what the filesystem tells the kernel.
class RecordingNotifier : public KernelNotifier {
 public:
  void InvalEntry(Ino parent, const std::string& name) override {
    absl::MutexLock lock(&mu_);
    entries_.emplace_back(parent, name);
  }
  void InvalAttr(Ino ino) override {
    absl::MutexLock lock(&mu_);
    attrs_.push_back(ino);
  }
  bool SawAttr(Ino ino) {
    absl::MutexLock lock(&mu_);
    return std::find(attrs_.begin(), attrs_.end(), ino) != attrs_.end();
  }
  bool SawEntry(Ino parent, const std::string& name) {
    absl::MutexLock lock(&mu_);
    return std::find(entries_.begin(), entries_.end(), std::make_pair(parent, name)) !=
           entries_.end();
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<Ino, std::string>> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<Ino> attrs_ ABSL_GUARDED_BY(mu_);
};

class Names : public DirSink {
 public:
  bool Add(absl::string_view name, const Entry& entry, uint64_t /*next_offset*/) override {
    if (name != "." && name != "..") entries[std::string(name)] = entry;
    return true;
  }
  std::vector<std::string> List() const {
    std::vector<std::string> out;
    for (const auto& [n, e] : entries) out.push_back(n);
    return out;
  }
  std::map<std::string, Entry> entries;
};

class WriteTest : public ::testing::Test {
 protected:
  WriteTest() : reads_(&api_, nullptr, cache::ReadPathOptions{}) {}

  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fs_write.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    spool_.reset();  // the workers call into fs_: stop them first
    fs_.reset();
    std::filesystem::remove_all(root_);
  }

  void Start(absl::Duration settle = absl::Hours(1)) {
    FsOptions o;
    o.uid = 1000;
    o.gid = 100;
    o.dir_cache_ttl = absl::Seconds(10);
    o.media_types_retry = media_types_retry_;
    o.clock = [this] { return absl::FromUnixNanos(now_ns_.load()); };
    fs_ = std::make_unique<Filesystem>(&api_, &reads_, o);
    cache::SpoolOptions so;
    so.dir = root_ + "/spool";
    so.settle = settle;
    so.min_backoff = absl::Milliseconds(5);
    so.max_backoff = absl::Milliseconds(40);
    so.commit_workers = 4;
    so.pwrite_for_test = [this](int fd, const void* buf, size_t n, off_t off) -> ssize_t {
      if (disk_full_) {
        errno = ENOSPC;
        return -1;
      }
      return ::pwrite(fd, buf, n, off);
    };
    absl::StatusOr<std::unique_ptr<cache::Spool>> spool = cache::Spool::Open(so, &api_);
    ASSERT_TRUE(spool.ok()) << spool.status();
    spool_ = *std::move(spool);
    fs_->SetSpool(spool_.get());
    fs_->SetNotifier(&notifier_);
    fs_->SetServerVersion("3.1.0");
    spool_->Start(fs_.get());
  }

  Filesystem& Fs() { return *fs_; }

  Ino MustLookup(Ino parent, const std::string& name) {
    absl::StatusOr<Entry> e = Fs().Lookup(parent, name);
    EXPECT_TRUE(e.ok()) << name << ": " << e.status();
    return e.ok() ? e->attr.ino : 0;
  }
  int LookupErrno(Ino parent, const std::string& name) {
    return ToErrno(Fs().Lookup(parent, name).status());
  }

  // create + write + flush + release (+ utimens after close, as cp -p does).
  Ino Put(Ino dir, const std::string& name, const std::string& data,
          std::optional<absl::Time> mtime = std::nullopt) {
    absl::StatusOr<CreateResult> c = Fs().Create(dir, name, O_CREAT | O_WRONLY | O_TRUNC);
    EXPECT_TRUE(c.ok()) << name << ": " << c.status();
    if (!c.ok()) return 0;
    Ino ino = c->entry.attr.ino;
    // Two writes: the second continues the first (the streaming hash).
    size_t half = data.size() / 2;
    EXPECT_TRUE(Fs().Write(ino, c->open.fh, 0, data.data(), half).ok());
    EXPECT_TRUE(Fs().Write(ino, c->open.fh, half, data.data() + half, data.size() - half).ok());
    EXPECT_TRUE(Fs().Flush(ino, c->open.fh).ok());
    EXPECT_TRUE(Fs().Release(ino, c->open.fh).ok());
    if (mtime) {
      SetAttrRequest r;
      r.mtime = absl::ToTimespec(*mtime);
      EXPECT_TRUE(Fs().SetAttr(ino, std::nullopt, r).ok());
    }
    return ino;
  }

  // open + fsync + close: commits now (DESIGN.md), then waits for the
  // hand-over.
  absl::Status Commit(Ino ino) {
    absl::StatusOr<OpenResult> f = Fs().Open(ino, O_RDONLY);
    if (!f.ok()) return f.status();
    absl::Status st = Fs().Fsync(ino, f->fh);
    EXPECT_TRUE(Fs().Release(ino, f->fh).ok());
    if (st.ok()) WaitIdle();
    return st;
  }

  template <typename Cond>
  bool WaitFor(Cond cond, absl::Duration deadline = absl::Seconds(60)) {
    absl::Time end = absl::Now() + deadline;
    while (!cond()) {
      if (absl::Now() > end) return false;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return true;
  }
  void WaitIdle() {
    ASSERT_TRUE(WaitFor([&] {
      cache::SpoolStats s = spool_->Stats();
      return s.pending_files == 0 && s.commits_in_flight == 0;
    })) << "the spool did not empty";
  }

  std::vector<std::string> Listing(Ino dir) { return List(dir).List(); }
  Names List(Ino dir) {
    Names names;
    absl::StatusOr<uint64_t> fh = Fs().OpenDir(dir);
    EXPECT_TRUE(fh.ok()) << fh.status();
    if (!fh.ok()) return names;
    EXPECT_TRUE(Fs().ReadDir(dir, *fh, 0, false, names).ok());
    Fs().ReleaseDir(*fh);
    return names;
  }

  std::string ReadAll(Ino ino) {
    absl::StatusOr<OpenResult> f = Fs().Open(ino, O_RDONLY);
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok()) return "";
    std::string out;
    char buf[4096];
    for (;;) {
      absl::StatusOr<size_t> n = Fs().Read(ino, f->fh, out.size(), sizeof buf, buf);
      EXPECT_TRUE(n.ok()) << n.status();
      if (!n.ok() || *n == 0) break;
      out.append(buf, *n);
    }
    EXPECT_TRUE(Fs().Release(ino, f->fh).ok());
    return out;
  }

  // The album's live (not trashed) assets in Immich, by originalFileName.
  std::map<std::string, immich::Asset> InImmich(const std::string& album_id) {
    std::map<std::string, immich::Asset> out;
    for (const std::string& id : api_.AlbumAssetIds(album_id)) {
      std::optional<immich::Asset> a = api_.FindAsset(id);
      if (a && !a->is_trashed) out[a->original_file_name] = *a;
    }
    return out;
  }

  std::atomic<int64_t> now_ns_{absl::ToUnixNanos(absl::FromUnixSeconds(1'700'000'000))};
  std::atomic<bool> disk_full_{false};
  absl::Duration media_types_retry_ = absl::Seconds(10);
  std::string root_;
  fake::FakeImmichApi api_;
  cache::ReadPath reads_;
  RecordingNotifier notifier_;
  std::unique_ptr<Filesystem> fs_;
  std::unique_ptr<cache::Spool> spool_;
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_TESTS_FS_WRITE_FIXTURE_H_
