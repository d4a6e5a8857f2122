// Tests for the write-back spool (src/spool/spool*.cc, commit.cc) against
// FakeImmichApi. Settle and backoff are tiny; nothing asserts on timing:
// tests wait for conditions with generous deadlines.
#include "spool_fixture.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

namespace immichfs::cache {
namespace {

TEST_F(SpoolTest, NewFileIsUploadedAndAddedToItsAlbum) {
  OpenSpool();
  const std::string bytes = "fresh jpeg bytes";
  absl::StatusOr<PendingId> id = spool_->Create(album_, "a b.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, bytes.data(), bytes.size()).ok());
  const absl::Time mtime = absl::FromUnixSeconds(1600000000);
  ASSERT_TRUE(spool_->SetMtime(*id, mtime).ok());
  // Visible and readable while pending.
  std::vector<PendingFile> listed = spool_->List(album_);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].name, "a b.jpg");
  EXPECT_EQ(listed[0].size, bytes.size());
  char buf[64];
  absl::StatusOr<size_t> n = spool_->Read(*id, 6, sizeof buf, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), bytes.substr(6));
  ASSERT_TRUE(spool_->Release(*id).ok());

  ASSERT_TRUE(WaitCommitted(*id));
  CommitResult r = *CommittedFor(*id);
  EXPECT_TRUE(r.uploaded);
  EXPECT_EQ(r.album_id, album_);
  std::optional<immich::Asset> asset = api_.FindAsset(r.asset_id);
  ASSERT_TRUE(asset);
  EXPECT_EQ(asset->original_file_name, "a b.jpg");
  EXPECT_EQ(asset->file_modified_at, mtime);
  EXPECT_EQ(asset->file_created_at, mtime);
  EXPECT_EQ(asset->checksum, ChecksumB64(bytes));
  EXPECT_EQ(api_.Bytes(r.asset_id), bytes);
  EXPECT_EQ(api_.AlbumAssetIds(album_), std::vector<std::string>{r.asset_id});
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
  EXPECT_TRUE(spool_->List("").empty());
  EXPECT_EQ(SpoolFiles(options_.dir), 0);
  EXPECT_EQ(spool_->Stats().commits_done, 1u);
}

TEST_F(SpoolTest, DuplicateContentIsAddedWithoutUpload) {
  std::string other = api_.AddAlbum("Other");
  std::string existing = api_.AddAsset("orig.jpg", "same bytes", {other});
  OpenSpool();
  PendingId id = Put("copy.jpg", "same bytes");
  ASSERT_TRUE(WaitCommitted(id));
  CommitResult r = *CommittedFor(id);
  EXPECT_FALSE(r.uploaded);
  EXPECT_EQ(r.asset_id, existing);
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_EQ(api_.AlbumAssetIds(album_), std::vector<std::string>{existing});
  EXPECT_EQ(api_.AlbumAssetIds(other), std::vector<std::string>{existing});
  EXPECT_EQ(api_.AssetCount(), 1u);
}

TEST_F(SpoolTest, TrashedDuplicateIsRestoredAndMovedHere) {
  std::string old_album = api_.AddAlbum("Old");
  fake::AssetSpec spec;
  spec.name = "gone.jpg";
  spec.bytes = "trashed bytes";
  spec.trashed = true;
  spec.albums = {old_album};
  std::string existing = api_.AddAsset(spec);
  OpenSpool();
  PendingId id = Put("back.jpg", "trashed bytes");
  ASSERT_TRUE(WaitCommitted(id));
  EXPECT_EQ(CommittedFor(id)->asset_id, existing);
  EXPECT_FALSE(api_.IsTrashed(existing));
  EXPECT_EQ(api_.AlbumAssetIds(album_), std::vector<std::string>{existing});
  EXPECT_TRUE(api_.AlbumAssetIds(old_album).empty());
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
}

TEST_F(SpoolTest, FsyncReturnsOnlyOnceTheAssetIsInTheAlbum) {
  options_.settle = absl::Hours(1);  // only fsync can commit
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "f.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "abc", 3).ok());
  ASSERT_TRUE(spool_->Fsync(*id).ok());
  std::vector<std::string> in_album = api_.AlbumAssetIds(album_);
  ASSERT_EQ(in_album.size(), 1u);
  EXPECT_EQ(api_.Bytes(in_album[0]), "abc");
  // Still open: still pending, shown in place of the asset it became.
  std::optional<PendingFile> p = spool_->Get(*id);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->replaces_asset_id, in_album[0]);
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitCommitted(*id));
  EXPECT_EQ(CommittedFor(*id)->asset_id, in_album[0]);
  EXPECT_EQ(api_.Calls(Method::kUpload), 1) << "the close after fsync uploads nothing";
  EXPECT_EQ(api_.AssetCount(), 1u);
}

