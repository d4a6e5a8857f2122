// json.cc against answers recorded from a real Immich 3.1 server, plus the
// shapes older servers send and the request bodies we build.
#include "immich/json.h"

#include <algorithm>

#include "absl/time/time.h"
#include "common/iso_time.h"
#include "gtest/gtest.h"
#include "fixture.h"

namespace immichfs::immich::json {
namespace {

using ::immichfs::immich::testing::Recorded;

absl::Time At(const char* iso) { return ParseIsoTime(iso).value(); }

constexpr char kAdmin[] = "34f26a4e-2ab3-4986-b7d3-b39935b05a81";
constexpr char kAlbum[] = "60af9369-9a9f-44f9-83a3-26817691ec05";
constexpr char kTest1[] = "2e14c680-2f20-4279-8aa6-c8ec97e76723";
constexpr char kTest2[] = "c25e0e85-efc0-43f2-8ed9-c12c736b89d0";

TEST(JsonTest, ServerVersion) {
  absl::StatusOr<ServerVersion> v = ParseServerVersion(Recorded("server_version.json"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->major, 3);
  EXPECT_EQ(v->minor, 1);
  EXPECT_EQ(v->patch, 0);
  EXPECT_TRUE(v->AtLeast(2, 0));
  EXPECT_TRUE(v->AtLeast(3, 1));
  EXPECT_FALSE(v->AtLeast(3, 2));
}

TEST(JsonTest, ServerVersionWithoutMajorIsAnError) {
  EXPECT_EQ(ParseServerVersion(R"({"minor":1})").status().code(), absl::StatusCode::kInternal);
}

TEST(JsonTest, Storage) {
  absl::StatusOr<Storage> s = ParseStorage(Recorded("server_storage.json"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->size_bytes, 270553174016);
  EXPECT_EQ(s->available_bytes, 82476158976);
  EXPECT_EQ(s->used_bytes, 20269121536);
}

TEST(JsonTest, MediaTypes) {
  absl::StatusOr<MediaTypes> m = ParseMediaTypes(Recorded("server_media-types.json"));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->video.size(), 20u);
  EXPECT_EQ(m->video.front(), ".3gp");
  EXPECT_NE(std::find(m->image.begin(), m->image.end(), ".jpg"), m->image.end());
  EXPECT_NE(std::find(m->image.begin(), m->image.end(), ".heic"), m->image.end());
  EXPECT_EQ(m->sidecar, std::vector<std::string>{".xmp"});
}

TEST(JsonTest, MediaTypesAreLowerCased) {
  absl::StatusOr<MediaTypes> m = ParseMediaTypes(R"({"image":[".JPG"],"video":[],"sidecar":[]})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->image, std::vector<std::string>{".jpg"});
}

TEST(JsonTest, UserMe) {
  absl::StatusOr<User> u = ParseUser(Recorded("users_me.json"));
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->id, kAdmin);
  EXPECT_EQ(u->email, "admin@example.com");
  EXPECT_EQ(u->name, "Admin");
}

TEST(JsonTest, AlbumList) {
  absl::StatusOr<std::vector<Album>> albums = ParseAlbumList(Recorded("albums_list.json"));
  ASSERT_TRUE(albums.ok()) << albums.status();
  ASSERT_EQ(albums->size(), 1u);
  const Album& a = albums->front();
  EXPECT_EQ(a.id, kAlbum);
  EXPECT_EQ(a.name, "FUSE test album");
  EXPECT_EQ(a.owner_id, kAdmin);  // from albumUsers[role=owner]
  EXPECT_EQ(a.asset_count, 2);
  EXPECT_FALSE(a.shared);
  EXPECT_EQ(a.created_at, At("2026-11-21T23:40:48.640Z"));
  EXPECT_EQ(a.updated_at, At("2026-11-21T23:40:48.810Z"));
  EXPECT_EQ(a.last_modified_asset, At("2026-11-21T23:40:35.632Z"));
}

TEST(JsonTest, SharedAndByAssetListsHaveTheSameShape) {
  for (const char* name : {"albums_shared_true.json", "albums_by_asset.json", "more_albums_list.json"}) {
    absl::StatusOr<std::vector<Album>> albums = ParseAlbumList(Recorded(name));
    ASSERT_TRUE(albums.ok()) << name << ": " << albums.status();
    ASSERT_EQ(albums->size(), 1u) << name;
    EXPECT_EQ(albums->front().id, kAlbum) << name;
  }
}

TEST(JsonTest, NewEmptyAlbumHasNoLastModifiedAsset) {
  absl::StatusOr<Album> a = ParseAlbum(Recorded("album_create_b.json"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->id, "35c1e6af-2d58-412d-a8fe-0fad80072e1a");
  EXPECT_EQ(a->name, "Album B");
  EXPECT_EQ(a->asset_count, 0);
  EXPECT_EQ(a->last_modified_asset, absl::InfinitePast());
}

TEST(JsonTest, RenamedAlbum) {
  absl::StatusOr<Album> a = ParseAlbum(Recorded("album_patch_rename.json"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->id, kAlbum);
  EXPECT_EQ(a->name, "Renamed Album");
  EXPECT_EQ(a->updated_at, At("2026-11-21T23:42:50.475Z"));
}

TEST(JsonTest, OldServersNameTheOwnerInOwnerId) {
  absl::StatusOr<Album> a = ParseAlbum(R"({"id":"a1","albumName":"x","ownerId":"u1","assetCount":"7"})");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->owner_id, "u1");
  EXPECT_EQ(a->asset_count, 7);  // a number sent as a string
}

TEST(JsonTest, AlbumWithoutIdIsAnErrorNamingTheField) {
  absl::StatusOr<std::vector<Album>> albums = ParseAlbumList(R"([{"albumName":"x"}])");
  ASSERT_FALSE(albums.ok());
  EXPECT_EQ(albums.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(albums.status().message().find("'id'"), absl::string_view::npos);
}

TEST(JsonTest, NotJsonSaysToCheckTheUrl) {
  absl::StatusOr<std::vector<Album>> albums = ParseAlbumList("<html>502 Bad Gateway</html>");
  ASSERT_FALSE(albums.ok());
  EXPECT_NE(albums.status().message().find("url"), absl::string_view::npos);
}

TEST(JsonTest, SearchAlbumPage) {
  absl::StatusOr<AssetPage> page = ParseSearchPage(Recorded("search_metadata_album.json"));
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->total, 2);
  EXPECT_FALSE(page->next_page.has_value());
  ASSERT_EQ(page->assets.size(), 2u);
  const Asset& a = page->assets[0];
  EXPECT_EQ(a.id, kTest2);
  EXPECT_EQ(a.original_file_name, "test2.jpg");
  EXPECT_EQ(a.size, 5306);
  EXPECT_EQ(a.checksum, "LERWwC3x2ZRF8+v9rCqvA7Slcvc=");
  EXPECT_EQ(a.type, AssetType::kImage);
  EXPECT_EQ(a.file_created_at, At("2024-05-02T10:00:00.000Z"));
  EXPECT_EQ(a.owner_id, kAdmin);
  EXPECT_EQ(a.visibility, "timeline");
  EXPECT_FALSE(a.is_trashed);
  EXPECT_EQ(page->assets[1].id, kTest1);
  EXPECT_EQ(page->assets[1].size, 6498);
}

TEST(JsonTest, SearchWithoutExifHasUnknownSize) {
  absl::StatusOr<AssetPage> page = ParseSearchPage(Recorded("search_metadata_album_noexif.json"));
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->assets.size(), 2u);
  EXPECT_EQ(page->assets[0].size, -1);
  EXPECT_EQ(page->assets[1].size, -1);
}

TEST(JsonTest, SearchTrashed) {
  absl::StatusOr<AssetPage> page = ParseSearchPage(Recorded("search_metadata_trashed.json"));
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->assets.size(), 1u);
  EXPECT_EQ(page->assets[0].id, kTest1);
  EXPECT_TRUE(page->assets[0].is_trashed);
}

TEST(JsonTest, SearchEmptyAndNextPage) {
  absl::StatusOr<AssetPage> empty = ParseSearchPage(Recorded("search_notinalbum.json"));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->assets.empty());
  EXPECT_FALSE(empty->next_page.has_value());
  absl::StatusOr<AssetPage> more =
      ParseSearchPage(R"({"assets":{"total":1,"count":1,"items":[{"id":"x"}],"nextPage":"3"}})");
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_EQ(more->next_page, 3);
}

TEST(JsonTest, GetAsset) {
  absl::StatusOr<Asset> a = ParseAsset(Recorded("assets_get.json"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->id, kTest1);
  EXPECT_EQ(a->original_file_name, "test1.jpg");
  EXPECT_EQ(a->checksum, "YOtifPfrVx8HKWU6EW2IsByjZ0g=");
  EXPECT_EQ(a->size, 6498);
  EXPECT_EQ(a->file_modified_at, At("2024-05-01T10:00:00.000Z"));
  EXPECT_EQ(a->created_at, At("2026-11-21T23:40:35.175Z"));
  EXPECT_EQ(a->updated_at, At("2026-11-21T23:40:35.626Z"));
  EXPECT_FALSE(a->is_favorite);
  EXPECT_FALSE(a->is_trashed);
  EXPECT_TRUE(a->live_photo_video_id.empty());
  absl::StatusOr<Asset> trashed = ParseAsset(Recorded("assets_get_after-delete.json"));
  ASSERT_TRUE(trashed.ok()) << trashed.status();
  EXPECT_TRUE(trashed->is_trashed);
}

TEST(JsonTest, BulkUploadCheck) {
  absl::StatusOr<std::vector<BulkCheckResult>> r = ParseBulkCheck(Recorded("assets_bulk-upload-check.json"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].id, "test1.jpg");
  EXPECT_FALSE((*r)[0].accepted);
  EXPECT_EQ((*r)[0].reason, "duplicate");
  EXPECT_EQ((*r)[0].asset_id, kTest1);
  EXPECT_FALSE((*r)[0].is_trashed);
  EXPECT_EQ((*r)[2].id, "new.jpg");
  EXPECT_TRUE((*r)[2].accepted);
  EXPECT_TRUE((*r)[2].asset_id.empty());

  absl::StatusOr<std::vector<BulkCheckResult>> after =
      ParseBulkCheck(Recorded("assets_bulk-upload-check_after-delete.json"));
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->size(), 1u);
  EXPECT_TRUE((*after)[0].is_trashed);

  absl::StatusOr<std::vector<BulkCheckResult>> txt = ParseBulkCheck(Recorded("bulk_check_txt.json"));
  ASSERT_TRUE(txt.ok()) << txt.status();
  EXPECT_TRUE((*txt)[0].accepted);  // only the upload itself refuses a .txt
}

TEST(JsonTest, UploadCreatedAndDuplicate) {
  absl::StatusOr<UploadResult> created = ParseUploadResult(Recorded("assets_upload.json"), 201);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->id, kTest1);
  EXPECT_FALSE(created->duplicate);
  for (const char* name : {"assets_upload_duplicate.json", "assets_upload_checksum-header.json",
                           "assets_upload_while-trashed.json"}) {
    absl::StatusOr<UploadResult> dup = ParseUploadResult(Recorded(name), 200);
    ASSERT_TRUE(dup.ok()) << name << ": " << dup.status();
    EXPECT_EQ(dup->id, kTest1) << name;
    EXPECT_TRUE(dup->duplicate) << name;
  }
  // Without a "status" field the HTTP status decides.
  absl::StatusOr<UploadResult> bare = ParseUploadResult(R"({"id":"x"})", 200);
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare->duplicate);
}

