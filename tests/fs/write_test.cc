// Level 2: the write path of fs::Filesystem, end to end to a real spool and
// FakeImmichApi: pending files, commits, the hand-over, the six
// compatibility scenarios of the issue, uploaders' temp files, overwrites.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "common/iso_time.h"
#include "tests/fs/write_fixture.h"

namespace immichfs::fs {
namespace {

using fake::Method;

const absl::Time kT1 = absl::FromUnixSeconds(1'600'000'000);

TEST_F(WriteTest, PendingFileIsVisibleReadableAndStatsRightAtOnce) {
  api_.AddAlbum("A");
  Start();
  Ino a = MustLookup(kRootIno, "A");
  Ino f = Put(a, "new.jpg", "pending bytes", kT1);
  EXPECT_EQ(Listing(a), std::vector<std::string>{"new.jpg"});
  absl::StatusOr<Attr> attr = Fs().GetAttr(f);
  ASSERT_TRUE(attr.ok()) << attr.status();
  EXPECT_TRUE(S_ISREG(attr->mode));
  EXPECT_EQ(attr->size, 13u);
  EXPECT_EQ(immichfs::FromTimespec(attr->mtime), kT1);
  EXPECT_EQ(MustLookup(a, "new.jpg"), f);
  EXPECT_EQ(ReadAll(f), "pending bytes");
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);  // settle= is an hour here
}

// Compatibility 1: the upload keeps name, mtime and content; the pending
// entry becomes the asset with the same inode, name and size.
TEST_F(WriteTest, RoundTripKeepsNameMtimeContentAndInode) {
  std::string album = api_.AddAlbum("A");
  Start();
  Ino a = MustLookup(kRootIno, "A");
  Ino f = Put(a, "IMG_1.jpg", "the photo", kT1);
  ASSERT_TRUE(Commit(f).ok());
  std::map<std::string, immich::Asset> in = InImmich(album);
  ASSERT_EQ(in.size(), 1u);
  const immich::Asset& asset = in.at("IMG_1.jpg");
  EXPECT_EQ(asset.file_modified_at, kT1);
  EXPECT_EQ(asset.file_created_at, kT1);
  EXPECT_EQ(api_.Bytes(asset.id), "the photo");
  // Handed over: same inode, name, size and mtime; reads come from Immich.
  EXPECT_EQ(Listing(a), std::vector<std::string>{"IMG_1.jpg"});
  EXPECT_EQ(MustLookup(a, "IMG_1.jpg"), f);
  absl::StatusOr<Attr> attr = Fs().GetAttr(f);
  ASSERT_TRUE(attr.ok()) << attr.status();
  EXPECT_EQ(attr->size, 9u);
  EXPECT_EQ(immichfs::FromTimespec(attr->mtime), kT1);
  int downloads = api_.Calls(Method::kDownload);
  EXPECT_EQ(ReadAll(f), "the photo");
  EXPECT_GT(api_.Calls(Method::kDownload), downloads);
  EXPECT_TRUE(notifier_.SawAttr(f));
}

TEST_F(WriteTest, SettledFileCommitsWithoutFsync) {
  std::string album = api_.AddAlbum("A");
  Start(absl::Milliseconds(20));
  Ino a = MustLookup(kRootIno, "A");
  Put(a, "settled.jpg", "settles", kT1);
  WaitIdle();
  ASSERT_EQ(InImmich(album).count("settled.jpg"), 1u);
  EXPECT_EQ(InImmich(album).at("settled.jpg").file_modified_at, kT1);
  EXPECT_EQ(Listing(a), std::vector<std::string>{"settled.jpg"});
}

// Compatibility 2: the same file into two albums is stored once.
TEST_F(WriteTest, SameFileIntoTwoAlbumsIsStoredOnce) {
  std::string a_id = api_.AddAlbum("A");
  std::string b_id = api_.AddAlbum("B");
  Start();
  ASSERT_TRUE(Commit(Put(MustLookup(kRootIno, "A"), "twice.jpg", "same bytes")).ok());
  ASSERT_TRUE(Commit(Put(MustLookup(kRootIno, "B"), "twice.jpg", "same bytes")).ok());
  EXPECT_EQ(api_.AssetCount(), 1u);
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
  EXPECT_EQ(InImmich(a_id).at("twice.jpg").id, InImmich(b_id).at("twice.jpg").id);
  EXPECT_EQ(Listing(MustLookup(kRootIno, "B")), std::vector<std::string>{"twice.jpg"});
}

// Compatibility 3: a large file into A, then B: the second commit sends no data.
TEST_F(WriteTest, LargeFileIntoSecondAlbumSendsNoData) {
  std::string a_id = api_.AddAlbum("A");
  std::string b_id = api_.AddAlbum("B");
  Start();
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  ASSERT_TRUE(Commit(Put(MustLookup(kRootIno, "A"), "big.mp4", big)).ok());
  ASSERT_EQ(api_.Calls(Method::kUpload), 1);
  ASSERT_TRUE(Commit(Put(MustLookup(kRootIno, "B"), "big.mp4", big)).ok());
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
  EXPECT_EQ(InImmich(b_id).at("big.mp4").id, InImmich(a_id).at("big.mp4").id);
}

// Compatibility 4: delete from one of two albums keeps it in the other.
TEST_F(WriteTest, DeleteFromOneOfTwoAlbumsKeepsItInTheOther) {
  std::string a_id = api_.AddAlbum("A");
  std::string b_id = api_.AddAlbum("B");
  std::string x = api_.AddAsset("keep.jpg", "kept", {a_id, b_id});
  Start();
  Ino a = MustLookup(kRootIno, "A");
  ASSERT_TRUE(Fs().Unlink(a, "keep.jpg").ok());
  EXPECT_FALSE(api_.IsTrashed(x));
  EXPECT_EQ(api_.AlbumAssetIds(a_id), std::vector<std::string>{});
  EXPECT_EQ(api_.AlbumAssetIds(b_id), std::vector<std::string>{x});
  EXPECT_EQ(Listing(a), std::vector<std::string>{});
  EXPECT_EQ(Listing(MustLookup(kRootIno, "B")), std::vector<std::string>{"keep.jpg"});
}

// Compatibility 5: delete from its only album moves it to the trash; Immich
// keeps the album link (a restore brings it back into the album).
TEST_F(WriteTest, DeleteFromOnlyAlbumMovesItToTheTrash) {
  std::string a_id = api_.AddAlbum("A");
  std::string x = api_.AddAsset("gone.jpg", "gone", {a_id});
  Start();
  Ino a = MustLookup(kRootIno, "A");
  ASSERT_TRUE(Fs().Unlink(a, "gone.jpg").ok());
  EXPECT_TRUE(api_.IsTrashed(x));
  EXPECT_EQ(api_.AlbumAssetIds(a_id), std::vector<std::string>{x});
  EXPECT_EQ(Listing(a), std::vector<std::string>{});
  EXPECT_EQ(LookupErrno(a, "gone.jpg"), ENOENT);
  EXPECT_EQ(api_.Calls(Method::kDeleteAssets), 1);
}

// Compatibility 6: re-uploading a trashed file into another album restores
// it, takes it out of its old album and puts it into the new one.
TEST_F(WriteTest, ReuploadOfTrashedFileRestoresItIntoTheNewAlbum) {
  std::string old_id = api_.AddAlbum("Old");
  std::string new_id = api_.AddAlbum("New");
  std::string x = api_.AddAsset("back.jpg", "coming back", {old_id});
  Start();
  ASSERT_TRUE(Fs().Unlink(MustLookup(kRootIno, "Old"), "back.jpg").ok());
  ASSERT_TRUE(api_.IsTrashed(x));
  Ino n = MustLookup(kRootIno, "New");
  ASSERT_TRUE(Commit(Put(n, "back.jpg", "coming back")).ok());
  EXPECT_FALSE(api_.IsTrashed(x));
  EXPECT_EQ(api_.AlbumAssetIds(old_id), std::vector<std::string>{});
  EXPECT_EQ(api_.AlbumAssetIds(new_id), std::vector<std::string>{x});
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_EQ(Listing(n), std::vector<std::string>{"back.jpg"});
}

TEST_F(WriteTest, DuplicateUnderAnotherNameKeepsTheNameTheUserWrote) {
  std::string a_id = api_.AddAlbum("A");
  api_.AddAlbum("B");
  std::string x = api_.AddAsset("original.jpg", "dup bytes", {a_id});
  Start();
  Ino b = MustLookup(kRootIno, "B");
  Ino f = Put(b, "copy.jpg", "dup bytes");
  ASSERT_TRUE(Commit(f).ok());
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_EQ(Listing(b), std::vector<std::string>{"copy.jpg"});
  absl::StatusOr<Entry> e = Fs().Lookup(b, "copy.jpg");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->attr.size, 9u);
}

// rsync: ".NAME.XXXXXX", utimens after close, then rename to NAME.
TEST_F(WriteTest, RsyncTempFileCommitsOnceUnderTheFinalName) {
  std::string album = api_.AddAlbum("A");
  Start(absl::Milliseconds(20));
  Ino a = MustLookup(kRootIno, "A");
  Put(a, ".IMG_2.jpg.a1B2c3", "rsynced", kT1);
  ASSERT_TRUE(Fs().Rename(a, ".IMG_2.jpg.a1B2c3", a, "IMG_2.jpg", 0).ok());
  WaitIdle();
  std::map<std::string, immich::Asset> in = InImmich(album);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in.at("IMG_2.jpg").file_modified_at, kT1);
  EXPECT_EQ(Listing(a), std::vector<std::string>{"IMG_2.jpg"});
}