TEST_F(SpoolTest, ChangesAfterCloseLandBeforeTheUpload) {
  options_.settle = absl::Hours(1);
  OpenSpool();
  std::string other = api_.AddAlbum("Other");
  PendingId id = Put(".a.jpg.tmp", "rsync data");
  const absl::Time mtime = absl::FromUnixSeconds(1500000000);
  ASSERT_TRUE(spool_->SetMtime(id, mtime).ok());                 // rsync's utimens
  ASSERT_TRUE(spool_->Rename(id, other, "a.jpg").ok());          // and its rename
  EXPECT_EQ(api_.Calls(Method::kBulkUploadCheck), 0) << "settling";
  EXPECT_TRUE(spool_->List(album_).empty());
  ASSERT_EQ(spool_->List(other).size(), 1u);
  ASSERT_TRUE(spool_->Fsync(id).ok());
  std::vector<std::string> in_other = api_.AlbumAssetIds(other);
  ASSERT_EQ(in_other.size(), 1u);
  std::optional<immich::Asset> asset = api_.FindAsset(in_other[0]);
  EXPECT_EQ(asset->original_file_name, "a.jpg");
  EXPECT_EQ(asset->file_modified_at, mtime);
  EXPECT_TRUE(api_.AlbumAssetIds(album_).empty());
}

TEST_F(SpoolTest, UnlinkWhilePendingDropsTheFile) {
  options_.settle = absl::Hours(1);
  OpenSpool();
  PendingId id = Put("x.jpg", "doomed");
  ASSERT_TRUE(spool_->Unlink(id).ok());
  EXPECT_FALSE(spool_->Get(id));
  EXPECT_TRUE(spool_->List(album_).empty());
  EXPECT_EQ(spool_->Read(id, 0, 1, nullptr).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(spool_->Unlink(id).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SpoolFiles(options_.dir), 0);
  EXPECT_EQ(api_.TotalCalls(), 0);
}

TEST_F(SpoolTest, UnlinkedOpenFileStaysUsableUntilReleased) {
  options_.settle = absl::Hours(1);
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "tmp.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Unlink(*id).ok());
  EXPECT_FALSE(spool_->Get(*id));
  ASSERT_TRUE(spool_->Write(*id, 0, "still", 5).ok());
  char buf[8];
  absl::StatusOr<size_t> n = spool_->Read(*id, 0, sizeof buf, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "still");
  ASSERT_TRUE(spool_->Release(*id).ok());
  EXPECT_EQ(spool_->Release(*id).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(SpoolFiles(options_.dir), 0);
}

TEST_F(SpoolTest, UnlinkDuringCommitIsUndone) {
  OpenSpool();
  HoldCallsTo(Method::kUpload);
  PendingId id = Put("late.jpg", "unlinked mid-upload");
  ASSERT_TRUE(held_.WaitForNotificationWithTimeout(kDeadline));
  ASSERT_TRUE(spool_->Unlink(id).ok());
  EXPECT_FALSE(spool_->Get(id));
  release_.Notify();
  ASSERT_TRUE(WaitFor([&] {
    return api_.Calls(Method::kDeleteAssets) + api_.Calls(Method::kRemoveFromAlbum) > 0 &&
           spool_->Stats().commits_in_flight == 0;
  }));
  ASSERT_EQ(api_.AssetCount(), 1u);
  std::vector<std::string> ids = api_.AlbumAssetIds(album_);  // trashed members included
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_TRUE(api_.IsTrashed(ids[0])) << "in no other album: trashed";
  EXPECT_FALSE(CommittedFor(id));
  EXPECT_EQ(SpoolFiles(options_.dir), 0);
}

TEST_F(SpoolTest, UnlinkDuringAFailingCommitTakesOutTheVersionAnFsyncCommitted) {
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "grow.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "part1", 5).ok());
  ASSERT_TRUE(spool_->Fsync(*id).ok());  // version 1 is in the album now
  std::string first = spool_->Get(*id)->replaces_asset_id;
  ASSERT_FALSE(first.empty());
  ASSERT_TRUE(spool_->Write(*id, 5, "part2", 5).ok());
  HoldCallsTo(Method::kUpload);
  api_.FailNext(Method::kUpload, absl::UnavailableError("connection reset"));
  ASSERT_TRUE(spool_->Release(*id).ok());  // version 2 starts committing, and will fail
  ASSERT_TRUE(held_.WaitForNotificationWithTimeout(kDeadline));
  ASSERT_TRUE(spool_->Unlink(*id).ok());
  release_.Notify();
  // The file is gone for the client, so version 1 must leave the album too.
  ASSERT_TRUE(WaitFor([&] { return api_.IsTrashed(first); })) << "version 1 stayed in the album";
  ASSERT_TRUE(WaitFor([&] { return spool_->Stats().commits_in_flight == 0; }));
  EXPECT_FALSE(spool_->Get(*id));
  api_.SetCallHook(nullptr);
}

TEST_F(SpoolTest, OverwriteCopiesMetadataAndTrashesTheOldAsset) {
  std::string other = api_.AddAlbum("Other");
  std::string old_id = api_.AddAsset("a.jpg", "old content", {album_, other});
  OpenSpool();
  absl::StatusOr<PendingId> id =
      spool_->Create(album_, "a.jpg", absl::Now(), /*replaces_asset_id=*/old_id);
  ASSERT_TRUE(id.ok());
  ASSERT_EQ(spool_->Get(*id)->replaces_asset_id, old_id);
  ASSERT_TRUE(spool_->Write(*id, 0, "new content", 11).ok());
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitCommitted(*id));
  CommitResult r = *CommittedFor(*id);
  EXPECT_EQ(r.replaced_asset_id, old_id);
  EXPECT_NE(r.asset_id, old_id);
  EXPECT_EQ(api_.Bytes(r.asset_id), "new content");
  EXPECT_TRUE(api_.IsTrashed(old_id));
  EXPECT_EQ(api_.Calls(Method::kCopyAssetMetadata), 1);
  for (const std::string& a : {album_, other}) {
    std::vector<std::string> members = api_.AlbumAssetIds(a);
    EXPECT_NE(std::find(members.begin(), members.end(), r.asset_id), members.end()) << a;
  }
}

TEST_F(SpoolTest, WritesAfterFsyncBecomeAnOverwriteOfTheFirstCommit) {
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "grow.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "part1", 5).ok());
  ASSERT_TRUE(spool_->Fsync(*id).ok());
  std::string first = spool_->Get(*id)->replaces_asset_id;
  ASSERT_FALSE(first.empty());
  ASSERT_TRUE(spool_->Write(*id, 5, "part2", 5).ok());
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitCommitted(*id));
  CommitResult r = *CommittedFor(*id);
  EXPECT_EQ(r.replaced_asset_id, first);
  EXPECT_EQ(api_.Bytes(r.asset_id), "part1part2");
  EXPECT_TRUE(api_.IsTrashed(first));
  EXPECT_EQ(api_.AlbumAssetIds(album_).size(), 2u);  // trashed members stay listed
}