TEST(JsonTest, AlbumAssetResults) {
  absl::StatusOr<std::vector<BulkIdResult>> put = ParseBulkIdResults(Recorded("albums_id_assets_put.json"));
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_EQ(put->size(), 2u);
  EXPECT_EQ((*put)[0].id, kTest1);
  EXPECT_TRUE((*put)[0].success);
  EXPECT_EQ((*put)[1].id, kTest2);
  absl::StatusOr<std::vector<BulkIdResult>> again =
      ParseBulkIdResults(Recorded("albums_id_assets_put_again.json"));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 1u);
  EXPECT_FALSE((*again)[0].success);
  EXPECT_EQ((*again)[0].error, "duplicate");
}

TEST(JsonTest, ErrorMessages) {
  EXPECT_EQ(ParseErrorMessage(Recorded("trash_restore_assets_unknown.json")),
            "Not found or no asset.delete access");
  EXPECT_EQ(ParseErrorMessage(Recorded("upload_txt.json")), "Unsupported file type x.txt");
  EXPECT_EQ(ParseErrorMessage(Recorded("asset_original_range_past.json")), "Not Found");
  EXPECT_EQ(ParseErrorMessage(Recorded("asset_unknown.json")), "Validation failed: id: Invalid UUID");
  EXPECT_EQ(ParseErrorMessage(Recorded("assets_upload_missing-field.json")),
            "Validation failed: fileCreatedAt: Invalid input: expected ISO 8601 datetime string, "
            "received undefined; fileModifiedAt: Invalid input: expected ISO 8601 datetime "
            "string, received undefined");
  // 2.x lists class-validator sentences.
  EXPECT_EQ(ParseErrorMessage(R"({"message":["id must be a UUID","x"],"statusCode":400})"),
            "id must be a UUID; x");
  EXPECT_EQ(ParseErrorMessage("<html>bad gateway</html>"), "");
}

TEST(JsonTest, RequestBodies) {
  EXPECT_EQ(SearchAlbumAssetsBody("a\"1", 2, 1000),
            R"({"albumIds":["a\"1"],"withExif":true,"size":1000,"page":2})");
  EXPECT_EQ(SearchByChecksumBody("YOti+/="),
            R"({"checksum":"YOti+/=","withDeleted":true,"withExif":true})");
  EXPECT_EQ(BulkUploadCheckBody({{"f1", "ab"}, {"f2", "cd"}}),
            R"({"assets":[{"id":"f1","checksum":"ab"},{"id":"f2","checksum":"cd"}]})");
  EXPECT_EQ(IdsBody({"x", "y"}), R"({"ids":["x","y"]})");
  EXPECT_EQ(DeleteAssetsBody({"x"}, true), R"({"ids":["x"],"force":true})");
  EXPECT_EQ(AlbumNameBody("Trip 2024 ✈"), R"({"albumName":"Trip 2024 ✈"})");
  EXPECT_EQ(CopyAssetBody("s", "t"), R"({"sourceId":"s","targetId":"t"})");
}

}  // namespace
}  // namespace immichfs::immich::json
