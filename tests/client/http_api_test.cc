// HttpImmichApi against tests/fake_immich/server.py imitating Immich 3.1:
// every call over real HTTP, with the answers checked against what the fake
// server's control API says it holds.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>

#include "client_fixture.h"
#include "common/hash.h"
#include "common/iso_time.h"

namespace immichfs::testing {
namespace {

using immich::Album;
using immich::Asset;
using immich::AssetPage;

class HttpApiTest : public ClientTestBase<kVersion3> {};

std::string Sha1Hex(const std::string& data) { return ToHex(Sha1Of(data)); }

// A file in the temp dir holding `content`, removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/immichfs-upload-XXXXXX";
    int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    close(fd);
    path_ = name;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

immich::UploadRequest UploadOf(const TempFile& file, const std::string& content,
                               const std::string& name) {
  immich::UploadRequest req;
  req.path = file.path();
  req.size = static_cast<int64_t>(content.size());
  req.filename = name;
  req.checksum_hex = Sha1Hex(content);
  req.file_created_at = ParseIsoTime("2024-05-01T10:00:00.000Z").value();
  req.file_modified_at = ParseIsoTime("2024-05-01T10:30:00.000Z").value();
  return req;
}

TEST_F(HttpApiTest, ServerCalls) {
  ASSERT_TRUE(api_->Ping().ok());
  absl::StatusOr<immich::ServerVersion> v = api_->GetVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->major, 3);
  EXPECT_EQ(v->minor, 1);
  absl::StatusOr<immich::User> me = api_->GetMe();
  ASSERT_TRUE(me.ok()) << me.status();
  EXPECT_EQ(me->email, "admin@example.com");
  EXPECT_FALSE(me->id.empty());
  absl::StatusOr<immich::MediaTypes> types = api_->GetMediaTypes();
  ASSERT_TRUE(types.ok()) << types.status();
  EXPECT_NE(std::find(types->image.begin(), types->image.end(), ".jpg"), types->image.end());
  absl::StatusOr<immich::Storage> storage = api_->GetStorage();
  ASSERT_TRUE(storage.ok()) << storage.status();
  EXPECT_GT(storage->size_bytes, 0);
}

TEST_F(HttpApiTest, ListAlbumsHasOwnedAndSharedOnce) {
  const std::string mine = server_->SeedAlbum("Mine");
  const std::string shared_by_me = server_->SeedAlbum("Shared by me", "", {kBob});
  const std::string bobs = server_->SeedAlbum("Bob's", kBob, {"admin@example.com"});
  server_->SeedAlbum("Bob's private", kBob);
  absl::StatusOr<std::vector<Album>> albums = api_->ListAlbums();
  ASSERT_TRUE(albums.ok()) << albums.status();
  std::multiset<std::string> ids;
  for (const Album& a : *albums) ids.insert(a.id);
  EXPECT_EQ(ids, (std::multiset<std::string>{mine, shared_by_me, bobs}));
}

TEST_F(HttpApiTest, PagesThroughABigAlbum) {
  server_->Generate(2500, 64, "Big");
  absl::StatusOr<std::vector<Album>> albums = api_->ListAlbums();
  ASSERT_TRUE(albums.ok()) << albums.status();
  ASSERT_EQ(albums->size(), 1u);
  EXPECT_EQ(albums->front().name, "Big");
  EXPECT_EQ(albums->front().asset_count, 2500);
  std::set<std::string> seen;
  std::optional<int> page = 1;
  std::vector<size_t> page_sizes;
  while (page.has_value()) {
    absl::StatusOr<AssetPage> p = api_->SearchAlbumAssets(albums->front().id, *page, 1000);
    ASSERT_TRUE(p.ok()) << p.status();
    page_sizes.push_back(p->assets.size());
    for (const Asset& a : p->assets) {
      EXPECT_EQ(a.size, 64) << a.id;  // withExif:true brings fileSizeInByte
      EXPECT_FALSE(a.checksum.empty());
      seen.insert(a.id);
    }
    ASSERT_LT(page_sizes.size(), 10u) << "paging does not end";
    page = p->next_page;
  }
  EXPECT_EQ(page_sizes, (std::vector<size_t>{1000, 1000, 500}));
  EXPECT_EQ(seen.size(), 2500u);
  EXPECT_EQ(api_->SearchAlbumAssets(albums->front().id, 1, 1001).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpApiTest, DownloadRanges) {
  const std::string content = RandomBytes(300000, 1);
  const std::string id = server_->AddAsset("r.jpg", content);
  std::string got;
  ASSERT_TRUE(DownloadTo(id, 1000, 5000, content.size(), &got).ok());
  EXPECT_EQ(got, content.substr(1000, 5000));
  // Open-ended: from the offset to the end.
  ASSERT_TRUE(DownloadTo(id, 123457, std::nullopt, content.size(), &got).ok());
  EXPECT_EQ(got, content.substr(123457));
  ASSERT_TRUE(DownloadTo(id, 0, std::nullopt, std::nullopt, &got).ok());
  EXPECT_EQ(got, content);
  // A length past the end gives what there is.
  ASSERT_TRUE(DownloadTo(id, content.size() - 10, 100, std::nullopt, &got).ok());
  EXPECT_EQ(got, content.substr(content.size() - 10));
  ASSERT_TRUE(DownloadTo(id, 5, 0, std::nullopt, &got).ok());
  EXPECT_EQ(got, "");
}

TEST_F(HttpApiTest, DownloadErrors) {
  const std::string content = RandomBytes(5000, 2);
  const std::string id = server_->AddAsset("e.jpg", content);
  std::string got;
  absl::Status changed = DownloadTo(id, 0, 100, 4999, &got);
  EXPECT_EQ(changed.code(), absl::StatusCode::kFailedPrecondition) << changed;
  EXPECT_EQ(got, "");  // nothing reaches the sink from a file of the wrong size
  absl::Status past = DownloadTo(id, content.size(), std::nullopt, std::nullopt, &got);
  EXPECT_EQ(past.code(), absl::StatusCode::kOutOfRange) << past;
  absl::Status missing = DownloadTo("3f2a0000-0000-4000-8000-000000000000", 0, 10, std::nullopt, &got);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_NE(missing.message().find("3f2a0000"), absl::string_view::npos) << missing;
  // A sink that stops the transfer.
  size_t calls = 0;
  absl::Status stopped = api_->Download(id, 0, std::nullopt, std::nullopt,
                                        [&calls](const char*, size_t) { return ++calls > 1000; });
  EXPECT_EQ(stopped.code(), absl::StatusCode::kCancelled) << stopped;
  EXPECT_EQ(calls, 1u);
}

TEST_F(HttpApiTest, UploadCreatedThenDuplicate) {
  const std::string content = RandomBytes(3 << 20, 3);
  TempFile file(content);
  immich::UploadRequest req = UploadOf(file, content, "big.jpg");
  absl::StatusOr<immich::UploadResult> first = api_->Upload(req);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->duplicate);
  rapidjson::Document state = server_->AssetState(first->id);
  ASSERT_TRUE(state.IsObject()) << "the fake does not have asset " << first->id;
  EXPECT_EQ(std::string(state["checksum_hex"].GetString()), req.checksum_hex);
  EXPECT_EQ(state["size"].GetInt64(), req.size);
  EXPECT_EQ(std::string(state["name"].GetString()), "big.jpg");
  EXPECT_EQ(ParseIsoTime(state["fileModifiedAt"].GetString()), req.file_modified_at);
  EXPECT_GE(server_->Stat("upload_bytes"), req.size);

  absl::StatusOr<immich::UploadResult> again = api_->Upload(req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->id, first->id);

  absl::StatusOr<Asset> asset = api_->GetAsset(first->id);
  ASSERT_TRUE(asset.ok()) << asset.status();
  EXPECT_EQ(asset->size, req.size);
  EXPECT_EQ(asset->original_file_name, "big.jpg");
  EXPECT_EQ(asset->checksum, ToBase64(*ParseSha1(req.checksum_hex)));
}

// Pages of `path` in the page cache (mincore over a mapping of it).
size_t ResidentPages(const std::string& path, size_t size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  EXPECT_NE(map, MAP_FAILED);
  std::vector<unsigned char> pages((size + ::sysconf(_SC_PAGESIZE) - 1) / ::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(::mincore(map, size, pages.data()), 0);
  ::munmap(map, size);
  return std::count_if(pages.begin(), pages.end(), [](unsigned char c) { return c & 1; });
}

// An upload reads its file once: the pages it sent are dropped behind it, so
// a big video does not push everything else out of the page cache.
TEST_F(HttpApiTest, UploadLeavesThePageCacheBehindIt) {
  const std::string content = RandomBytes(48 << 20, 5);
  TempFile file(content);
  struct statfs fs;
  ASSERT_EQ(::statfs(file.path().c_str(), &fs), 0);
  if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "tmpfs keeps its pages: nothing to drop";
  {
    int fd = ::open(file.path().c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_EQ(::fsync(fd), 0);  // as the spool's file is before its upload
    ::close(fd);
  }
  const size_t before = ResidentPages(file.path(), content.size());
  ASSERT_GT(before, 0u) << "the file just written should be cached";
  absl::StatusOr<immich::UploadResult> up = api_->Upload(UploadOf(file, content, "video.mp4"));
  ASSERT_TRUE(up.ok()) << up.status();
  rapidjson::Document state = server_->AssetState(up->id);
  ASSERT_TRUE(state.IsObject());
  EXPECT_EQ(std::string(state["checksum_hex"].GetString()), Sha1Hex(content));
  const size_t after = ResidentPages(file.path(), content.size());
  EXPECT_LT(after, before / 4) << after << " of " << before << " pages still cached";
}

TEST_F(HttpApiTest, UploadErrors) {
  const std::string content = "just text";
  TempFile file(content);
  absl::StatusOr<immich::UploadResult> txt = api_->Upload(UploadOf(file, content, "x.txt"));
  EXPECT_EQ(txt.status().code(), absl::StatusCode::kInvalidArgument) << txt.status();
  EXPECT_NE(txt.status().message().find("Unsupported file type"), absl::string_view::npos);
  // The spool file does not hold what the caller says: nothing is sent.
  immich::UploadRequest wrong_size = UploadOf(file, content, "y.jpg");
  wrong_size.size += 1;
  EXPECT_EQ(api_->Upload(wrong_size).status().code(), absl::StatusCode::kFailedPrecondition);
  immich::UploadRequest gone = UploadOf(file, content, "z.jpg");
  gone.path = "/nonexistent/immichfs-spool-file";
  EXPECT_EQ(api_->Upload(gone).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(HttpApiTest, BulkUploadCheck) {
  const std::string content = RandomBytes(1000, 4);
  const std::string id = server_->AddAsset("known.jpg", content);
  absl::StatusOr<std::vector<immich::BulkCheckResult>> r = api_->BulkUploadCheck(
      {{"known", Sha1Hex(content)}, {"new", Sha1Hex("something else")}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].id, "known");
  EXPECT_FALSE((*r)[0].accepted);
  EXPECT_EQ((*r)[0].reason, "duplicate");
  EXPECT_EQ((*r)[0].asset_id, id);
  EXPECT_EQ((*r)[1].id, "new");
  EXPECT_TRUE((*r)[1].accepted);
}

TEST_F(HttpApiTest, TrashRestoreAndDelete) {
  const std::string content = RandomBytes(2000, 5);
  const std::string id = server_->AddAsset("t.jpg", content);
  ASSERT_TRUE(api_->DeleteAssets({id}, /*force=*/false).ok());
  absl::StatusOr<Asset> trashed = api_->GetAsset(id);
  ASSERT_TRUE(trashed.ok()) << trashed.status();
  EXPECT_TRUE(trashed->is_trashed);
  absl::StatusOr<std::vector<Asset>> found = api_->SearchByChecksum(ToBase64(*ParseSha1(Sha1Hex(content))));
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(found->front().id, id);
  EXPECT_TRUE(found->front().is_trashed);

  ASSERT_TRUE(api_->RestoreFromTrash({id}).ok());
  absl::StatusOr<Asset> restored = api_->GetAsset(id);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_FALSE(restored->is_trashed);

  ASSERT_TRUE(api_->DeleteAssets({id}, /*force=*/true).ok());
  EXPECT_EQ(api_->GetAsset(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->RestoreFromTrash({id}).code(), absl::StatusCode::kNotFound);
}

TEST_F(HttpApiTest, AlbumLifecycle) {
  const std::string a = server_->AddAsset("a.jpg", RandomBytes(100, 6));
  const std::string b = server_->AddAsset("b.jpg", RandomBytes(100, 7));
  absl::StatusOr<Album> album = api_->CreateAlbum("Trip");
  ASSERT_TRUE(album.ok()) << album.status();
  EXPECT_EQ(album->name, "Trip");
  absl::StatusOr<Album> renamed = api_->RenameAlbum(album->id, "Trip 2024 ✈");
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(renamed->name, "Trip 2024 ✈");

  absl::StatusOr<std::vector<immich::BulkIdResult>> added = api_->AddToAlbum(album->id, {a, b});
  ASSERT_TRUE(added.ok()) << added.status();
  ASSERT_EQ(added->size(), 2u);
  EXPECT_TRUE((*added)[0].success && (*added)[1].success);
  absl::StatusOr<std::vector<immich::BulkIdResult>> again = api_->AddToAlbum(album->id, {a});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->front().success);
  EXPECT_EQ(again->front().error, "duplicate");

  absl::StatusOr<Album> got = api_->GetAlbum(album->id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->asset_count, 2);
  absl::StatusOr<std::vector<Album>> of_a = api_->ListAlbumsForAsset(a);
  ASSERT_TRUE(of_a.ok()) << of_a.status();
  ASSERT_EQ(of_a->size(), 1u);
  EXPECT_EQ(of_a->front().id, album->id);

  absl::StatusOr<std::vector<immich::BulkIdResult>> removed = api_->RemoveFromAlbum(album->id, {a});
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(removed->front().success);
  absl::StatusOr<std::vector<Album>> none = api_->ListAlbumsForAsset(a);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());

  // The album's membership follows an edited copy.
  ASSERT_TRUE(api_->CopyAssetMetadata(b, a).ok());
  absl::StatusOr<std::vector<Album>> copied = api_->ListAlbumsForAsset(a);
  ASSERT_TRUE(copied.ok()) << copied.status();
  ASSERT_EQ(copied->size(), 1u);

  ASSERT_TRUE(api_->DeleteAlbum(album->id).ok());
  absl::StatusOr<Album> deleted = api_->GetAlbum(album->id);
  EXPECT_EQ(deleted.status().code(), absl::StatusCode::kNotFound) << deleted.status();
  EXPECT_NE(deleted.status().message().find(album->id), absl::string_view::npos);
}

}  // namespace
}  // namespace immichfs::testing