TEST_F(SpoolTest, RetriesWhileImmichIsDownThenCommits) {
  api_.SetDown(true);
  OpenSpool();
  PendingId id = Put("patient.jpg", "waiting for immich");
  ASSERT_TRUE(WaitFor([&] {
    std::optional<PendingFile> p = spool_->Get(id);
    return p && p->attempts >= 3;
  }));
  EXPECT_EQ(spool_->Get(id)->last_error.code(), absl::StatusCode::kUnavailable);
  absl::Status fsync = spool_->Fsync(id);
  EXPECT_EQ(fsync.code(), absl::StatusCode::kUnavailable) << "fsync reports, does not hang";
  SpoolStats stats = spool_->Stats();
  EXPECT_GE(stats.commits_retried, 3u);
  EXPECT_FALSE(stats.recent_errors.empty());
  EXPECT_LE(stats.recent_errors.size(), 8u);
  api_.SetDown(false);
  ASSERT_TRUE(WaitCommitted(id));
  EXPECT_EQ(api_.AssetCount(), 1u);
  EXPECT_EQ(api_.AlbumAssetIds(album_).size(), 1u);
}

TEST_F(SpoolTest, UnsupportedFileGoesToFailedWithAReason) {
  OpenSpool();
  PendingId id = Put("notes.txt", "plain text");
  ASSERT_TRUE(WaitFor([&] { return FailedCount() == 1; }));
  EXPECT_FALSE(spool_->Get(id));
  SpoolStats stats = spool_->Stats();
  ASSERT_EQ(stats.failed.size(), 1u);
  const FailedFile& f = stats.failed[0];
  EXPECT_EQ(f.name, "notes.txt");
  EXPECT_EQ(f.album_id, album_);
  EXPECT_EQ(ReadText(f.path), "plain text");
  EXPECT_NE(f.reason.find("nsupported"), std::string::npos) << f.reason;
  EXPECT_NE(ReadText(f.reason_path).find("what to do"), std::string::npos);
  EXPECT_EQ(api_.AssetCount(), 0u);
  EXPECT_EQ(SpoolFiles(options_.dir), 0);
  EXPECT_EQ(spool_->Fsync(id).code(), absl::StatusCode::kNotFound);
}

TEST_F(SpoolTest, FsyncOfARejectedFileReturnsTheError) {
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create("no-such-album", "a.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "x", 1).ok());
  absl::Status st = spool_->Fsync(*id);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("a.jpg"), absl::string_view::npos) << st;
  // Open: kept pending until closed, then refused for good.
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitFor([&] { return FailedCount() == 1; }));
  EXPECT_EQ(spool_->Stats().failed.size(), 1u);
}