// WinSCP: NAME.filepart is held (never uploaded) until renamed.
TEST_F(WriteTest, FilepartWaitsForItsRenameThenCommits) {
  std::string album = api_.AddAlbum("A");
  Start(absl::Milliseconds(20));
  Ino a = MustLookup(kRootIno, "A");
  Ino f = Put(a, "clip.mp4.filepart", "winscp bytes");
  ASSERT_TRUE(WaitFor([&] {
    std::vector<cache::PendingFile> l = spool_->List("");
    return l.size() == 1 && l[0].attempts >= 2;
  }));
  EXPECT_EQ(api_.Calls(Method::kBulkUploadCheck), 0);
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  // fsync of a temp-named file makes it durable, but does not upload it.
  absl::StatusOr<OpenResult> o = Fs().Open(f, O_RDONLY);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(Fs().Fsync(f, o->fh).ok());
  ASSERT_TRUE(Fs().Release(f, o->fh).ok());
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  ASSERT_TRUE(Fs().Rename(a, "clip.mp4.filepart", a, "clip.mp4", 0).ok());
  WaitIdle();
  EXPECT_EQ(InImmich(album).count("clip.mp4"), 1u);
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
  EXPECT_EQ(Listing(a), std::vector<std::string>{"clip.mp4"});
}

