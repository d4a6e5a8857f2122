// Level 2: namespace changes (mkdir, rmdir, rename, link, unlink rules),
// the name policy and /.immich, over FakeImmichApi and a real spool.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "fs/name_policy.h"
#include "tests/fs/write_fixture.h"

namespace immichfs::fs {
namespace {

using fake::Method;

TEST(NamePolicyTest, TemporaryFormsOfUploaders) {
  EXPECT_EQ(FinalNameOf(".IMG_1.jpg.a1B2c3"), "IMG_1.jpg");  // rsync
  EXPECT_EQ(FinalNameOf("IMG_1.jpg.filepart"), "IMG_1.jpg");  // WinSCP
  EXPECT_EQ(FinalNameOf("clip.MP4.PART"), "clip.MP4");
  EXPECT_EQ(FinalNameOf("a.jpg.tmp"), "a.jpg");
  EXPECT_EQ(FinalNameOf("a.jpg~"), "a.jpg");
  EXPECT_EQ(FinalNameOf("IMG_1.jpg"), "IMG_1.jpg");
  EXPECT_EQ(FinalNameOf(".hidden.jpg"), ".hidden.jpg");
  EXPECT_EQ(FinalNameOf(".abcdef.jpg"), ".abcdef.jpg");
  EXPECT_FALSE(IsTempName("IMG_1.jpg"));
  EXPECT_TRUE(IsTempName(".x.heic.Zz9aa0"));
}

TEST_F(WriteTest, UnsupportedTypesAreRefusedAtCreateWithEopnotsupp) {
  api_.AddAlbum("A");
  Start();
  Ino a = MustLookup(kRootIno, "A");
  for (const char* name : {"notes.txt", "archive.zip", "noext", ".notes.txt.AbCdEf",
                           "notes.txt.filepart", "._IMG_1.jpg", ".DS_Store",
                           "._IMG_1.jpg.filepart"}) {
    EXPECT_EQ(ToErrno(Fs().Create(a, name, O_CREAT | O_WRONLY).status()), EOPNOTSUPP) << name;
    EXPECT_EQ(ToErrno(Fs().MkNod(a, name, S_IFREG | 0644).status()), EOPNOTSUPP) << name;
  }
  EXPECT_EQ(Listing(a), std::vector<std::string>{});
  // rsync's temporary name for "_z.jpg" starts with "._" too; it is not AppleDouble.
  for (const char* name : {"UPPER.JPG", "movie.mov", ".x.jpg.AbCdEf", "y.heic.filepart",
                           "._z.jpg.Ab12Cd"}) {
    EXPECT_TRUE(Put(a, name, "data") != 0) << name;
  }
  // The final name of a rename must be accepted too.
  EXPECT_EQ(ToErrno(Fs().Rename(a, "y.heic.filepart", a, "y.txt", 0)), EOPNOTSUPP);
  EXPECT_EQ(ToErrno(Fs().MkNod(a, "fifo.jpg", S_IFIFO | 0644).status()), EPERM);
  EXPECT_EQ(ToErrno(Fs().Symlink(a, "link.jpg")), EPERM);
}

TEST_F(WriteTest, TypesUnknownAtCreateAreRefusedAtCommitIntoFailed) {
  std::string album = api_.AddAlbum("A");
  media_types_retry_ = absl::ZeroDuration();  // the commit asks for the types again
  Start(absl::Milliseconds(20));
  Ino a = MustLookup(kRootIno, "A");
  api_.FailNext(Method::kGetMediaTypes, absl::UnavailableError("down"));
  Put(a, "notes.txt", "text, not a photo");
  WaitIdle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_TRUE(InImmich(album).empty());
  EXPECT_EQ(Listing(a), std::vector<std::string>{});
  Ino control = MustLookup(kRootIno, ".immich");
  Ino failed = MustLookup(control, "failed");
  std::vector<std::string> names = Listing(failed);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_TRUE(absl::EndsWith(names[0], "notes.txt")) << names[0];
  EXPECT_EQ(names[1], names[0] + ".reason");
  EXPECT_EQ(ReadAll(MustLookup(failed, names[0])), "text, not a photo");
  EXPECT_TRUE(absl::StrContains(ReadAll(MustLookup(failed, names[1])), "nsupported"));
  EXPECT_EQ(ToErrno(Fs().Unlink(failed, names[0])), EROFS);
}

TEST_F(WriteTest, EmptyFileGoesToFailedInsteadOfImmich) {
  std::string album = api_.AddAlbum("A");
  Start(absl::Milliseconds(20));
  Ino a = MustLookup(kRootIno, "A");
  ASSERT_TRUE(Fs().MkNod(a, "empty.jpg", S_IFREG | 0644).ok());
  WaitIdle();
  EXPECT_EQ(api_.Calls(Method::kBulkUploadCheck), 0);
  EXPECT_EQ(spool_->Stats().failed.size(), 1u);
  EXPECT_TRUE(absl::StrContains(spool_->Stats().failed[0].reason, "empty"));
}

TEST_F(WriteTest, MkdirAndRmdirRules) {
  std::string full = api_.AddAlbum("Full");
  api_.AddAsset("in.jpg", "in", {full});
  Start();
  absl::StatusOr<Entry> made = Fs().MkDir(kRootIno, "Made here");
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_TRUE(S_ISDIR(made->attr.mode));
  ASSERT_TRUE(api_.FindAlbumByName("Made here").has_value());
  EXPECT_EQ(MustLookup(kRootIno, "Made here"), made->attr.ino);
  EXPECT_EQ(Listing(made->attr.ino), std::vector<std::string>{});
  EXPECT_EQ(ToErrno(Fs().MkDir(kRootIno, "Made here").status()), EEXIST);
  EXPECT_EQ(ToErrno(Fs().MkDir(made->attr.ino, "sub").status()), EPERM);
  EXPECT_EQ(ToErrno(Fs().MkDir(kRootIno, ".Trash-1000").status()), EPERM);
  EXPECT_EQ(ToErrno(Fs().RmDir(kRootIno, "Full")), ENOTEMPTY);
  // A pending file makes an album non-empty too.
  Ino f = Put(made->attr.ino, "p.jpg", "pending");
  EXPECT_EQ(ToErrno(Fs().RmDir(kRootIno, "Made here")), ENOTEMPTY);
  ASSERT_TRUE(Fs().Unlink(made->attr.ino, "p.jpg").ok());
  (void)f;
  ASSERT_TRUE(Fs().RmDir(kRootIno, "Made here").ok());
  EXPECT_FALSE(api_.FindAlbumByName("Made here").has_value());
  EXPECT_EQ(LookupErrno(kRootIno, "Made here"), ENOENT);
  api_.SetDown(true);
  EXPECT_EQ(ToErrno(Fs().MkDir(kRootIno, "Offline").status()), EIO);
}

TEST_F(WriteTest, RmdirAfterRmOfEveryAssetDeletesTheAlbum) {
  std::string album = api_.AddAlbum("Gone");
  std::string x = api_.AddAsset("x.jpg", "x", {album});
  Start();
  ASSERT_TRUE(Fs().Unlink(MustLookup(kRootIno, "Gone"), "x.jpg").ok());
  ASSERT_TRUE(Fs().RmDir(kRootIno, "Gone").ok());
  EXPECT_EQ(api_.AlbumCount(), 0u);
  EXPECT_TRUE(api_.IsTrashed(x));
}

TEST_F(WriteTest, MvOfAnAlbumRenamesIt) {
  std::string id = api_.AddAlbum("Before");
  api_.AddAsset("a.jpg", "a", {id});
  api_.AddAlbum("Taken");
  Start();
  Ino before = MustLookup(kRootIno, "Before");
  EXPECT_EQ(ToErrno(Fs().Rename(kRootIno, "Before", kRootIno, "Taken", RENAME_NOREPLACE)),
            EEXIST);
  ASSERT_TRUE(Fs().Rename(kRootIno, "Before", kRootIno, "After", 0).ok());
  EXPECT_EQ(api_.FindAlbum(id)->name, "After");
  EXPECT_EQ(MustLookup(kRootIno, "After"), before);
  EXPECT_EQ(LookupErrno(kRootIno, "Before"), ENOENT);
  EXPECT_EQ(Listing(before), std::vector<std::string>{"a.jpg"});
  // An empty album may be replaced, as an empty directory may.
  ASSERT_TRUE(Fs().Rename(kRootIno, "After", kRootIno, "Taken", 0).ok());
  EXPECT_EQ(api_.AlbumCount(), 1u);
  EXPECT_EQ(api_.FindAlbum(id)->name, "Taken");
  EXPECT_EQ(ToErrno(Fs().Rename(kRootIno, "Taken", before, "x", 0)), EPERM);
  EXPECT_EQ(ToErrno(Fs().Rename(kRootIno, "Taken", kRootIno, "T", RENAME_EXCHANGE)), EINVAL);
}

TEST_F(WriteTest, MvOfAnUploadedAssetBetweenAlbumsSendsNoData) {
  std::string a_id = api_.AddAlbum("A");
  std::string b_id = api_.AddAlbum("B");
  std::string x = api_.AddAsset("moved.jpg", "moved bytes", {a_id});
  Start();
  Ino a = MustLookup(kRootIno, "A");
  Ino b = MustLookup(kRootIno, "B");
  Ino f = MustLookup(a, "moved.jpg");
  api_.ResetCalls();
  EXPECT_EQ(ToErrno(Fs().Rename(a, "moved.jpg", b, "renamed.jpg", 0)), EPERM);
  ASSERT_TRUE(Fs().Rename(a, "moved.jpg", b, "moved.jpg", 0).ok());
  EXPECT_EQ(api_.AlbumAssetIds(a_id), std::vector<std::string>{});
  EXPECT_EQ(api_.AlbumAssetIds(b_id), std::vector<std::string>{x});
  EXPECT_EQ(api_.Calls(Method::kUpload) + api_.Calls(Method::kBulkUploadCheck) +
                api_.Calls(Method::kDownload),
            0);
  EXPECT_EQ(Listing(a), std::vector<std::string>{});
  EXPECT_EQ(Listing(b), std::vector<std::string>{"moved.jpg"});
  EXPECT_EQ(MustLookup(b, "moved.jpg"), f);
}

TEST_F(WriteTest, RenamingAnUploadedAssetInItsAlbumIsEperm) {
  std::string a_id = api_.AddAlbum("A");
  api_.AddAsset("fixed.jpg", "fixed", {a_id});
  Start();
  Ino a = MustLookup(kRootIno, "A");
  EXPECT_EQ(ToErrno(Fs().Rename(a, "fixed.jpg", a, "moved.jpg", 0)), EPERM);
  EXPECT_EQ(Listing(a), std::vector<std::string>{"fixed.jpg"});
  EXPECT_TRUE(Fs().Rename(a, "fixed.jpg", a, "fixed.jpg", 0).ok());  // same name: a no-op
  EXPECT_EQ(ToErrno(Fs().Rename(a, "absent.jpg", a, "x.jpg", 0)), ENOENT);
}

TEST_F(WriteTest, LnAddsAnUploadedAssetToAnotherAlbum) {
  std::string a_id = api_.AddAlbum("A");
  std::string b_id = api_.AddAlbum("B");
  std::string x = api_.AddAsset("shared.jpg", "shared", {a_id});
  Start();
  Ino a = MustLookup(kRootIno, "A");
  Ino b = MustLookup(kRootIno, "B");
  Ino f = MustLookup(a, "shared.jpg");
  EXPECT_EQ(ToErrno(Fs().Link(f, b, "other.jpg").status()), EPERM);
  absl::StatusOr<Entry> e = Fs().Link(f, b, "shared.jpg");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->attr.ino, f);
  EXPECT_EQ(api_.AlbumAssetIds(b_id), std::vector<std::string>{x});
  EXPECT_EQ(api_.AlbumAssetIds(a_id), std::vector<std::string>{x});
  EXPECT_EQ(Listing(b), std::vector<std::string>{"shared.jpg"});
  EXPECT_EQ(ToErrno(Fs().Link(f, b, "shared.jpg").status()), EEXIST);
}

TEST_F(WriteTest, LnOfAPendingFileCommitsItThenLinksTheAsset) {
  std::string a_id = api_.AddAlbum("A");
  std::string b_id = api_.AddAlbum("B");
  Start(absl::Hours(1));  // a long settle: only the link makes it commit now
  Ino a = MustLookup(kRootIno, "A");
  Ino b = MustLookup(kRootIno, "B");
  Ino p = Put(a, "pending.jpg", "not yet in Immich");
  absl::StatusOr<Entry> e = Fs().Link(p, b, "pending.jpg");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->attr.ino, p);
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
  std::vector<std::string> in_a = api_.AlbumAssetIds(a_id);
  ASSERT_EQ(in_a.size(), 1u);
  EXPECT_EQ(api_.AlbumAssetIds(b_id), in_a);
  EXPECT_EQ(api_.Bytes(in_a[0]), "not yet in Immich");
  EXPECT_EQ(Listing(b), std::vector<std::string>{"pending.jpg"});
  // A temporary name is not uploaded until it is renamed: no link yet.
  Ino t = Put(a, "later.jpg.filepart", "partial");
  EXPECT_EQ(ToErrno(Fs().Link(t, b, "later.jpg.filepart").status()), EPERM);
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
}