TEST_F(SpoolTest, CrashBetweenUploadAndAlbumAddResumesWithoutDuplicates) {
  // Every file is uploaded, then its album add fails and the retry is an
  // hour away: the spool is destroyed in that window.
  api_.FailNext(Method::kAddToAlbum, absl::UnavailableError("immich restarting"), 5);
  options_.min_backoff = options_.max_backoff = absl::Hours(1);
  OpenSpool();
  std::vector<std::string> contents;
  std::vector<PendingId> ids;
  for (int i = 0; i < 5; ++i) {
    contents.push_back(absl::StrCat("content of file ", i));
    ids.push_back(Put(absl::StrCat("f", i, ".jpg"), contents.back()));
  }
  ASSERT_TRUE(WaitFor([&] {
    for (PendingId id : ids) {
      std::optional<PendingFile> p = spool_->Get(id);
      if (!p || p->attempts == 0) return false;
    }
    return true;
  }));
  spool_.reset();  // "crash": the journal is all that is left
  EXPECT_EQ(api_.Calls(Method::kUpload), 5);
  EXPECT_TRUE(api_.AlbumAssetIds(album_).empty());
  options_.min_backoff = absl::Milliseconds(10);
  options_.max_backoff = absl::Milliseconds(50);
  const int uploads_before = api_.Calls(Method::kUpload);

  OpenSpool();
  EXPECT_EQ(spool_->List(album_).size(), 5u);
  for (PendingId id : ids) ASSERT_TRUE(WaitCommitted(id));
  EXPECT_EQ(api_.AssetCount(), 5u);
  EXPECT_EQ(api_.Calls(Method::kUpload), uploads_before) << "found by checksum, not re-sent";
  std::vector<std::string> members = api_.AlbumAssetIds(album_);
  ASSERT_EQ(members.size(), 5u);
  for (const std::string& a : members) {
    std::optional<std::string> bytes = api_.Bytes(a);
    ASSERT_TRUE(bytes);
    EXPECT_NE(std::find(contents.begin(), contents.end(), *bytes), contents.end());
    EXPECT_EQ(api_.FindAsset(a)->checksum, ChecksumB64(*bytes));
  }
  // New ids never collide with resumed ones.
  absl::StatusOr<PendingId> fresh = spool_->Create(album_, "new.jpg", absl::Now());
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(*fresh, ids.back());
}

// An orphan whose data cannot be stat()ed for a reason other than ENOENT
// (here ELOOP; EIO or EACCES on a real disk) is not taken for empty and
// removed: it stays for the next start.
TEST_F(SpoolTest, AnOrphanThatCannotBeStatedIsKept) {
  Journal journal(options_.dir);
  ASSERT_TRUE(journal.Init().ok());
  const std::string data = journal.DataPath(12);
  ASSERT_EQ(::symlink(data.c_str(), data.c_str()), 0);  // stat(): ELOOP
  OpenSpool();
  struct stat st;
  EXPECT_EQ(::lstat(data.c_str(), &st), 0) << "the orphan's data was removed";
  EXPECT_TRUE(spool_->Stats().failed.empty());
}

TEST_F(SpoolTest, ARecordWhoseDataCannotBeStatedIsKept) {
  // A file being written when the daemon stopped, whose data stat() cannot
  // see (EIO, EACCES; ELOOP here): not taken for "never written" and removed.
  Journal journal(options_.dir);
  ASSERT_TRUE(journal.Init().ok());
  const std::string data = journal.DataPath(13);
  ASSERT_EQ(::symlink(data.c_str(), data.c_str()), 0);  // stat(): ELOOP
  JournalRecord r;
  r.id = 13;
  r.state = JournalRecord::State::kWriting;
  r.album_id = album_;
  r.name = "w.jpg";
  r.mtime = absl::FromUnixSeconds(1650000000);
  ASSERT_TRUE(journal.Write(r, true).ok());
  OpenSpool();
  struct stat st;
  EXPECT_EQ(::lstat(data.c_str(), &st), 0) << "the record's data was removed";
  EXPECT_TRUE(spool_->Stats().failed.empty());
}

TEST_F(SpoolTest, RecoveryFromAJournalWrittenByHand) {
  Journal journal(options_.dir);
  ASSERT_TRUE(journal.Init().ok());
  auto put = [&](PendingId id, JournalRecord::State state, const std::string& name,
                 const std::string& bytes, bool with_sha) {
    std::ofstream(journal.DataPath(id), std::ios::binary) << bytes;
    JournalRecord r;
    r.id = id;
    r.state = state;
    r.album_id = album_;
    r.name = name;
    r.size = bytes.size();
    r.mtime = absl::FromUnixSeconds(1650000000);
    if (with_sha) {
      Sha1 sha;
      sha.Update(bytes.data(), bytes.size());
      r.sha1_hex = ToHex(sha.Final());
    }
    ASSERT_TRUE(journal.Write(r, true).ok());
  };
  put(7, JournalRecord::State::kPending, "seven.jpg", "released before the crash", true);
  put(8, JournalRecord::State::kWriting, "eight.jpg", "half writt", false);
  put(9, JournalRecord::State::kPending, "nine.jpg", "no checksum yet", false);
  std::ofstream(journal.DataPath(11), std::ios::binary) << "never had a record";
  // An upload link left by the crash is just a second name.
  stdfs::create_hard_link(journal.DataPath(7), journal.UploadPath(7));

  OpenSpool();
  ASSERT_TRUE(WaitCommitted(7));
  ASSERT_TRUE(WaitCommitted(9));
  EXPECT_EQ(api_.AssetCount(), 2u);
  EXPECT_EQ(api_.FindAsset(CommittedFor(9)->asset_id)->checksum, ChecksumB64("no checksum yet"));
  EXPECT_EQ(api_.FindAsset(CommittedFor(7)->asset_id)->file_modified_at,
            absl::FromUnixSeconds(1650000000));
  std::vector<FailedFile> failed = spool_->Stats().failed;
  ASSERT_EQ(failed.size(), 2u);  // 8 (never closed) and 11 (no record)
  std::vector<std::string> names = {failed[0].name, failed[1].name};
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"eight.jpg", "unnamed"}));
  absl::StatusOr<PendingId> fresh = spool_->Create(album_, "new.jpg", absl::Now());
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(*fresh, 11u);
}

