// Tests for incomplete files and the size limit (spool.h, "Incomplete
// files" and "Size limit"): a file whose write, flush or fsync failed is
// never committed as it stands -- not after the settle time, not on fsync,
// not after a restart -- until it is written again (or truncated to 0), or deleted;
// and no file may grow beyond what the spool's disk can hold.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "absl/strings/str_format.h"

#include "spool_fixture.h"

namespace immichfs::cache {
namespace {

constexpr uint64_t kTiB = uint64_t{1} << 40;

class IncompleteTest : public SpoolTest {
 protected:
  // pwrite fails with ENOSPC while full_ is set, after writing part of the
  // buffer as a real disk does (a short write, then the error).
  void FailWritesWhenFull() {
    options_.pwrite_for_test = [this](int fd, const void* buf, size_t count,
                                      off_t off) -> ssize_t {
      if (!full_) return ::pwrite(fd, buf, count, off);
      if (count > 3) {
        ssize_t n = ::pwrite(fd, buf, 3, off);
        if (n > 0) return n;
      }
      errno = ENOSPC;
      return -1;
    };
  }
  // Settled long enough that a commit would have started: 25 settle times.
  void PastSettle() { absl::SleepFor(25 * options_.settle); }
  PendingFile::State StateOf(PendingId id) { return spool_->Get(id)->state; }
  bool WaitIncomplete(PendingId id) {
    return WaitFor([&] {
      std::optional<PendingFile> f = spool_->Get(id);
      return f && f->state == PendingFile::State::kIncomplete;
    });
  }
  // A file with `head` written and then a write that failed (ENOSPC).
  PendingId PartlyWritten(const std::string& name, const std::string& head) {
    absl::StatusOr<PendingId> id = spool_->Create(album_, name, absl::Now());
    EXPECT_TRUE(id.ok()) << id.status();
    EXPECT_TRUE(spool_->Write(*id, 0, head.data(), head.size()).ok());
    full_ = true;
    absl::Status st = spool_->Write(*id, head.size(), "does not fit", 12);
    full_ = false;
    EXPECT_EQ(ToErrno(st), ENOSPC) << st;
    return *id;
  }
  int Reported() {
    absl::MutexLock l(&mu_);
    return static_cast<int>(incomplete_.size());
  }