TEST_F(WriteTest, PendingFileRenamesWithinAndAcrossAlbums) {
  std::string a_id = api_.AddAlbum("A");
  std::string b_id = api_.AddAlbum("B");
  Start();
  Ino a = MustLookup(kRootIno, "A");
  Ino b = MustLookup(kRootIno, "B");
  Ino f = Put(a, "one.jpg", "moving");
  ASSERT_TRUE(Fs().Rename(a, "one.jpg", a, "two.jpg", 0).ok());
  ASSERT_TRUE(Fs().Rename(a, "two.jpg", b, "three.jpg", 0).ok());
  EXPECT_EQ(Listing(a), std::vector<std::string>{});
  EXPECT_EQ(Listing(b), std::vector<std::string>{"three.jpg"});
  EXPECT_EQ(MustLookup(b, "three.jpg"), f);
  ASSERT_TRUE(Commit(f).ok());
  EXPECT_EQ(InImmich(a_id).size(), 0u);
  EXPECT_EQ(InImmich(b_id).count("three.jpg"), 1u);
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
}

TEST_F(WriteTest, UnlinkedPendingFileIsNeverUploadedButOpenHandlesWork) {
  api_.AddAlbum("A");
  Start(absl::Milliseconds(20));
  Ino a = MustLookup(kRootIno, "A");
  Put(a, "drop.jpg", "dropped");
  ASSERT_TRUE(Fs().Unlink(a, "drop.jpg").ok());
  absl::StatusOr<CreateResult> c = Fs().Create(a, "open.jpg", O_CREAT | O_RDWR);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(Fs().Write(c->entry.attr.ino, c->open.fh, 0, "still here", 10).ok());
  ASSERT_TRUE(Fs().Unlink(a, "open.jpg").ok());
  EXPECT_EQ(Listing(a), std::vector<std::string>{});
  char buf[16];
  absl::StatusOr<size_t> n = Fs().Read(c->entry.attr.ino, c->open.fh, 0, sizeof buf, buf);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(std::string(buf, *n), "still here");
  absl::StatusOr<Attr> attr = Fs().GetAttr(c->entry.attr.ino, c->open.fh);
  ASSERT_TRUE(attr.ok()) << attr.status();
  EXPECT_EQ(attr->size, 10u);
  ASSERT_TRUE(Fs().Release(c->entry.attr.ino, c->open.fh).ok());
  WaitIdle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_EQ(api_.Calls(Method::kBulkUploadCheck), 0);
}