TEST_F(SpoolTest, EightWritersAtOnce) {
  OpenSpool();
  constexpr int kWriters = 8;
  std::vector<std::string> contents(kWriters);
  std::vector<PendingId> ids(kWriters);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    for (int i = 0; i < 20000; ++i) absl::StrAppend(&contents[w], "w", w, "-", i, ";");
    threads.emplace_back([&, w] {
      absl::StatusOr<PendingId> id = spool_->Create(album_, absl::StrCat("w", w, ".jpg"),
                                                    absl::Now());
      ASSERT_TRUE(id.ok());
      ids[w] = *id;
      const std::string& c = contents[w];
      for (size_t off = 0; off < c.size(); off += 4096) {
        size_t n = std::min<size_t>(4096, c.size() - off);
        ASSERT_TRUE(spool_->Write(*id, off, c.data() + off, n).ok());
      }
      ASSERT_TRUE(spool_->Release(*id).ok());
    });
  }
  for (std::thread& t : threads) t.join();
  for (PendingId id : ids) ASSERT_TRUE(WaitCommitted(id));
  EXPECT_EQ(api_.AssetCount(), static_cast<size_t>(kWriters));
  EXPECT_EQ(api_.Calls(Method::kUpload), kWriters);
  for (int w = 0; w < kWriters; ++w) {
    EXPECT_EQ(api_.Bytes(CommittedFor(ids[w])->asset_id), contents[w]) << w;
  }
}

TEST_F(SpoolTest, OutOfOrderWritesAreHashedAtCommit) {
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "ooo.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 5, "World", 5).ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "Hello", 5).ok());
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitCommitted(*id));
  std::optional<immich::Asset> a = api_.FindAsset(CommittedFor(*id)->asset_id);
  EXPECT_EQ(a->checksum, ChecksumB64("HelloWorld"));
  EXPECT_EQ(api_.Bytes(a->id), "HelloWorld");
}

TEST_F(SpoolTest, TruncateToZeroRestartsTheStreamingHash) {
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "t.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "first try", 9).ok());
  ASSERT_TRUE(spool_->Truncate(*id, 0).ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "second", 6).ok());
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitCommitted(*id));
  EXPECT_EQ(api_.FindAsset(CommittedFor(*id)->asset_id)->checksum, ChecksumB64("second"));
}

TEST_F(SpoolTest, FullDiskGivesEnospcAndKeepsWhatWasThere) {
  std::atomic<bool> full{false};
  options_.pwrite_for_test = [&](int fd, const void* buf, size_t count, off_t off) -> ssize_t {
    if (!full) return ::pwrite(fd, buf, count, off);
    // Like a real disk: part of the write lands, then no space.
    if (count > 3) {
      ssize_t n = ::pwrite(fd, buf, 3, off);
      if (n > 0) return n;
    }
    errno = ENOSPC;
    return -1;
  };
  options_.settle = absl::Hours(1);
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "big.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "kept", 4).ok());
  full = true;
  absl::Status st = spool_->Write(*id, 4, "does not fit", 12);
  EXPECT_EQ(ToErrno(st), ENOSPC) << st;
  EXPECT_NE(st.message().find("big.jpg"), absl::string_view::npos) << st;
  EXPECT_EQ(spool_->Get(*id)->size, 4u);
  char buf[32];
  absl::StatusOr<size_t> n = spool_->Read(*id, 0, sizeof buf, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "kept");
  full = false;
  // Writing on does not make it whole: the failed buffer may be missing.
  ASSERT_TRUE(spool_->Write(*id, 4, "+more", 5).ok());
  EXPECT_EQ(ToErrno(spool_->Fsync(*id)), ENOSPC);
  EXPECT_EQ(ToErrno(spool_->Get(*id)->write_error), ENOSPC);
  // Cut back to what was written: still marked (a failed write in the middle
  // would leave a hole below the cut). Written again from the start: whole.
  ASSERT_TRUE(spool_->Truncate(*id, 4).ok());
  EXPECT_EQ(ToErrno(spool_->Get(*id)->write_error), ENOSPC);
  ASSERT_TRUE(spool_->Truncate(*id, 0).ok());
  EXPECT_TRUE(spool_->Get(*id)->write_error.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "kept+more", 9).ok());
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(spool_->Fsync(*id).ok());
  ASSERT_TRUE(WaitCommitted(*id));
  EXPECT_EQ(api_.Bytes(CommittedFor(*id)->asset_id), "kept+more");
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
}