  std::atomic<bool> full_{false};
};

// The reported bug: ENOSPC in the middle of a big file, the client closes,
// and the partial file was committed after the settle time.
TEST_F(IncompleteTest, FailedWriteIsNotCommittedAfterTheSettleTime) {
  FailWritesWhenFull();
  OpenSpool();
  PendingId id = PartlyWritten("big.mp4", "first part");
  ASSERT_TRUE(spool_->Release(id).ok()) << "the bytes kept are durable; close reports no error";
  ASSERT_TRUE(WaitIncomplete(id));
  PastSettle();
  std::optional<PendingFile> f = spool_->Get(id);
  ASSERT_TRUE(f.has_value()) << "an incomplete file stays listed";
  EXPECT_EQ(f->state, PendingFile::State::kIncomplete);
  EXPECT_EQ(ToErrno(f->write_error), ENOSPC) << f->write_error;
  EXPECT_EQ(f->size, 10u);
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_EQ(api_.Calls(Method::kBulkUploadCheck), 0);
  EXPECT_EQ(Reported(), 1) << "reported once";
  // fsync returns the error and commits nothing.
  absl::Status synced = spool_->Fsync(id);
  EXPECT_EQ(ToErrno(synced), ENOSPC) << synced;
  EXPECT_NE(synced.message().find("big.mp4"), absl::string_view::npos) << synced;
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  // Deleted: gone, nothing reached Immich.
  ASSERT_TRUE(spool_->Unlink(id).ok());
  EXPECT_FALSE(spool_->Get(id).has_value());
  EXPECT_EQ(SpoolFiles(options_.dir), 0);
  EXPECT_EQ(api_.AssetCount(), 0u);
}

TEST_F(IncompleteTest, AFullRewriteCommitsTheNewContent) {
  FailWritesWhenFull();
  OpenSpool();
  PendingId id = PartlyWritten("big.mp4", "first part");
  ASSERT_TRUE(spool_->Release(id).ok());
  ASSERT_TRUE(WaitIncomplete(id));
  // open(O_TRUNC) + write + close.
  ASSERT_TRUE(spool_->OpenHandle(id).ok());
  EXPECT_EQ(StateOf(id), PendingFile::State::kOpen);
  ASSERT_TRUE(spool_->Truncate(id, 0).ok());
  EXPECT_TRUE(spool_->Get(id)->write_error.ok());
  ASSERT_TRUE(spool_->Write(id, 0, "the whole file", 14).ok());
  ASSERT_TRUE(spool_->Release(id).ok());
  ASSERT_TRUE(WaitCommitted(id));
  EXPECT_EQ(api_.Bytes(CommittedFor(id)->asset_id), "the whole file");
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
}

// Growing the file does not clear the mark: the missing bytes would be zeros.
TEST_F(IncompleteTest, ATruncateThatGrowsTheFileKeepsItIncomplete) {
  FailWritesWhenFull();
  OpenSpool();
  PendingId id = PartlyWritten("big.mp4", "first part");
  ASSERT_TRUE(spool_->Truncate(id, 4096).ok());
  ASSERT_TRUE(spool_->Release(id).ok());
  ASSERT_TRUE(WaitIncomplete(id));
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_EQ(ToErrno(spool_->Get(id)->write_error), ENOSPC);
}

// A write that failed in the middle (an in-place pwrite, or one of several
// concurrent writes) leaves old bytes below the size: a truncate to the same
// size, or a shorter one, keeps the mark; only a truncate to 0 clears it.
TEST_F(IncompleteTest, ATruncateWithinTheFileKeepsItIncomplete) {
  FailWritesWhenFull();
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "mid.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "0123456789abcdef", 16).ok());
  full_ = true;
  EXPECT_EQ(ToErrno(spool_->Write(*id, 4, "XXXXXXXX", 8)), ENOSPC);
  full_ = false;
  ASSERT_TRUE(spool_->Truncate(*id, 16).ok());
  EXPECT_EQ(ToErrno(spool_->Get(*id)->write_error), ENOSPC) << "the same size";
  ASSERT_TRUE(spool_->Truncate(*id, 12).ok());
  EXPECT_EQ(ToErrno(spool_->Get(*id)->write_error), ENOSPC) << "a shorter size";
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitIncomplete(*id));
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
}

// A write error on one handle makes the file incomplete for every handle:
// another one writing and closing cleanly does not commit it.
TEST_F(IncompleteTest, AnErrorOnOneHandleKeepsTheFileIncompleteForAll) {
  FailWritesWhenFull();
  OpenSpool();
  PendingId id = PartlyWritten("shared.jpg", "from a");
  ASSERT_TRUE(spool_->OpenHandle(id).ok());  // handle b
  ASSERT_TRUE(spool_->Write(id, 6, " and b", 6).ok());
  ASSERT_TRUE(spool_->Release(id).ok());  // b closes cleanly
  ASSERT_TRUE(spool_->Release(id).ok());  // a closes
  ASSERT_TRUE(WaitIncomplete(id));
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
}

// An fsync waiting for its commit (the only worker busy elsewhere) returns
// the error when another write of the file fails meanwhile; nothing is sent.
TEST_F(IncompleteTest, AWaitingFsyncReturnsTheErrorOfALaterWrite) {
  FailWritesWhenFull();
  options_.commit_workers = 1;
  OpenSpool();
  HoldCallsTo(Method::kBulkUploadCheck);
  PendingId other = Put("other.jpg", "other");
  ASSERT_TRUE(held_.WaitForNotificationWithTimeout(kDeadline));
  absl::StatusOr<PendingId> id = spool_->Create(album_, "open.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "first", 5).ok());
  absl::Status fsynced;
  absl::Notification fsync_done;
  std::thread syncer([&] {
    fsynced = spool_->Fsync(*id);
    fsync_done.Notify();
  });
  full_ = true;
  EXPECT_EQ(ToErrno(spool_->Write(*id, 5, " second", 7)), ENOSPC);
  full_ = false;
  ASSERT_TRUE(fsync_done.WaitForNotificationWithTimeout(kDeadline));
  syncer.join();
  EXPECT_EQ(ToErrno(fsynced), ENOSPC) << fsynced;
  release_.Notify();
  ASSERT_TRUE(WaitCommitted(other));
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitIncomplete(*id));
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 1) << "only the other file";
}