TEST_F(WriteTest, OverwriteWithOTruncReplacesTheAssetInEveryAlbum) {
  std::string a_id = api_.AddAlbum("A");
  std::string b_id = api_.AddAlbum("B");
  std::string x = api_.AddAsset("edit.jpg", "old content", {a_id, b_id});
  Start();
  Ino a = MustLookup(kRootIno, "A");
  Ino b = MustLookup(kRootIno, "B");
  EXPECT_EQ(Listing(b), std::vector<std::string>{"edit.jpg"});
  Ino f = MustLookup(a, "edit.jpg");
  absl::StatusOr<OpenResult> o = Fs().Open(f, O_WRONLY | O_TRUNC);
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_TRUE(Fs().Write(f, o->fh, 0, "new content!", 12).ok());
  ASSERT_TRUE(Fs().Release(f, o->fh).ok());
  // Before the commit, both albums show the new content under the old inode.
  EXPECT_EQ(Listing(a), std::vector<std::string>{"edit.jpg"});
  EXPECT_EQ(Fs().GetAttr(f)->size, 12u);
  EXPECT_EQ(List(b).entries.at("edit.jpg").attr.size, 12u);
  EXPECT_EQ(ReadAll(f), "new content!");
  ASSERT_TRUE(Commit(f).ok());
  EXPECT_TRUE(api_.IsTrashed(x));
  ASSERT_EQ(InImmich(a_id).count("edit.jpg"), 1u);
  std::string y = InImmich(a_id).at("edit.jpg").id;
  EXPECT_NE(y, x);
  EXPECT_EQ(InImmich(b_id).at("edit.jpg").id, y);
  EXPECT_EQ(api_.Bytes(y), "new content!");
  EXPECT_EQ(MustLookup(a, "edit.jpg"), f);
  EXPECT_EQ(Listing(b), std::vector<std::string>{"edit.jpg"});
  EXPECT_EQ(ReadAll(MustLookup(b, "edit.jpg")), "new content!");
}

TEST_F(WriteTest, RenameOntoAnAssetOverwritesIt) {
  std::string a_id = api_.AddAlbum("A");
  std::string x = api_.AddAsset("target.jpg", "before", {a_id});
  Start();
  Ino a = MustLookup(kRootIno, "A");
  Put(a, "target.jpg.part", "after");
  ASSERT_EQ(ToErrno(Fs().Rename(a, "target.jpg.part", a, "target.jpg", RENAME_NOREPLACE)),
            EEXIST);
  ASSERT_TRUE(Fs().Rename(a, "target.jpg.part", a, "target.jpg", 0).ok());
  EXPECT_EQ(Listing(a), std::vector<std::string>{"target.jpg"});
  Ino f = MustLookup(a, "target.jpg");
  EXPECT_EQ(ReadAll(f), "after");
  ASSERT_TRUE(Commit(f).ok());
  EXPECT_TRUE(api_.IsTrashed(x));
  EXPECT_EQ(api_.Bytes(InImmich(a_id).at("target.jpg").id), "after");
  EXPECT_EQ(Listing(a), std::vector<std::string>{"target.jpg"});
}

TEST_F(WriteTest, UploadedAssetCannotBeModifiedInPlace) {
  std::string a_id = api_.AddAlbum("A");
  api_.AddAsset("fixed.jpg", "fixed", {a_id});
  Start();
  Ino f = MustLookup(MustLookup(kRootIno, "A"), "fixed.jpg");
  for (int flags : {O_WRONLY, O_RDWR, O_WRONLY | O_APPEND}) {
    EXPECT_EQ(ToErrno(Fs().Open(f, flags).status()), EPERM) << flags;
  }
  SetAttrRequest trunc;
  trunc.size = 2;
  EXPECT_EQ(ToErrno(Fs().SetAttr(f, std::nullopt, trunc).status()), EPERM);
  // chmod, chown and utimens succeed and change nothing (rsync -a).
  SetAttrRequest other;
  other.ignored = true;
  other.mtime = absl::ToTimespec(kT1);
  absl::StatusOr<Attr> attr = Fs().SetAttr(f, std::nullopt, other);
  ASSERT_TRUE(attr.ok()) << attr.status();
  EXPECT_EQ(attr->mode & 0777, 0644u);
  EXPECT_NE(immichfs::FromTimespec(attr->mtime), kT1);
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
}

TEST_F(WriteTest, FullSpoolDiskGivesEnospcAndKeepsWhatWasThere) {
  api_.AddAlbum("A");
  Start();
  Ino a = MustLookup(kRootIno, "A");
  absl::StatusOr<CreateResult> c = Fs().Create(a, "full.jpg", O_CREAT | O_WRONLY);
  ASSERT_TRUE(c.ok()) << c.status();
  Ino f = c->entry.attr.ino;
  ASSERT_TRUE(Fs().Write(f, c->open.fh, 0, "kept", 4).ok());
  disk_full_ = true;
  EXPECT_EQ(ToErrno(Fs().Write(f, c->open.fh, 4, "lost", 4).status()), ENOSPC);
  disk_full_ = false;
  ASSERT_TRUE(Fs().Release(f, c->open.fh).ok());
  EXPECT_EQ(ReadAll(f), "kept");
  EXPECT_EQ(Fs().GetAttr(f)->size, 4u);
}