TEST_F(SpoolTest, FullTmpfsGivesEnospc) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  std::string small = root_ + "/small";
  stdfs::create_directory(small);
  if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=256k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  options_.dir = small + "/spool";
  options_.settle = absl::Hours(1);
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "huge.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  std::string chunk(64 * 1024, 'z');
  absl::Status st;
  uint64_t written = 0;
  for (int i = 0; i < 16 && st.ok(); ++i) {
    st = spool_->Write(*id, written, chunk.data(), chunk.size());
    if (st.ok()) written += chunk.size();
  }
  EXPECT_EQ(ToErrno(st), ENOSPC) << st;
  EXPECT_GT(written, 0u);
  EXPECT_EQ(spool_->Get(*id)->size, written);
  EXPECT_EQ(stdfs::file_size(options_.dir + "/" + std::to_string(*id) + ".data"), written);
  (void)spool_->Release(*id);  // may itself hit ENOSPC writing the journal
  spool_.reset();
  ::umount2(small.c_str(), MNT_DETACH);
}

// A refused file that cannot be moved to failed/ (say the disk is full)
// stays pending and is retried: never stuck as "committing".
TEST_F(SpoolTest, RefusedFileThatCannotMoveToFailedIsRetried) {
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "notes.txt", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "plain text", 10).ok());
  // failed/ cannot take its reason file.
  std::string blocker = absl::StrCat(options_.dir, "/", *id, ".reason.tmp");
  ASSERT_EQ(::mkdir(blocker.c_str(), 0700), 0);
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitFor([&] { return api_.Calls(Method::kBulkUploadCheck) >= 3; }))
      << "not retried after failed/ refused it";
  EXPECT_TRUE(spool_->Get(*id));
  ASSERT_EQ(::rmdir(blocker.c_str()), 0);
  ASSERT_TRUE(WaitFor([&] { return FailedCount() == 1; }));
  EXPECT_FALSE(spool_->Get(*id));
}

// An fsync waiting on such a file hears of it.
TEST_F(SpoolTest, FsyncOfARefusedFileThatCannotMoveToFailedReturns) {
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "notes.txt", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "plain text", 10).ok());
  std::string blocker = absl::StrCat(options_.dir, "/", *id, ".reason.tmp");
  ASSERT_EQ(::mkdir(blocker.c_str(), 0700), 0);
  ASSERT_TRUE(spool_->Release(*id).ok());
  absl::Status st = spool_->Fsync(*id);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(ToErrno(st), EIO) << st;
  ASSERT_EQ(::rmdir(blocker.c_str()), 0);
}

// A permanent refusal reaches fsync as EIO (with the reason), not as the
// EINVAL/ENOENT of its status code.
TEST_F(SpoolTest, FsyncOfARefusedFileIsEio) {
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create("no-such-album", "a.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "x", 1).ok());
  absl::Status st = spool_->Fsync(*id);
  EXPECT_EQ(ToErrno(st), EIO) << st;
  EXPECT_NE(st.message().find("a.jpg"), absl::string_view::npos) << st;
  absl::StatusOr<PendingId> txt = spool_->Create(album_, "notes.txt", absl::Now());
  ASSERT_TRUE(txt.ok());
  ASSERT_TRUE(spool_->Write(*txt, 0, "plain", 5).ok());
  st = spool_->Fsync(*txt);
  EXPECT_EQ(ToErrno(st), EIO) << st;
  EXPECT_NE(st.message().find("nsupported"), absl::string_view::npos) << st;
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(spool_->Release(*txt).ok());
}

// Renamed while a retryable commit of the temp name fails: the new name
// commits after the settle time, not after the failure's backoff.
TEST_F(SpoolTest, RenameDuringAFailingCommitSettlesInsteadOfBackingOff) {
  options_.min_backoff = absl::Seconds(600);
  options_.max_backoff = absl::Seconds(600);
  OpenSpool();
  HoldCallsTo(Method::kBulkUploadCheck);
  api_.FailNext(Method::kBulkUploadCheck, absl::UnavailableError("down"));
  PendingId id = Put("clip.mp4.part", "renamed mid-commit");
  ASSERT_TRUE(held_.WaitForNotificationWithTimeout(kDeadline));
  ASSERT_TRUE(spool_->Rename(id, album_, "clip.mp4", std::nullopt).ok());
  release_.Notify();
  ASSERT_TRUE(WaitCommitted(id)) << "waited for the backoff";
  EXPECT_EQ(CommittedFor(id)->name, "clip.mp4");
}

// The same bytes as an asset already in the album, unlinked mid-commit: the
// commit added nothing, so its undo must not trash the existing asset.
TEST_F(SpoolTest, UnlinkDuringCommitOfADuplicateKeepsTheExistingAsset) {
  std::string existing = api_.AddAsset("a.jpg", "same bytes", {album_});
  OpenSpool();
  HoldCallsTo(Method::kAddToAlbum);
  PendingId id = Put("b.jpg", "same bytes");
  ASSERT_TRUE(held_.WaitForNotificationWithTimeout(kDeadline));
  ASSERT_TRUE(spool_->Unlink(id).ok());
  release_.Notify();
  ASSERT_TRUE(WaitFor([&] { return spool_->Stats().commits_in_flight == 0; }));
  EXPECT_FALSE(api_.IsTrashed(existing)) << "the user's a.jpg went to the trash";
  std::vector<std::string> ids = api_.AlbumAssetIds(album_);
  EXPECT_EQ(ids, std::vector<std::string>{existing});
  EXPECT_EQ(api_.Calls(Method::kDeleteAssets), 0);
  EXPECT_EQ(api_.Calls(Method::kRemoveFromAlbum), 0);
}

// A duplicate of an asset in another album, unlinked mid-commit: it leaves
// this album again but is not trashed.
TEST_F(SpoolTest, UnlinkDuringCommitOfADuplicateFromElsewhereOnlyLeavesTheAlbum) {
  std::string other = api_.AddAlbum("Other");
  std::string existing = api_.AddAsset("a.jpg", "same bytes", {other});
  OpenSpool();
  HoldCallsTo(Method::kAddToAlbum);
  PendingId id = Put("b.jpg", "same bytes");
  ASSERT_TRUE(held_.WaitForNotificationWithTimeout(kDeadline));
  ASSERT_TRUE(spool_->Unlink(id).ok());
  release_.Notify();
  ASSERT_TRUE(WaitFor([&] {
    return api_.Calls(Method::kRemoveFromAlbum) > 0 && spool_->Stats().commits_in_flight == 0;
  }));
  EXPECT_FALSE(api_.IsTrashed(existing));
  EXPECT_TRUE(api_.AlbumAssetIds(album_).empty());
  EXPECT_EQ(api_.AlbumAssetIds(other), std::vector<std::string>{existing});
}

// Two spools (two mounts) on one directory would corrupt each other: the
// second refuses to open, naming the cause; it opens once the first closed.
TEST_F(SpoolTest, SecondSpoolOnTheSameDirectoryIsRefused) {
  OpenSpool();
  absl::StatusOr<std::unique_ptr<Spool>> second = Spool::Open(options_, &api_);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use by another immichfs mount"),
            absl::string_view::npos) << second.status();
  EXPECT_NE(second.status().message().find(absl::StrCat("pid ", ::getpid())),
            absl::string_view::npos) << second.status();
  EXPECT_NE(second.status().message().find("-o cache_dir="), absl::string_view::npos);
  spool_.reset();
  second = Spool::Open(options_, &api_);
  EXPECT_TRUE(second.ok()) << second.status();
}