// An fsync that returned the error of a later write withdraws its request:
// once a rewrite clears the mark, the file is not committed while still open.
TEST_F(IncompleteTest, AnFsyncThatReturnedTheErrorNoLongerWaits) {
  FailWritesWhenFull();
  options_.commit_workers = 1;
  OpenSpool();
  HoldCallsTo(Method::kBulkUploadCheck);
  PendingId other = Put("other.jpg", "other");
  ASSERT_TRUE(held_.WaitForNotificationWithTimeout(kDeadline));
  absl::StatusOr<PendingId> id = spool_->Create(album_, "open.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "first", 5).ok());
  absl::Status fsynced;
  std::thread syncer([&] { fsynced = spool_->Fsync(*id); });
  absl::SleepFor(absl::Milliseconds(50));  // the fsync is waiting (the worker is held)
  full_ = true;
  EXPECT_EQ(ToErrno(spool_->Write(*id, 5, " second", 7)), ENOSPC);
  full_ = false;
  syncer.join();
  EXPECT_EQ(ToErrno(fsynced), ENOSPC) << fsynced;
  // Rewritten from the start, half done, the handle still open.
  ASSERT_TRUE(spool_->Truncate(*id, 0).ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "half", 4).ok());
  release_.Notify();
  ASSERT_TRUE(WaitCommitted(other));
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 1) << "only the other file";
  ASSERT_TRUE(spool_->Write(*id, 4, " and the rest", 13).ok());
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitCommitted(*id));
  EXPECT_EQ(api_.Bytes(CommittedFor(*id)->asset_id), "half and the rest");
}

// A rename (say from a .filepart name) keeps the mark.
TEST_F(IncompleteTest, ARenameKeepsTheMark) {
  FailWritesWhenFull();
  OpenSpool();
  PendingId id = PartlyWritten("big.mp4.filepart", "first part");
  ASSERT_TRUE(spool_->Release(id).ok());
  ASSERT_TRUE(spool_->Rename(id, album_, "big.mp4").ok());
  ASSERT_TRUE(WaitIncomplete(id));
  PastSettle();
  EXPECT_EQ(spool_->Get(id)->name, "big.mp4");
  EXPECT_EQ(ToErrno(spool_->Get(id)->write_error), ENOSPC);
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
}

// The mark is journaled: a restart keeps the file incomplete, and a rewrite
// after the restart commits it.
TEST_F(IncompleteTest, TheMarkSurvivesARestart) {
  FailWritesWhenFull();
  OpenSpool();
  PendingId id = PartlyWritten("big.mp4", "first part");
  ASSERT_TRUE(spool_->Release(id).ok());
  spool_.reset();
  OpenSpool();
  std::optional<PendingFile> f = spool_->Get(id);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->state, PendingFile::State::kIncomplete);
  EXPECT_EQ(ToErrno(f->write_error), ENOSPC) << f->write_error;
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_EQ(ToErrno(spool_->Fsync(id)), ENOSPC);
  ASSERT_TRUE(spool_->OpenHandle(id).ok());
  ASSERT_TRUE(spool_->Truncate(id, 0).ok());
  ASSERT_TRUE(spool_->Write(id, 0, "again", 5).ok());
  ASSERT_TRUE(spool_->Release(id).ok());
  ASSERT_TRUE(WaitCommitted(id));
  EXPECT_EQ(api_.Bytes(CommittedFor(id)->asset_id), "again");
}

// A record with "state incomplete" (what this version writes) and one with
// state pending plus the write_error keys (earlier builds) both recover as
// incomplete, never committed.
TEST_F(IncompleteTest, BothRecordFormsOfTheMarkRecoverAsIncomplete) {
  OpenSpool(/*start=*/false);
  PendingId a = Put("a.jpg", "complete a");
  PendingId b = Put("b.jpg", "complete b");
  spool_.reset();
  Journal journal(options_.dir);
  auto rewrite = [&](PendingId id, const std::string& state) {
    std::string text = ReadText(journal.MetaPath(id));
    std::string body = text.substr(0, text.rfind("check "));
    size_t at = body.find("\nstate pending\n");
    ASSERT_NE(at, std::string::npos) << body;
    body.replace(at, 15, "\nstate " + state + "\n");
    body += "write_error 5 disk error\n";
    std::ofstream(journal.MetaPath(id), std::ios::trunc)
        << body << absl::StrFormat("check %016x\n", Xxh64(body.data(), body.size()));
  };
  rewrite(a, "incomplete");
  rewrite(b, "pending");
  OpenSpool();
  for (PendingId id : {a, b}) {
    std::optional<PendingFile> f = spool_->Get(id);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->state, PendingFile::State::kIncomplete);
    EXPECT_EQ(ToErrno(f->write_error), EIO) << f->write_error;
  }
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
}

