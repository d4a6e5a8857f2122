// The fs side of incomplete files (spool/spool.h): a pending file whose write
// failed stays listed, /.immich/status shows it incomplete with its error,
// fsync returns the error, nothing reaches Immich -- until an O_TRUNC
// rewrite or a rename of a clean file onto it; setattr(size) beyond the
// spool disk is EFBIG.
#include "fs/write_fixture.h"

#include <sys/statvfs.h>

#include "absl/strings/match.h"

namespace immichfs::fs {
namespace {

using fake::Method;

class IncompleteFsTest : public WriteTest {
 protected:
  // A new file in `dir`: "kept" written, then a write that fails (ENOSPC),
  // then closed.
  Ino FailedCopy(Ino dir, const std::string& name) {
    absl::StatusOr<CreateResult> c = Fs().Create(dir, name, O_CREAT | O_WRONLY | O_TRUNC);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return 0;
    Ino f = c->entry.attr.ino;
    EXPECT_TRUE(Fs().Write(f, c->open.fh, 0, "kept", 4).ok());
    disk_full_ = true;
    EXPECT_EQ(ToErrno(Fs().Write(f, c->open.fh, 4, "lost", 4).status()), ENOSPC);
    disk_full_ = false;
    EXPECT_TRUE(Fs().Flush(f, c->open.fh).ok());
    EXPECT_TRUE(Fs().Release(f, c->open.fh).ok());
    return f;
  }
  std::string Status() {
    Ino status = MustLookup(MustLookup(kRootIno, ".immich"), "status");
    return ReadAll(status);
  }
  // Long enough for a commit after the settle time (50 ms) to have happened.
  void PastSettle() { absl::SleepFor(absl::Seconds(1)); }
};

TEST_F(IncompleteFsTest, FailedCopyStaysPendingShownIncompleteAndIsNeverUploaded) {
  api_.AddAlbum("Trip");
  Start(absl::Milliseconds(50));
  Ino a = MustLookup(kRootIno, "Trip");
  Ino f = FailedCopy(a, "big.mp4");
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_EQ(Listing(a), std::vector<std::string>{"big.mp4"});
  EXPECT_EQ(ReadAll(f), "kept");
  const std::string status = Status();
  EXPECT_TRUE(absl::StrContains(status, "\"state\": \"incomplete\"")) << status;
  EXPECT_TRUE(absl::StrContains(status, "\"incomplete\": true")) << status;
  EXPECT_TRUE(absl::StrContains(status, "No space left on device")) << status;
  // fsync: the error, no commit.
  absl::StatusOr<OpenResult> h = Fs().Open(f, O_RDONLY);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(ToErrno(Fs().Fsync(f, h->fh)), ENOSPC);
  ASSERT_TRUE(Fs().Release(f, h->fh).ok());
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  // rm: gone, nothing in Immich.
  ASSERT_TRUE(Fs().Unlink(a, "big.mp4").ok());
  EXPECT_TRUE(Listing(a).empty());
  WaitIdle();
  EXPECT_EQ(api_.AssetCount(), 0u);
}

TEST_F(IncompleteFsTest, ACleanRewriteWithOTruncCommits) {
  std::string album = api_.AddAlbum("Trip");
  Start(absl::Milliseconds(50));
  Ino a = MustLookup(kRootIno, "Trip");
  Ino f = FailedCopy(a, "big.mp4");
  absl::StatusOr<OpenResult> h = Fs().Open(f, O_WRONLY | O_TRUNC);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_TRUE(Fs().Write(f, h->fh, 0, "whole file", 10).ok());
  ASSERT_TRUE(Fs().Release(f, h->fh).ok());
  WaitIdle();
  std::map<std::string, immich::Asset> in = InImmich(album);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(api_.Bytes(in.begin()->second.id), "whole file");
}

// rsync/WinSCP style: a clean temp file renamed onto the incomplete one
// replaces it; the incomplete bytes never reach Immich.
TEST_F(IncompleteFsTest, ACleanFileRenamedOntoItCommitsInstead) {
  std::string album = api_.AddAlbum("Trip");
  Start(absl::Milliseconds(50));
  Ino a = MustLookup(kRootIno, "Trip");
  FailedCopy(a, "big.mp4");
  Put(a, ".big.mp4.Xy12Zq", "complete bytes");
  ASSERT_TRUE(Fs().Rename(a, ".big.mp4.Xy12Zq", a, "big.mp4", 0).ok());
  WaitIdle();
  std::map<std::string, immich::Asset> in = InImmich(album);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in.begin()->first, "big.mp4");
  EXPECT_EQ(api_.Bytes(in.begin()->second.id), "complete bytes");
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
}

// A rename of the incomplete file keeps it incomplete.
TEST_F(IncompleteFsTest, RenamingItKeepsItIncomplete) {
  api_.AddAlbum("Trip");
  Start(absl::Milliseconds(50));
  Ino a = MustLookup(kRootIno, "Trip");
  Ino f = FailedCopy(a, "big.mp4.filepart");
  absl::StatusOr<OpenResult> h = Fs().Open(f, O_RDONLY);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(ToErrno(Fs().Fsync(f, h->fh)), ENOSPC) << "a temporary name too";
  ASSERT_TRUE(Fs().Release(f, h->fh).ok());
  ASSERT_TRUE(Fs().Rename(a, "big.mp4.filepart", a, "big.mp4", 0).ok());
  PastSettle();
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
  EXPECT_TRUE(absl::StrContains(Status(), "\"incomplete\": true"));
}

TEST_F(IncompleteFsTest, TruncateBeyondTheSpoolDiskIsEfbig) {
  api_.AddAlbum("Trip");
  Start();
  Ino a = MustLookup(kRootIno, "Trip");
  struct statvfs v;
  ASSERT_EQ(::statvfs(root_.c_str(), &v), 0);
  const uint64_t ten_tib = uint64_t{10} << 40;
  ASSERT_LT(static_cast<uint64_t>(v.f_blocks) * v.f_frsize, ten_tib) << "needs a smaller disk";
  absl::StatusOr<CreateResult> c = Fs().Create(a, "x.jpg", O_CREAT | O_WRONLY);
  ASSERT_TRUE(c.ok());
  Ino f = c->entry.attr.ino;
  SetAttrRequest r;
  r.size = ten_tib;
  EXPECT_EQ(ToErrno(Fs().SetAttr(f, c->open.fh, r).status()), EFBIG);
  EXPECT_EQ(Fs().GetAttr(f)->size, 0u);
  ASSERT_TRUE(Fs().Release(f, c->open.fh).ok());
}

}  // namespace
}  // namespace immichfs::fs