// Writes to an unlinked but open file during its commit do not change the
// bytes being uploaded, and leave nothing behind in the spool.
TEST_F(SpoolTest, WritesToAnUnlinkedFileDuringItsCommitDoNotReachTheUpload) {
  OpenSpool();
  HoldCallsTo(Method::kUpload);
  absl::StatusOr<PendingId> id = spool_->Create(album_, "open.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  const std::string bytes = "original bytes";
  ASSERT_TRUE(spool_->Write(*id, 0, bytes.data(), bytes.size()).ok());
  std::thread syncer([&] { (void)spool_->Fsync(*id); });
  ASSERT_TRUE(held_.WaitForNotificationWithTimeout(kDeadline));
  ASSERT_TRUE(spool_->Unlink(*id).ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "CHANGED", 7).ok());
  char buf[32];
  absl::StatusOr<size_t> n = spool_->Read(*id, 0, sizeof buf, buf);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(buf, *n), "CHANGEDl bytes");
  release_.Notify();
  ASSERT_TRUE(WaitFor([&] { return spool_->Stats().commits_in_flight == 0; }));
  std::vector<std::string> ids = api_.AlbumAssetIds(album_);
  for (const std::string& a : ids) EXPECT_EQ(api_.Bytes(a), bytes);
  ASSERT_TRUE(spool_->Release(*id).ok());
  syncer.join();  // an fsync of an unlinked file returns once it is gone
  EXPECT_EQ(SpoolFiles(options_.dir), 0);
}

// fdatasync reports a writeback error once; the spool remembers it: a later
// flush fails too, and the file stays pending as incomplete instead of
// committing bytes that may never have reached the disk -- until it is
// written again from the start.
TEST_F(SpoolTest, FdatasyncErrorIsStickyAndKeepsTheFileIncompleteUntilRewritten) {
  FailFdatasync(1);
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "lost.jpg", absl::Now());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "maybe lost", 10).ok());
  EXPECT_EQ(ToErrno(spool_->Flush(*id)), EIO);
  EXPECT_EQ(ToErrno(spool_->Flush(*id)), EIO) << "the error was forgotten";
  EXPECT_FALSE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitFor([&] {
    return spool_->Get(*id)->state == PendingFile::State::kIncomplete;
  }));
  absl::SleepFor(absl::Milliseconds(300));  // 15 settle times
  EXPECT_EQ(spool_->Get(*id)->state, PendingFile::State::kIncomplete);
  EXPECT_EQ(ToErrno(spool_->Get(*id)->write_error), EIO);
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_EQ(api_.AssetCount(), 0u);
  EXPECT_EQ(FailedCount(), 0u);
  // A cut keeps bytes the disk may have lost: still incomplete.
  ASSERT_TRUE(spool_->Truncate(*id, 5).ok());
  EXPECT_EQ(ToErrno(spool_->Get(*id)->write_error), EIO);
  // Written again from the start (O_TRUNC): commits.
  ASSERT_TRUE(spool_->OpenHandle(*id).ok());
  ASSERT_TRUE(spool_->Truncate(*id, 0).ok());
  ASSERT_TRUE(spool_->Write(*id, 0, "written again", 13).ok());
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitCommitted(*id));
  EXPECT_EQ(api_.Bytes(CommittedFor(*id)->asset_id), "written again");
}