// The data was synced but its journal record could not be written: close
// returns the error, so the file is incomplete and does not commit later.
TEST_F(IncompleteTest, AFailedRecordWriteMarksTheFile) {
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "rec.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "content", 7).ok());
  Journal journal(options_.dir);
  const std::string blocker = journal.TempPath(*id, "meta");
  ASSERT_EQ(::mkdir(blocker.c_str(), 0700), 0);  // the record's temp file cannot be created
  absl::Status st = spool_->Release(*id);
  EXPECT_FALSE(st.ok()) << "close reports the failed record write";
  ASSERT_EQ(::rmdir(blocker.c_str()), 0);
  ASSERT_TRUE(WaitIncomplete(*id));
  EXPECT_FALSE(spool_->Get(*id)->write_error.ok());
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_EQ(Reported(), 1);
}

// A truncate or rename of a closed file that marks it (a failed fdatasync,
// a record that cannot be written) reports it, as a failed write does.
TEST_F(IncompleteTest, ATruncateOrRenameThatMarksAClosedFileReportsIt) {
  FailFdatasync(0);
  options_.settle = absl::Hours(1);
  OpenSpool();
  PendingId a = Put("a.jpg", "complete a");
  PendingId b = Put("b.jpg", "complete b");
  failing_syncs_ = 1 << 30;
  EXPECT_EQ(ToErrno(spool_->Truncate(a, 3)), EIO);
  failing_syncs_ = 0;
  EXPECT_EQ(ToErrno(spool_->Get(a)->write_error), EIO);
  EXPECT_EQ(Reported(), 1) << "the truncate reports it";
  Journal journal(options_.dir);
  const std::string blocker = journal.TempPath(b, "meta");
  ASSERT_EQ(::mkdir(blocker.c_str(), 0700), 0);
  EXPECT_FALSE(spool_->Rename(b, album_, "c.jpg").ok());
  ASSERT_EQ(::rmdir(blocker.c_str()), 0);
  EXPECT_FALSE(spool_->Get(b)->write_error.ok());
  EXPECT_EQ(Reported(), 2) << "the rename reports it";
}

// A file that was complete and closed, reopened, and then a write failed:
// the record on disk said "commit me"; it says "incomplete" at once, so a
// crash before the close does not commit it either.
TEST_F(IncompleteTest, AFailedWriteAfterACleanCloseIsJournaledAtOnce) {
  OpenSpool(/*start=*/false);
  PendingId id = Put("clip.mov", "complete");
  ASSERT_TRUE(spool_->OpenHandle(id).ok());
  // Refused before any byte changes (never fits): the record still says so.
  EXPECT_EQ(ToErrno(spool_->Write(id, 1000 * kTiB, "x", 1)), EFBIG);
  spool_.reset();  // a crash with the handle still open
  OpenSpool();
  std::optional<PendingFile> f = spool_->Get(id);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->state, PendingFile::State::kIncomplete);
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
}

// A disk error (fdatasync) survives a restart too, and then still needs a
// rewrite from the start.
TEST_F(IncompleteTest, ALostWriteSurvivesARestart) {
  FailFdatasync(1);
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "lost.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "maybe lost", 10).ok());
  EXPECT_EQ(ToErrno(spool_->Release(*id)), EIO) << "close reports the error";
  spool_.reset();
  OpenSpool();
  ASSERT_TRUE(spool_->Get(*id).has_value());
  EXPECT_EQ(ToErrno(spool_->Get(*id)->write_error), EIO);
  ASSERT_TRUE(spool_->Truncate(*id, 5).ok());
  EXPECT_EQ(ToErrno(spool_->Get(*id)->write_error), EIO) << "bytes kept may be lost";
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  ASSERT_TRUE(spool_->Truncate(*id, 0).ok());
  EXPECT_TRUE(spool_->Get(*id)->write_error.ok());
}

