// Early start (SpoolOptions::early_start_bytes): a big file's commit starts
// when it is closed, its upload holds the last byte until the settle time is
// over, and any change meanwhile aborts it so that Immich never makes an
// asset with stale bytes, name or mtime. The settle time is an hour here:
// only an fsync or a change ends a hold, so nothing depends on timing.
#include "spool_fixture.h"

namespace immichfs::cache {
namespace {

class EarlyStartTest : public SpoolTest {
 protected:
  void SetUp() override {
    SpoolTest::SetUp();
    options_.settle = absl::Hours(1);
    options_.early_start_bytes = 1000;
  }
  // A file big enough to start early, closed; returns once its upload is
  // held (entered the server, no asset yet).
  PendingId PutHeld(const std::string& name, const std::string& bytes) {
    const int uploads = api_.Calls(Method::kUpload);
    PendingId id = Put(name, bytes);
    EXPECT_TRUE(WaitFor([&] { return api_.Calls(Method::kUpload) > uploads; }));
    return id;
  }
  static std::string Big(const std::string& tag) { return std::string(5000, 'x') + tag; }
  bool WaitIdle() {
    return WaitFor([&] { return spool_->Stats().commits_in_flight == 0; });
  }
};

TEST_F(EarlyStartTest, TheUploadRunsDuringTheSettleTimeAndCompletesAfterIt) {
  OpenSpool();
  PendingId id = PutHeld("big.mp4", Big("a"));
  // Sent, but the server has no asset: the last byte waits for the settle.
  EXPECT_EQ(api_.AssetCount(), 0u);
  EXPECT_TRUE(api_.AlbumAssetIds(album_).empty());
  ASSERT_TRUE(spool_->Fsync(id).ok());  // ends the wait, as the settle time would
  std::vector<std::string> ids = api_.AlbumAssetIds(album_);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(api_.Bytes(ids[0]), Big("a"));
  EXPECT_EQ(api_.FindAsset(ids[0])->original_file_name, "big.mp4");
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
}

TEST_F(EarlyStartTest, TheHoldEndsWhenTheSettleTimeIsOver) {
  options_.settle = absl::Milliseconds(200);
  OpenSpool();
  PendingId id = Put("big.mp4", Big("t"));
  ASSERT_TRUE(WaitCommitted(id));
  ASSERT_EQ(api_.AlbumAssetIds(album_).size(), 1u);
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
}

TEST_F(EarlyStartTest, ARenameDuringTheHoldMakesNoAssetUnderTheOldName) {
  OpenSpool();
  std::string other = api_.AddAlbum("Other");
  PendingId id = PutHeld("big.mp4", Big("r"));
  const int uploads = api_.Calls(Method::kUpload);
  ASSERT_TRUE(spool_->Rename(id, other, "renamed.mp4").ok());
  // The held upload is aborted; the new version starts early again.
  ASSERT_TRUE(WaitFor([&] { return api_.Calls(Method::kUpload) > uploads; }));
  EXPECT_EQ(api_.AssetCount(), 0u);
  ASSERT_TRUE(spool_->Fsync(id).ok());
  EXPECT_EQ(api_.AssetCount(), 1u);
  std::vector<std::string> ids = api_.AlbumAssetIds(other);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(api_.FindAsset(ids[0])->original_file_name, "renamed.mp4");
  EXPECT_TRUE(api_.AlbumAssetIds(album_).empty());
  EXPECT_EQ(spool_->Stats().commits_retried, 0u) << "a superseded start is no failed attempt";
}

TEST_F(EarlyStartTest, AnMtimeSetDuringTheHoldIsTheOneImmichGets) {
  OpenSpool();
  PendingId id = PutHeld("big.mp4", Big("m"));
  const absl::Time mtime = absl::FromUnixSeconds(1400000000);
  ASSERT_TRUE(spool_->SetMtime(id, mtime).ok());  // an SFTP SETSTAT after close
  ASSERT_TRUE(spool_->Fsync(id).ok());
  std::vector<std::string> ids = api_.AlbumAssetIds(album_);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(api_.AssetCount(), 1u);
  EXPECT_EQ(api_.FindAsset(ids[0])->file_modified_at, mtime);
}

TEST_F(EarlyStartTest, NewBytesDuringTheHoldAreTheOnlyAsset) {
  OpenSpool();
  PendingId id = PutHeld("big.mp4", Big("old"));
  ASSERT_TRUE(spool_->OpenHandle(id).ok());
  const std::string fresh = Big("new");
  ASSERT_TRUE(spool_->Truncate(id, 0).ok());
  ASSERT_TRUE(spool_->Write(id, 0, fresh.data(), fresh.size()).ok());
  ASSERT_TRUE(spool_->Release(id).ok());
  ASSERT_TRUE(spool_->Fsync(id).ok());
  EXPECT_EQ(api_.AssetCount(), 1u);
  std::vector<std::string> ids = api_.AlbumAssetIds(album_);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(api_.Bytes(ids[0]), fresh);
}

TEST_F(EarlyStartTest, AnUnlinkDuringTheHoldLeavesNothing) {
  OpenSpool();
  PendingId id = PutHeld("big.mp4", Big("u"));
  ASSERT_TRUE(spool_->Unlink(id).ok());
  ASSERT_TRUE(WaitIdle());
  EXPECT_EQ(api_.AssetCount(), 0u);
  EXPECT_FALSE(spool_->Get(id).has_value());
  EXPECT_EQ(api_.Calls(Method::kUpload), 1);
}

TEST_F(EarlyStartTest, ADuplicateIsNotPutInTheAlbumBeforeTheSettleTime) {
  const std::string existing = api_.AddAsset("elsewhere.mp4", Big("d"));
  OpenSpool();
  PendingId id = Put("big.mp4", Big("d"));
  ASSERT_TRUE(WaitFor([&] { return api_.Calls(Method::kBulkUploadCheck) > 0; }));
  absl::SleepFor(absl::Milliseconds(50));  // (nothing may happen: no deadline to wait for)
  EXPECT_TRUE(api_.AlbumAssetIds(album_).empty());
  ASSERT_TRUE(spool_->Fsync(id).ok());
  EXPECT_EQ(api_.AlbumAssetIds(album_), std::vector<std::string>{existing});
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
}

TEST_F(EarlyStartTest, StoppingDuringTheHoldMakesNoAssetAndTheNextStartCommitsOnce) {
  OpenSpool();
  PendingId id = PutHeld("big.mp4", Big("s"));
  spool_.reset();  // the mount stops (or dies) with the upload held
  EXPECT_EQ(api_.AssetCount(), 0u);
  options_.settle = absl::Milliseconds(20);
  OpenSpool();
  ASSERT_TRUE(WaitCommitted(id));
  EXPECT_EQ(api_.AssetCount(), 1u);
  std::vector<std::string> ids = api_.AlbumAssetIds(album_);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(api_.Bytes(ids[0]), Big("s"));
}

TEST_F(EarlyStartTest, SmallFilesWaitOutTheSettleTime) {
  OpenSpool();
  Put("small.jpg", "tiny");
  absl::SleepFor(absl::Milliseconds(50));  // (nothing may happen: no deadline to wait for)
  EXPECT_EQ(api_.Calls(Method::kBulkUploadCheck), 0);
  EXPECT_EQ(api_.Calls(Method::kUpload), 0);
}

}  // namespace
}  // namespace immichfs::cache