// A big file written in order is written back in steps while it streams in,
// and the pages of each step are dropped once it is on disk.
TEST_F(SpoolTest, BigSequentialFileLeavesThePageCacheBehindTheWriter) {
  struct statfs fs;
  ASSERT_EQ(::statfs(root_.c_str(), &fs), 0);
  if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "tmpfs keeps its pages: nothing to drop";
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "big.mov", absl::Now());
  ASSERT_TRUE(id.ok());
  constexpr size_t kMiB = 1 << 20;
  std::string all;
  for (int i = 0; i < 40; ++i) {
    std::string piece(kMiB, static_cast<char>('a' + i % 26));
    piece[0] = static_cast<char>(i);
    ASSERT_TRUE(spool_->Write(*id, all.size(), piece.data(), piece.size()).ok());
    all += piece;
  }
  // Resident pages of the first 8 MiB of the spool file (mincore).
  const std::string data = absl::StrCat(options_.dir, "/", *id, ".data");
  UniqueFd fd(::open(data.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid()) << data;
  void* map = ::mmap(nullptr, 8 * kMiB, PROT_READ, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(map, MAP_FAILED);
  std::vector<unsigned char> pages(8 * kMiB / ::sysconf(_SC_PAGESIZE));
  ASSERT_EQ(::mincore(map, 8 * kMiB, pages.data()), 0);
  ::munmap(map, 8 * kMiB);
  size_t resident =
      std::count_if(pages.begin(), pages.end(), [](unsigned char c) { return c & 1; });
  EXPECT_LT(resident, pages.size() / 4) << resident << " of " << pages.size() << " pages cached";
  // Nothing lost: the upload (read back from disk) has every byte.
  ASSERT_TRUE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitCommitted(*id));
  std::optional<immich::Asset> a = api_.FindAsset(CommittedFor(*id)->asset_id);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->checksum, ChecksumB64(all));
}

// Waiting for the early writeback consumes the kernel's only report of a
// write error, so it must stick like an fdatasync error: the file never
// commits as it stands and stays pending as incomplete.
TEST_F(SpoolTest, WritebackErrorWhileStreamingIsSticky) {
  std::atomic<int> waits{0};
  options_.writeback_wait_for_test = [&](int, off_t, off_t) {
    ++waits;
    errno = EIO;
    return -1;
  };
  OpenSpool();
  absl::StatusOr<PendingId> id = spool_->Create(album_, "video.mov", absl::Now());
  ASSERT_TRUE(id.ok());
  std::string piece(1 << 20, 'v');
  absl::Status failed;
  for (uint64_t at = 0; at < 24 * piece.size() && failed.ok(); at += piece.size()) {
    failed = spool_->Write(*id, at, piece.data(), piece.size());
  }
  ASSERT_GE(waits.load(), 1);
  EXPECT_EQ(ToErrno(failed), EIO) << "writes after the error should fail at once: " << failed;
  EXPECT_EQ(ToErrno(spool_->Flush(*id)), EIO);
  EXPECT_FALSE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitFor([&] {
    return spool_->Get(*id)->state == PendingFile::State::kIncomplete;
  }));
  EXPECT_EQ(ToErrno(spool_->Fsync(*id)), EIO);
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_EQ(FailedCount(), 0u);
}

// An fsync of an open file commits what was written after its fdatasync as
// well; those bytes are synced before they are sent, and a failure there
// sends nothing (a failed writeback leaves pages that read back stale).
TEST_F(SpoolTest, BytesWrittenAfterAnFsyncAreSyncedBeforeTheyAreSent) {
  options_.commit_workers = 1;
  FailFdatasync(0);
  OpenSpool();
  // The only worker is busy with another file meanwhile.
  HoldCallsTo(Method::kBulkUploadCheck);
  absl::StatusOr<PendingId> other = spool_->Create(album_, "other.jpg", absl::Now());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(spool_->Write(*other, 0, "other", 5).ok());
  ASSERT_TRUE(spool_->Release(*other).ok());
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
  // The other file's close and this fsync have synced (a write waits for the
  // rest of the fsync's durable step: it holds the file's I/O lock).
  ASSERT_TRUE(WaitFor([&] { return syncs_.load() >= 2; }));
  ASSERT_TRUE(spool_->Write(*id, 5, " second", 7).ok());
  failing_syncs_ = 1 << 30;
  release_.Notify();
  ASSERT_TRUE(fsync_done.WaitForNotificationWithTimeout(kDeadline));
  syncer.join();
  EXPECT_EQ(ToErrno(fsynced), EIO) << fsynced;
  EXPECT_EQ(api_.Calls(Method::kUpload), 1) << "only the other file may be uploaded";
  EXPECT_FALSE(spool_->Release(*id).ok());
  ASSERT_TRUE(WaitFor([&] {
    return spool_->Get(*id)->state == PendingFile::State::kIncomplete;
  }));
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
  EXPECT_EQ(FailedCount(), 0u);
}

}  // namespace
}  // namespace immichfs::cache