TEST_F(WriteTest, FsyncWaitsForImmichAndReportsItsError) {
  std::string album = api_.AddAlbum("A");
  Start();
  Ino a = MustLookup(kRootIno, "A");
  absl::StatusOr<CreateResult> c = Fs().Create(a, "sync.jpg", O_CREAT | O_WRONLY);
  ASSERT_TRUE(c.ok()) << c.status();
  Ino f = c->entry.attr.ino;
  ASSERT_TRUE(Fs().Write(f, c->open.fh, 0, "synced", 6).ok());
  api_.SetDown(true);
  EXPECT_EQ(ToErrno(Fs().Fsync(f, c->open.fh)), EIO);
  EXPECT_TRUE(InImmich(album).empty());
  api_.SetDown(false);
  ASSERT_TRUE(Fs().Fsync(f, c->open.fh).ok());
  EXPECT_EQ(InImmich(album).count("sync.jpg"), 1u);  // in Immich when fsync returns
  EXPECT_EQ(Listing(a), std::vector<std::string>{"sync.jpg"});
  ASSERT_TRUE(Fs().Release(f, c->open.fh).ok());
  WaitIdle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
  EXPECT_EQ(MustLookup(a, "sync.jpg"), f);
}

TEST_F(WriteTest, ReadOnlyWithoutSpool) {
  api_.AddAlbum("A");
  FsOptions o;
  Filesystem fs(&api_, &reads_, o);
  absl::StatusOr<Entry> a = fs.Lookup(kRootIno, "A");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(ToErrno(fs.Create(a->attr.ino, "x.jpg", O_CREAT | O_WRONLY).status()), EROFS);
  EXPECT_EQ(ToErrno(fs.MkDir(kRootIno, "B").status()), EROFS);
  EXPECT_EQ(ToErrno(fs.Unlink(a->attr.ino, "x.jpg")), EROFS);
}

// A move that fails must not cost the pending file it would have replaced.
TEST_F(WriteTest, FailedMoveOntoPendingFileKeepsThePendingFile) {
  std::string a_id = api_.AddAlbum("A");
  std::string b_id = api_.AddAlbum("B");
  api_.AddAsset("pic.jpg", "uploaded", {a_id});
  Start();
  Ino a = MustLookup(kRootIno, "A");
  Ino b = MustLookup(kRootIno, "B");
  Ino p = Put(b, "pic.jpg", "only in the spool");
  api_.FailNext(Method::kAddToAlbum, absl::UnavailableError("Immich is down"));
  EXPECT_EQ(ToErrno(Fs().Rename(a, "pic.jpg", b, "pic.jpg", 0)), EIO);
  ASSERT_EQ(MustLookup(b, "pic.jpg"), p);
  EXPECT_EQ(ReadAll(p), "only in the spool");
  ASSERT_TRUE(Commit(p).ok());
  EXPECT_EQ(api_.Bytes(InImmich(b_id).at("pic.jpg").id), "only in the spool");
}

// A pending-onto-pending rename that fails keeps the target's bytes.
TEST_F(WriteTest, FailedRenameOntoPendingFileKeepsTheTarget) {
  std::string a_id = api_.AddAlbum("A");
  Start();
  Ino a = MustLookup(kRootIno, "A");
  Ino t = Put(a, "t.jpg", "target bytes");
  Put(a, "s.jpg.part", "source bytes");
  std::optional<cache::PendingFile> tq = spool_->FindByName(a_id, "t.jpg");
  std::optional<cache::PendingFile> sq = spool_->FindByName(a_id, "s.jpg.part");
  ASSERT_TRUE(tq && sq);
  // The source's journal record cannot be written: its rename fails.
  std::string blocker = absl::StrCat(root_, "/spool/", sq->id, ".meta.tmp");
  ASSERT_EQ(::mkdir(blocker.c_str(), 0700), 0);
  EXPECT_FALSE(Fs().Rename(a, "s.jpg.part", a, "t.jpg", 0).ok());
  ASSERT_EQ(::rmdir(blocker.c_str()), 0);
  EXPECT_TRUE(spool_->Get(tq->id).has_value()) << "the target's bytes were dropped";
  EXPECT_EQ(ReadAll(t), "target bytes");
}

}  // namespace
}  // namespace immichfs::fs