TEST_F(WriteTest, StatusFileShowsPendingCommittedAndIsReadOnly) {
  std::string album = api_.AddAlbum("A");
  Start();
  Ino a = MustLookup(kRootIno, "A");
  Ino f = Put(a, "waiting.jpg", "12345");
  EXPECT_EQ(Listing(kRootIno), std::vector<std::string>{"A"});  // .immich is not listed
  Ino control = MustLookup(kRootIno, ".immich");
  EXPECT_EQ(Listing(control), (std::vector<std::string>{"failed", "status"}));
  Ino status = MustLookup(control, "status");
  std::string before = ReadAll(status);
  EXPECT_TRUE(absl::StrContains(before, "\"server_version\": \"3.1.0\"")) << before;
  EXPECT_TRUE(absl::StrContains(before, "\"name\": \"waiting.jpg\"")) << before;
  EXPECT_TRUE(absl::StrContains(before, "\"pending_bytes\": 5")) << before;
  EXPECT_TRUE(absl::StrContains(before, "\"commits_in_flight\": 0")) << before;
  EXPECT_EQ(Fs().GetAttr(status)->size, before.size());
  absl::StatusOr<OpenResult> o = Fs().Open(status, O_RDONLY);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->direct_io);
  ASSERT_TRUE(Fs().Release(status, o->fh).ok());
  ASSERT_TRUE(Commit(f).ok());
  std::string after = ReadAll(status);
  EXPECT_FALSE(absl::StrContains(after, "waiting.jpg")) << after;
  EXPECT_TRUE(absl::StrContains(after, "\"pending_bytes\": 0")) << after;
  EXPECT_TRUE(absl::StrContains(after, "\"commits_done\": 1")) << after;
  EXPECT_EQ(ToErrno(Fs().Open(status, O_WRONLY).status()), EROFS);
  EXPECT_EQ(ToErrno(Fs().Unlink(control, "status")), EROFS);
  EXPECT_EQ(ToErrno(Fs().MkDir(control, "x").status()), EROFS);
  EXPECT_EQ(ToErrno(Fs().Create(control, "x.jpg", O_CREAT | O_WRONLY).status()), EROFS);
  EXPECT_EQ(ToErrno(Fs().RmDir(kRootIno, ".immich")), EROFS);
}