// --- size limit ---------------------------------------------------------------

uint64_t SpoolFsSize(const std::string& dir) {
  struct statvfs v;
  if (::statvfs(dir.c_str(), &v) != 0) return 0;
  return static_cast<uint64_t>(v.f_blocks) * v.f_frsize;
}

TEST_F(IncompleteTest, TruncateBeyondTheSpoolDiskIsEfbigAndChangesNothing) {
  OpenSpool();
  PendingId id = Put("x.jpg", "small");
  ASSERT_LT(SpoolFsSize(options_.dir), 10 * kTiB) << "the test needs a smaller disk";
  absl::Status st = spool_->Truncate(id, 10 * kTiB);
  EXPECT_EQ(ToErrno(st), EFBIG) << st;
  EXPECT_NE(st.message().find("x.jpg"), absl::string_view::npos) << st;
  EXPECT_EQ(spool_->Get(id)->size, 5u);
  EXPECT_TRUE(spool_->Get(id)->write_error.ok()) << "a refused truncate changes nothing";
  ASSERT_TRUE(WaitCommitted(id));
  EXPECT_EQ(api_.Bytes(CommittedFor(id)->asset_id), "small");
}

TEST_F(IncompleteTest, AWriteFarBeyondTheEndIsEfbigAndMarksTheFile) {
  options_.settle = absl::Hours(1);
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "x.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "head", 4).ok());
  EXPECT_EQ(ToErrno(spool_->Write(*id, 10 * kTiB, "tail", 4)), EFBIG);
  EXPECT_EQ(spool_->Get(*id)->size, 4u);
  EXPECT_EQ(ToErrno(spool_->Get(*id)->write_error), EFBIG);
  EXPECT_EQ(ToErrno(spool_->Fsync(*id)), EFBIG);
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
}

// A sparse file whose size fits is fine, holes and all.
TEST_F(IncompleteTest, ASparseFileThatFitsCommits) {
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "sparse.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Truncate(*id, 64 * 1024).ok());
  ASSERT_TRUE(spool_->Write(*id, 128 * 1024, "end", 3).ok());
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitCommitted(*id));
  EXPECT_EQ(api_.Bytes(CommittedFor(*id)->asset_id).value_or("").size(), 128u * 1024 + 3);
}

// On a small disk: a size larger than the disk is EFBIG, one that fits the
// disk but not its free space now is ENOSPC.
TEST_F(IncompleteTest, SizesOnASmallDiskAreEfbigOrEnospc) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  std::string small = root_ + "/small";
  stdfs::create_directory(small);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  options_.dir = small + "/spool";
  options_.settle = absl::Hours(1);
  OpenSpool();
  constexpr uint64_t kKiB = 1024;
  absl::StatusOr<PendingId> filler = spool_->Create(album_, "filler.jpg", absl::Now());
  ASSERT_TRUE(filler.ok());
  std::string bytes(600 * kKiB, 'f');
  ASSERT_TRUE(spool_->Write(*filler, 0, bytes.data(), bytes.size()).ok());
  absl::StatusOr<PendingId> id = spool_->Create(album_, "x.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(ToErrno(spool_->Truncate(*id, 2048 * kKiB)), EFBIG);
  EXPECT_EQ(ToErrno(spool_->Truncate(*id, 700 * kKiB)), ENOSPC);
  EXPECT_TRUE(spool_->Truncate(*id, 200 * kKiB).ok()) << "sparse, and fits";
  EXPECT_EQ(ToErrno(spool_->Write(*id, 900 * kKiB, "x", 1)), ENOSPC);
  EXPECT_EQ(ToErrno(spool_->Get(*id)->write_error), ENOSPC);
  // The filler goes: now it fits (the mark needs a rewrite, though).
  ASSERT_TRUE(spool_->Unlink(*filler).ok());
  ASSERT_TRUE(spool_->Release(*filler).ok());
  EXPECT_TRUE(spool_->Truncate(*id, 700 * kKiB).ok());
  (void)spool_->Release(*id);
  spool_.reset();
  ::umount2(small.c_str(), MNT_DETACH);
}

}  // namespace
}  // namespace immichfs::cache
