// The fake must behave like Immich 3.1 wherever immichfs relies on it: these
// tests pin the behaviours recorded from a real Immich 3.1 server
// (tests/data/immich-api-responses/).
#include "memory_immich/memory_immich.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/hash.h"
#include "gtest/gtest.h"

namespace immichfs::fake {
namespace {

std::string Sha1Hex(const std::string& bytes) { return ToHex(Sha1Of(bytes)); }

class FakeImmichApiTest : public ::testing::Test {
 protected:
  std::string TempFile(const std::string& bytes) {
    std::string path = ::testing::TempDir() + "memory_immich_upload_" + std::to_string(getpid()) +
                       "_" + std::to_string(files_++);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string Download(const std::string& id, uint64_t offset, std::optional<uint64_t> length,
                       absl::Status* status) {
    std::string out;
    *status = api_.Download(id, offset, length, std::nullopt, [&](const char* d, size_t n) {
      out.append(d, n);
      return true;
    });
    return out;
  }
  FakeImmichApi api_;
  int files_ = 0;
};

TEST_F(FakeImmichApiTest, ChecksumIsBase64Sha1AndSizeIsExact) {
  std::string id = api_.AddAsset("a.jpg", "hello");
  std::optional<immich::Asset> a = api_.FindAsset(id);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->checksum, "qvTGHdzF6KLavt4PO0gs2a6pQ00=");  // base64(sha1("hello"))
  EXPECT_EQ(a->size, 5);
}

TEST_F(FakeImmichApiTest, SearchPagesNewestFirstWithoutHiddenOrTrashed) {
  std::string album = api_.AddAlbum("A");
  for (int i = 0; i < 5; ++i) {
    api_.AddAsset({.name = "p" + std::to_string(i) + ".jpg", .bytes = std::to_string(i),
                   .file_created_at = absl::FromUnixSeconds(100 + i), .albums = {album}});
  }
  api_.AddAsset({.name = "h.mov", .bytes = "h", .visibility = "hidden", .albums = {album}});
  api_.AddAsset({.name = "t.jpg", .bytes = "t", .trashed = true, .albums = {album}});
  absl::StatusOr<immich::AssetPage> p1 = api_.SearchAlbumAssets(album, 1, 2);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1->assets.size(), 2u);
  EXPECT_EQ(p1->assets[0].original_file_name, "p4.jpg");
  EXPECT_EQ(p1->next_page, 2);
  absl::StatusOr<immich::AssetPage> p3 = api_.SearchAlbumAssets(album, 3, 2);
  ASSERT_TRUE(p3.ok());
  ASSERT_EQ(p3->assets.size(), 1u);
  EXPECT_EQ(p3->assets[0].original_file_name, "p0.jpg");
  EXPECT_FALSE(p3->next_page.has_value());
  EXPECT_EQ(api_.FindAlbum(album)->asset_count, 5);  // live timeline/archive only
  EXPECT_EQ(api_.SearchAlbumAssets(album, 1, 1001).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(api_.SearchAlbumAssets("nope", 1, 10).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FakeImmichApiTest, DownloadHonoursRanges) {
  std::string id = api_.AddAsset("a.jpg", "0123456789");
  absl::Status s;
  EXPECT_EQ(Download(id, 3, 4, &s), "3456");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(Download(id, 8, std::nullopt, &s), "89");
  EXPECT_EQ(Download(id, 8, 100, &s), "89");
  Download(id, 10, std::nullopt, &s);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);  // Immich answers 404, not 416
  s = api_.Download(id, 0, std::nullopt, 11, [](const char*, size_t) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  s = api_.Download(id, 0, std::nullopt, 10, [](const char*, size_t) { return false; });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  api_.TruncateNextDownloads(4);
  EXPECT_EQ(Download(id, 0, std::nullopt, &s), "0123");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Download(id, 0, std::nullopt, &s), "0123456789");
}

TEST_F(FakeImmichApiTest, BulkCheckAcceptsUnknownAndRejectsDuplicatesWithTrashState) {
  std::string live = api_.AddAsset("a.jpg", "live");
  std::string trashed = api_.AddAsset({.name = "b.jpg", .bytes = "trashed", .trashed = true});
  absl::StatusOr<std::vector<immich::BulkCheckResult>> r = api_.BulkUploadCheck(
      {{"1", Sha1Hex("new")}, {"2", Sha1Hex("live")}, {"3", Sha1Hex("trashed")}});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_TRUE((*r)[0].accepted);
  EXPECT_FALSE((*r)[1].accepted);
  EXPECT_EQ((*r)[1].reason, "duplicate");
  EXPECT_EQ((*r)[1].asset_id, live);
  EXPECT_FALSE((*r)[1].is_trashed);
  EXPECT_EQ((*r)[2].asset_id, trashed);
  EXPECT_TRUE((*r)[2].is_trashed);
}

TEST_F(FakeImmichApiTest, UploadCreatesDetectsDuplicatesAndRefusesUnknownTypes) {
  immich::UploadRequest req{.path = TempFile("photo"), .size = 5, .filename = "x.JPG",
                            .checksum_hex = Sha1Hex("photo"),
                            .file_created_at = absl::FromUnixSeconds(1000),
                            .file_modified_at = absl::FromUnixSeconds(2000)};
  absl::StatusOr<immich::UploadResult> first = api_.Upload(req);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->duplicate);
  std::optional<immich::Asset> a = api_.FindAsset(first->id);
  EXPECT_EQ(a->original_file_name, "x.JPG");
  EXPECT_EQ(a->file_modified_at, absl::FromUnixSeconds(2000));
  EXPECT_EQ(api_.Bytes(first->id), "photo");
  absl::StatusOr<immich::UploadResult> again = api_.Upload(req);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->id, first->id);
  req.filename = "notes.txt";
  req.path = TempFile("text");
  req.checksum_hex = Sha1Hex("text");
  absl::StatusOr<immich::UploadResult> txt = api_.Upload(req);
  EXPECT_EQ(txt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(txt.status().message().find("Unsupported file type"), std::string::npos);
  EXPECT_EQ(api_.AssetCount(), 1u);
}

TEST_F(FakeImmichApiTest, AlbumAddRemoveAnswerPerId) {
  std::string album = api_.AddAlbum("A");
  std::string a = api_.AddAsset("a.jpg", "a");
  absl::Time before = api_.FindAlbum(album)->updated_at;
  auto added = api_.AddToAlbum(album, {a, a, "missing"});
  ASSERT_TRUE(added.ok());
  EXPECT_TRUE((*added)[0].success);
  EXPECT_EQ((*added)[1].error, "duplicate");
  EXPECT_EQ((*added)[2].error, "no_permission");
  EXPECT_GT(api_.FindAlbum(album)->updated_at, before);
  auto removed = api_.RemoveFromAlbum(album, {a, a});
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE((*removed)[0].success);
  EXPECT_EQ((*removed)[1].error, "not_found");
  EXPECT_EQ(api_.AddToAlbum("nope", {a}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FakeImmichApiTest, TrashRestoreDeleteAndCopy) {
  std::string album = api_.AddAlbum("A");
  std::string old_id = api_.AddAsset({.name = "a.jpg", .bytes = "old", .favorite = true,
                                      .albums = {album}});
  std::string new_id = api_.AddAsset("a.jpg", "new");
  ASSERT_TRUE(api_.CopyAssetMetadata(old_id, new_id).ok());
  EXPECT_TRUE(api_.FindAsset(new_id)->is_favorite);
  EXPECT_EQ(api_.ListAlbumsForAsset(new_id)->size(), 1u);
  ASSERT_TRUE(api_.DeleteAssets({old_id}, false).ok());
  EXPECT_TRUE(api_.IsTrashed(old_id));
  EXPECT_EQ(api_.FindAlbum(album)->asset_count, 1);
  absl::Status s;
  Download(old_id, 0, std::nullopt, &s);
  EXPECT_TRUE(s.ok());  // trashed assets stay downloadable
  ASSERT_TRUE(api_.RestoreFromTrash({old_id}).ok());
  EXPECT_FALSE(api_.IsTrashed(old_id));
  ASSERT_TRUE(api_.DeleteAssets({old_id}, true).ok());
  EXPECT_FALSE(api_.FindAsset(old_id).has_value());
  EXPECT_EQ(api_.AlbumAssetIds(album), std::vector<std::string>{new_id});
  EXPECT_EQ(api_.DeleteAssets({"nope"}, false).code(), absl::StatusCode::kNotFound);
}

TEST_F(FakeImmichApiTest, FaultsCountersAndDown) {
  api_.FailNext(Method::kListAlbums, absl::UnavailableError("503"), 2);
  EXPECT_FALSE(api_.ListAlbums().ok());
  EXPECT_FALSE(api_.ListAlbums().ok());
  EXPECT_TRUE(api_.ListAlbums().ok());
  EXPECT_EQ(api_.Calls(Method::kListAlbums), 3);
  api_.SetDown(true);
  EXPECT_EQ(api_.GetStorage().status().code(), absl::StatusCode::kUnavailable);
  api_.SetDown(false);
  EXPECT_EQ(api_.TotalCalls(), 4);
  api_.ResetCalls();
  EXPECT_EQ(api_.TotalCalls(), 0);
  int hooked = 0;
  api_.SetCallHook([&](Method m) { hooked += m == Method::kPing; });
  EXPECT_TRUE(api_.Ping().ok());
  EXPECT_EQ(hooked, 1);
}

TEST_F(FakeImmichApiTest, MediaTypesAreTheRealList) {
  absl::StatusOr<immich::MediaTypes> t = api_.GetMediaTypes();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->image.size(), 48u);
  EXPECT_EQ(t->video.size(), 20u);
  EXPECT_EQ(t->sidecar, std::vector<std::string>{".xmp"});
  EXPECT_EQ(api_.GetVersion()->major, 3);
}

}  // namespace
}  // namespace immichfs::fake