TEST_F(WriteTest, CommitErrorsShowInTheStatusAndRetry) {
  std::string album = api_.AddAlbum("A");
  Start(absl::Milliseconds(20));
  Ino a = MustLookup(kRootIno, "A");
  api_.SetDown(true);
  Put(a, "retry.jpg", "eventually");
  Ino status = MustLookup(MustLookup(kRootIno, ".immich"), "status");
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(ReadAll(status), "\"recent_errors\": [\n    {"); }));
  api_.SetDown(false);
  WaitIdle();
  EXPECT_EQ(InImmich(album).count("retry.jpg"), 1u);
}

TEST_F(WriteTest, CreateAtTheRootIsEperm) {
  api_.AddAlbum("A");
  Start();
  EXPECT_EQ(ToErrno(Fs().Create(kRootIno, "x.jpg", O_CREAT | O_WRONLY).status()), EPERM);
  Ino a = MustLookup(kRootIno, "A");
  Put(a, "x.jpg", "x");
  EXPECT_EQ(ToErrno(Fs().Create(a, "x.jpg", O_CREAT | O_EXCL | O_WRONLY).status()), EEXIST);
  EXPECT_EQ(ToErrno(Fs().Rename(a, "x.jpg", kRootIno, "x.jpg", 0)), EPERM);
}

}  // namespace
}  // namespace immichfs::fs
