#include "fs/catalog.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "memory_immich/memory_immich.h"

namespace immichfs::fs {
namespace {

using fake::AssetSpec;
using fake::FakeImmichApi;
using fake::Method;

class CatalogTest : public ::testing::Test {
 protected:
  CatalogTest() : catalog_(&api_, absl::Seconds(10), [this] { return now_; }) {}

  std::vector<std::string> Shown(const std::string& album_id) {
    std::vector<std::string> out;
    for (const auto& [shown, id] : catalog_.Listing(album_id)) out.push_back(shown);
    return out;
  }
  std::string Tag(const std::string& id) { return id.substr(0, 8); }
  // An album "Big" holding IMG_<from>.jpg .. IMG_<to - 1>.jpg (new if album is empty).
  std::string Fill(int from, int to, std::string album = "") {
    if (album.empty()) album = api_.AddAlbum("Big");
    for (int i = from; i < to; ++i) {
      api_.AddAsset("IMG_" + std::to_string(i) + ".jpg", "b" + std::to_string(i), {album});
    }
    return album;
  }

  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
  FakeImmichApi api_;
  Catalog catalog_;
};

TEST_F(CatalogTest, AlbumsWithOneNameAreToldApartByIdTheOldestKeepsIt) {
  std::string first = api_.AddAlbum("Trip");
  std::string second = api_.AddAlbum("Trip");
  api_.AddAlbum("Home/Work");
  ASSERT_TRUE(catalog_.RefreshRoot().ok());
  EXPECT_EQ(catalog_.AlbumByShown("Trip")->id, first);
  EXPECT_EQ(catalog_.AlbumByShown("Trip (" + Tag(second) + ")")->id, second);
  EXPECT_TRUE(catalog_.AlbumByShown("Home\xEF\xBC\x8FWork").has_value());
  EXPECT_EQ(catalog_.AlbumCount(), 3u);
}

TEST_F(CatalogTest, AssetNamesCollideOldestUploadKeepsThePlainName) {
  std::string album = api_.AddAlbum("A");
  AssetSpec newer{.name = "IMG.jpg", .bytes = "new", .uploaded_at = absl::FromUnixSeconds(200),
                  .albums = {album}};
  AssetSpec older{.name = "IMG.jpg", .bytes = "old", .uploaded_at = absl::FromUnixSeconds(100),
                  .albums = {album}};
  std::string n = api_.AddAsset(newer);
  std::string o = api_.AddAsset(older);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(catalog_.AssetInAlbum(album, "IMG.jpg"), o);
  EXPECT_EQ(catalog_.AssetInAlbum(album, "IMG (" + Tag(n) + ").jpg"), n);
}

TEST_F(CatalogTest, ANameStaysWithItsAssetWhenAnOlderNamesakeArrives) {
  std::string album = api_.AddAlbum("A");
  std::string shown_first = api_.AddAsset(
      {.name = "x.jpg", .bytes = "1", .uploaded_at = absl::FromUnixSeconds(200), .albums = {album}});
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(Shown(album), std::vector<std::string>{"x.jpg"});
  std::string older = api_.AddAsset(
      {.name = "x.jpg", .bytes = "2", .uploaded_at = absl::FromUnixSeconds(100), .albums = {album}});
  now_ += absl::Seconds(11);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(catalog_.AssetInAlbum(album, "x.jpg"), shown_first);
  EXPECT_EQ(catalog_.AssetInAlbum(album, "x (" + Tag(older) + ").jpg"), older);
}

TEST_F(CatalogTest, HiddenAndTrashedAssetsAreNotListed) {
  std::string album = api_.AddAlbum("A");
  std::string motion = api_.AddAsset({.name = "live.mov", .bytes = "v", .visibility = "hidden",
                                      .albums = {album}});
  api_.AddAsset({.name = "live.heic", .bytes = "s", .live_photo_video_id = motion,
                 .albums = {album}});
  api_.AddAsset({.name = "gone.jpg", .bytes = "t", .trashed = true, .albums = {album}});
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(Shown(album), std::vector<std::string>{"live.heic"});
}

TEST_F(CatalogTest, UnknownSizeIsAskedForByItself) {
  std::string album = api_.AddAlbum("A");
  std::string id = api_.AddAsset({.name = "a.jpg", .bytes = "12345", .size_known = false,
                                  .albums = {album}});
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kGetAsset), 1);
  EXPECT_EQ(catalog_.Asset(id)->size, 5);
}

TEST_F(CatalogTest, AnAssetWhoseSizeCannotBeLearnedIsHiddenUntilItIs) {
  std::string album = api_.AddAlbum("A");
  api_.AddAsset({.name = "a.jpg", .bytes = "12345", .size_known = false, .albums = {album}});
  api_.FailNext(Method::kGetAsset, absl::UnavailableError("down"));
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_TRUE(Shown(album).empty());
  // Unchanged album, but incomplete: paged again once the TTL has passed.
  now_ += absl::Seconds(11);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(Shown(album), std::vector<std::string>{"a.jpg"});
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 2);
}

TEST_F(CatalogTest, AnUnchangedAlbumIsNotPagedAgain) {
  std::string album = api_.AddAlbum("A");
  api_.AddAsset("a.jpg", "a", {album});
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());  // within the TTL: no calls at all
  EXPECT_EQ(api_.Calls(Method::kListAlbums), 1);
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 1);
  now_ += absl::Seconds(11);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kListAlbums), 2);
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 1);
}

TEST_F(CatalogTest, AChangedAlbumIsPagedAgain) {
  std::string album = api_.AddAlbum("A");
  std::string a = api_.AddAsset("a.jpg", "a", {album});
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  api_.SetAssetBytes(a, "changed content");  // moves lastModifiedAssetTimestamp
  now_ += absl::Seconds(11);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 2);
  EXPECT_EQ(catalog_.Asset(a)->size, 15);
  api_.AddAsset("b.jpg", "b", {album});
  now_ += absl::Seconds(11);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(Shown(album), (std::vector<std::string>{"a.jpg", "b.jpg"}));
}

TEST_F(CatalogTest, ServerDownKeepsWhatIsKnownAndBacksOff) {
  std::string album = api_.AddAlbum("A");
  api_.AddAsset("a.jpg", "a", {album});
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  api_.SetDown(true);
  now_ += absl::Seconds(11);
  EXPECT_EQ(catalog_.RefreshRoot().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(catalog_.RefreshRoot().ok());  // not asked again within the TTL
  EXPECT_EQ(api_.Calls(Method::kListAlbums), 2);
  EXPECT_EQ(Shown(album), std::vector<std::string>{"a.jpg"});
  EXPECT_TRUE(catalog_.AlbumByShown("A").has_value());
}

TEST_F(CatalogTest, ColdStartWithServerDownFails) {
  api_.SetDown(true);
  EXPECT_FALSE(catalog_.RefreshRoot().ok());
  EXPECT_FALSE(catalog_.HasAlbums());
  api_.SetDown(false);
  EXPECT_TRUE(catalog_.RefreshRoot().ok());  // a cold catalog retries at once
}

TEST_F(CatalogTest, AnAlbumGoneFromTheServerIsNotFound) {
  std::string album = api_.AddAlbum("A");
  ASSERT_TRUE(catalog_.RefreshRoot().ok());
  ASSERT_TRUE(api_.DeleteAlbum(album).ok());
  now_ += absl::Seconds(11);
  EXPECT_EQ(catalog_.RefreshAlbum(album).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(catalog_.AlbumByShown("A").has_value());
}

TEST_F(CatalogTest, PagesThroughALargeAlbum) {
  std::string album = Fill(0, 2500);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 3);
  EXPECT_EQ(catalog_.Listing(album).size(), 2500u);
}

TEST_F(CatalogTest, PagesOfALargeAlbumAreAskedForConcurrently) {
  std::string album = Fill(0, 4000);
  std::atomic<int> in_flight{0}, most{0};
  api_.SetCallHook([&](Method m) {
    if (m != Method::kSearchAlbumAssets) return;
    int now = ++in_flight;
    for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    --in_flight;
  });
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  api_.SetCallHook(nullptr);
  EXPECT_GT(most.load(), 1);
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 4);
  EXPECT_EQ(catalog_.Listing(album).size(), 4000u);
}

TEST_F(CatalogTest, AnAlbumThatGrewPastItsAssetCountIsListedWhole) {
  std::string album = Fill(0, 1500);
  ASSERT_TRUE(catalog_.RefreshRoot().ok());  // assetCount 1500: two pages expected
  Fill(1500, 3200, album);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 4);
  EXPECT_EQ(catalog_.Listing(album).size(), 3200u);
}

TEST_F(CatalogTest, AFailedPageFailsTheListingAndKeepsTheOldOne) {
  std::string album = Fill(0, 2500);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  api_.AddAsset("new.jpg", "new", {album});
  now_ += absl::Seconds(11);
  api_.FailNext(Method::kSearchAlbumAssets, absl::UnavailableError("down"));
  EXPECT_FALSE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(catalog_.Listing(album).size(), 2500u);
  now_ += absl::Seconds(11);  // a failed listing is asked for again after a TTL
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(catalog_.Listing(album).size(), 2501u);
}

// Every lookup and create in an album asks for a refresh: while Immich is
// down, a listing that failed must not be paged again (with the client's
// retries) at each one, as a real Immich stopped during cp -r showed.
TEST_F(CatalogTest, AFailedListingIsNotAskedForAgainWithinTheTtl) {
  std::string album = api_.AddAlbum("A");
  api_.AddAsset("a.jpg", "a", {album});
  ASSERT_TRUE(catalog_.RefreshRoot().ok());
  api_.SetDown(true);
  EXPECT_EQ(catalog_.RefreshAlbum(album).code(), absl::StatusCode::kUnavailable);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 1);
  EXPECT_TRUE(Shown(album).empty());  // what is known: nothing yet
  api_.SetDown(false);
  now_ += absl::Seconds(11);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(Shown(album), std::vector<std::string>{"a.jpg"});
}

TEST_F(CatalogTest, AnAlbumThatChangedIsListedAgainWithinTheTtlOfAFailure) {
  std::string album = api_.AddAlbum("A");
  api_.AddAsset("a.jpg", "a", {album});
  ASSERT_TRUE(catalog_.RefreshRoot().ok());
  api_.FailNext(Method::kSearchAlbumAssets, absl::UnavailableError("down"));
  EXPECT_FALSE(catalog_.RefreshAlbum(album).ok());
  api_.AddAsset("b.jpg", "b", {album});  // the album list now says it changed
  ASSERT_TRUE(catalog_.RefreshRoot(/*force=*/true).ok());
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(Shown(album), (std::vector<std::string>{"a.jpg", "b.jpg"}));
}

std::vector<std::string> Listed(const Catalog& c, const std::string& album_id) {
  std::vector<std::string> out;
  for (const auto& [shown, id] : c.Listing(album_id)) out.push_back(shown);
  return out;
}

// A temporary directory for stores, removed with the object.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/catalog_test.XXXXXX";
    EXPECT_NE(::mkdtemp(tmpl), nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A mount that lists the album once and ends (its catalog waits for the
// listing to be stored).
void ListOnce(FakeImmichApi& api, ListingStore& store, const std::string& album, absl::Time now) {
  Catalog once(&api, absl::Seconds(10), [now] { return now; });
  once.SetListingStore(&store);
  ASSERT_TRUE(once.RefreshAlbum(album).ok());
}

// How many pages a new mount's catalog asks for to list the album (0: it
// used the stored listing).
int PagesOfANewStart(FakeImmichApi& api, ListingStore& store, const std::string& album,
                     absl::Time now) {
  api.ResetCalls();
  Catalog fresh(&api, absl::Seconds(10), [now] { return now; });
  fresh.SetListingStore(&store);
  EXPECT_TRUE(fresh.RefreshAlbum(album).ok());
  return api.Calls(Method::kSearchAlbumAssets);
}

TEST_F(CatalogTest, AStoredListingOfAnUnchangedAlbumSparesThePagingAfterARestart) {
  TempDir dir;
  std::string album = Fill(0, 2500);
  ListingStore store(dir.path() + "/listings", "owner");
  ListOnce(api_, store, album, now_);
  api_.ResetCalls();
  Catalog second(&api_, absl::Seconds(10), [this] { return now_; });
  second.SetListingStore(&store);
  ASSERT_TRUE(second.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kListAlbums), 1);
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 0);
  std::vector<std::pair<std::string, std::string>> listing = second.Listing(album);
  ASSERT_EQ(listing.size(), 2500u);
  std::optional<AssetRec> a = second.Asset(listing[0].second);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->size, api_.GetAsset(a->id)->size);
  EXPECT_EQ(a->checksum, api_.GetAsset(a->id)->checksum);
  EXPECT_EQ(a->mtime, api_.GetAsset(a->id)->file_modified_at);

  // Changed on the server: paged again, and the new listing stored.
  api_.AddAsset("new.jpg", "new", {album});
  now_ += absl::Seconds(11);
  Catalog third(&api_, absl::Seconds(10), [this] { return now_; });
  third.SetListingStore(&store);
  ASSERT_TRUE(third.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 3);
  EXPECT_EQ(third.Listing(album).size(), 2501u);
}

TEST_F(CatalogTest, OurOwnChangeDropsTheStoredListing) {
  TempDir dir;
  std::string album = api_.AddAlbum("A");
  std::string a = api_.AddAsset("a.jpg", "a", {album});
  std::string b = api_.AddAsset("b.jpg", "b", {album});
  ListingStore store(dir.path() + "/listings", "owner");
  ListOnce(api_, store, album, now_);
  {
    Catalog second(&api_, absl::Seconds(10), [this] { return now_; });
    second.SetListingStore(&store);
    ASSERT_TRUE(second.RefreshAlbum(album).ok());
    // Trashing b need not change the album's updatedAt or count in Immich:
    // the stored listing must not bring b back after the next restart.
    second.DropAssetFromAlbum(album, b);
  }
  EXPECT_EQ(PagesOfANewStart(api_, store, album, now_), 1);
  (void)a;
}

// Lists the album with `catalog`; while its first page is being fetched,
// the catalog learns of our own change: `asset` put into the album.
void ListWithAChangeDuringPaging(FakeImmichApi& api, Catalog& catalog, const std::string& album,
                                 const std::string& asset) {
  std::atomic<bool> done{false};
  api.SetCallHook([&](Method m) {
    if (m == Method::kSearchAlbumAssets && !done.exchange(true)) {
      catalog.PutAssetInAlbum(album, Catalog::ToRec(*api.GetAsset(asset)));
    }
  });
  EXPECT_TRUE(catalog.RefreshAlbum(album).ok());
  api.SetCallHook(nullptr);
}

TEST_F(CatalogTest, AChangeOfOursWhilePagesArriveStoresNothing) {
  TempDir dir;
  std::string album = Fill(0, 1500);
  std::string extra = api_.AddAsset("extra.jpg", "extra", {});
  ListingStore store(dir.path() + "/listings", "owner");
  {
    Catalog first(&api_, absl::Seconds(10), [this] { return now_; });
    first.SetListingStore(&store);
    ListWithAChangeDuringPaging(api_, first, album, extra);
  }
  EXPECT_GE(PagesOfANewStart(api_, store, album, now_), 1)
      << "a listing older than our change was stored";
}

TEST_F(CatalogTest, AChangeOfOursWhilePagesArriveIsPagedAgain) {
  std::string album = api_.AddAlbum("A");
  api_.AddAsset("a.jpg", "a", {album});
  std::string b = api_.AddAsset("b.jpg", "b", {});
  ListWithAChangeDuringPaging(api_, catalog_, album, b);
  // The pages may predate the change: the next look pages again, at once.
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 2);
}

TEST_F(CatalogTest, AChangeOfOursWhileTheListingIsSavedDeletesIt) {
  TempDir dir;
  std::string album = api_.AddAlbum("A");
  api_.AddAsset("a.jpg", "a", {album});
  std::string b = api_.AddAsset("b.jpg", "b", {album});
  ListingStore store(dir.path() + "/listings", "owner");
  absl::Notification saving, go_on;
  store.on_save_for_test = [&](const std::string&) {
    saving.Notify();
    go_on.WaitForNotification();
  };
  {
    Catalog first(&api_, absl::Seconds(10), [this] { return now_; });
    first.SetListingStore(&store);
    ASSERT_TRUE(first.RefreshAlbum(album).ok());
    ASSERT_TRUE(saving.WaitForNotificationWithTimeout(absl::Seconds(30)));
    first.DropAssetFromAlbum(album, b);  // before the file is written
    go_on.Notify();
  }
  store.on_save_for_test = nullptr;
  EXPECT_EQ(PagesOfANewStart(api_, store, album, now_), 1)
      << "the listing saved before our change was kept";
}

TEST_F(CatalogTest, AStoredListingCutShortIsIgnored) {
  TempDir dir;
  std::string album = Fill(0, 30);
  ListingStore store(dir.path() + "/listings", "owner");
  ListOnce(api_, store, album, now_);
  const std::string path = dir.path() + "/listings/" + album;
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  for (off_t cut : {st.st_size - 1, st.st_size - 5, st.st_size / 2}) {
    SCOPED_TRACE(cut);
    ASSERT_EQ(::truncate(path.c_str(), cut), 0);
    api_.ResetCalls();
    Catalog second(&api_, absl::Seconds(10), [this] { return now_; });
    second.SetListingStore(&store);
    ASSERT_TRUE(second.RefreshAlbum(album).ok());
    EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 1);
    EXPECT_EQ(second.Listing(album).size(), 30u);
    ::stat(path.c_str(), &st);  // saved again, whole
  }
}

TEST_F(CatalogTest, AnOfflineStartShowsTheStoredListing) {
  TempDir dir;
  std::string album = api_.AddAlbum("Trip");
  api_.AddAsset("beach.jpg", "sand", {album});
  {
    AlbumStore albums(dir.path() + "/albums", "owner");
    ListingStore store(dir.path() + "/listings", "owner");
    Catalog first(&api_, absl::Seconds(10), [this] { return now_; });
    first.SetAlbumStore(&albums);
    first.SetListingStore(&store);
    ASSERT_TRUE(first.RefreshAlbum(album).ok());
  }
  AlbumStore albums(dir.path() + "/albums", "owner");
  ListingStore store(dir.path() + "/listings", "owner");
  Catalog offline(&api_, absl::Seconds(10), [this] { return now_; });
  offline.SetAlbumStore(&albums);
  offline.SetListingStore(&store);
  api_.SetDown(true);
  ASSERT_EQ(offline.LoadStoredAlbums().value_or(0), 1u);
  EXPECT_FALSE(offline.RefreshAlbum(album).ok());  // Immich is down...
  EXPECT_EQ(Listed(offline, album), (std::vector<std::string>{"beach.jpg"}));  // ...but we know
  // Another owner (server or key) never sees it.
  ListingStore other(dir.path() + "/listings", "someone else");
  Catalog stranger(&api_, absl::Seconds(10), [this] { return now_; });
  stranger.SetAlbumStore(&albums);
  stranger.SetListingStore(&other);
  ASSERT_EQ(stranger.LoadStoredAlbums().value_or(0), 1u);
  EXPECT_FALSE(stranger.RefreshAlbum(album).ok());
  EXPECT_TRUE(stranger.Listing(album).empty());
}

TEST_F(CatalogTest, TheSavedAlbumListServesAnOfflineStartUntilImmichAnswers) {
  char tmpl[] = "/tmp/catalog_test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/albums";
  std::string kept = api_.AddAlbum("Kept");
  {
    AlbumStore store(path, "owner");
    Catalog first(&api_, absl::Seconds(10), [this] { return now_; });
    first.SetAlbumStore(&store);
    ASSERT_TRUE(first.RefreshRoot().ok());
  }
  AlbumStore store(path, "owner");
  Catalog offline(&api_, absl::Seconds(10), [this] { return now_; });
  offline.SetAlbumStore(&store);
  api_.SetDown(true);
  EXPECT_FALSE(offline.RefreshRoot(/*force=*/true).ok());
  ASSERT_EQ(offline.LoadStoredAlbums().value_or(0), 1u);
  EXPECT_EQ(offline.AlbumByShown("Kept")->id, kept);
  // Immich is back: the next look asks it at once, and its list wins.
  api_.SetDown(false);
  std::string added = api_.AddAlbum("Added");
  ASSERT_TRUE(offline.RefreshRoot().ok());
  EXPECT_EQ(offline.AlbumByShown("Added")->id, added);
  EXPECT_EQ(offline.LoadStoredAlbums().value_or(0), 2u);  // no effect once Immich answered
  std::system(("rm -rf '" + std::string(tmpl) + "'").c_str());
}

TEST_F(CatalogTest, ConcurrentReadersOfAColdAlbumPageItOnce) {
  std::string album = api_.AddAlbum("A");
  for (int i = 0; i < 50; ++i) {
    api_.AddAsset("f" + std::to_string(i) + ".jpg", "b" + std::to_string(i), {album});
  }
  api_.SetLatency(Method::kSearchAlbumAssets, absl::Milliseconds(20));
  std::vector<std::thread> readers;
  std::vector<absl::Status> results(8);
  for (int i = 0; i < 8; ++i) {
    readers.emplace_back([&, i] { results[i] = catalog_.RefreshAlbum(album); });
  }
  for (std::thread& t : readers) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(api_.Calls(Method::kListAlbums), 1);
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 1);
  EXPECT_EQ(catalog_.Listing(album).size(), 50u);
}

TEST_F(CatalogTest, OverlongNamesFitNameMaxAndStayDistinct) {
  std::string album = api_.AddAlbum(std::string(300, 'L'));
  std::string stem(300, 'n');
  std::string a = api_.AddAsset(stem + "1.jpg", "1", {album});
  std::string b = api_.AddAsset(stem + "2.jpg", "2", {album});
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  std::vector<std::string> shown = Shown(album);
  ASSERT_EQ(shown.size(), 2u);
  for (const std::string& s : shown) EXPECT_LE(s.size(), 255u) << s;
  EXPECT_NE(shown[0], shown[1]);
  EXPECT_EQ(catalog_.AssetInAlbum(album, *catalog_.ShownNameOf(album, a)), a);
  EXPECT_EQ(catalog_.AssetInAlbum(album, *catalog_.ShownNameOf(album, b)), b);
  std::vector<AlbumView> albums = catalog_.Albums();
  ASSERT_EQ(albums.size(), 1u);
  EXPECT_LE(albums[0].shown.size(), 255u);
  EXPECT_EQ(albums[0].name, std::string(300, 'L'));
}

// The packed listing (one sorted vector per album, names in a pool): names
// stay with their asset when the asset's own name changes, local changes
// keep the order, and the pool is rebuilt without losing a name.
TEST_F(CatalogTest, ShownNamesSurviveRenamesDropsAndCompaction) {
  std::string album = api_.AddAlbum("A");
  std::string other = api_.AddAlbum("B");
  ASSERT_TRUE(catalog_.RefreshRoot().ok());
  AssetRec rec;
  rec.id = "3f2a9c01-7b1e-4c2d-9e8f-0123456789ab";
  rec.name = "b.jpg";
  rec.checksum = "qvTGHdzF6KLavt4PO0gs2a6pQ00=";
  rec.size = 5;
  catalog_.PutAssetInAlbum(album, rec);
  catalog_.PutAssetInAlbum(other, rec, "wanted.jpg");
  EXPECT_EQ(catalog_.ShownNameOf(album, rec.id), "b.jpg");
  EXPECT_EQ(catalog_.ShownNameOf(other, rec.id), "wanted.jpg");
  // The same asset under another name (a duplicate's hand-over): sticky.
  rec.name = "renamed.jpg";
  catalog_.PutAssetInAlbum(album, rec);
  EXPECT_EQ(catalog_.ShownNameOf(album, rec.id), "b.jpg");
  EXPECT_EQ(catalog_.Asset(rec.id)->name, "renamed.jpg");
  // Sorted inserts, a namesake tagged.
  AssetRec a = rec, c = rec;
  a.id = "00000000-0000-4000-8000-000000000001";
  a.name = "a.jpg";
  c.id = "00000000-0000-4000-8000-000000000002";
  c.name = "b.jpg";
  catalog_.PutAssetInAlbum(album, c);
  catalog_.PutAssetInAlbum(album, a);
  EXPECT_EQ(Shown(album),
            (std::vector<std::string>{"a.jpg", "b (00000000).jpg", "b.jpg"}));
  EXPECT_EQ(catalog_.AssetInAlbum(album, "b (00000000).jpg"), c.id);
  EXPECT_EQ(catalog_.AlbumsHolding(rec.id).size(), 2u);
  // Many names dropped: the pool is rebuilt, what is left is intact.
  for (int i = 0; i < 40000; ++i) {
    AssetRec x = rec;
    x.id = "id-" + std::to_string(i);
    x.name = std::string(40, 'x') + std::to_string(i % 2) + ".jpg";
    catalog_.PutAssetInAlbum(other, x);
  }
  for (int i = 0; i < 40000; ++i) catalog_.DropAssetFromAlbum(other, "id-" + std::to_string(i));
  EXPECT_EQ(Shown(album), (std::vector<std::string>{"a.jpg", "b (00000000).jpg", "b.jpg"}));
  EXPECT_EQ(Shown(other), (std::vector<std::string>{"wanted.jpg"}));
  catalog_.DropAssetFromAlbum(album, c.id);
  EXPECT_EQ(Shown(album), (std::vector<std::string>{"a.jpg", "b.jpg"}));
  EXPECT_FALSE(catalog_.ShownNameOf(album, c.id).has_value());
  std::vector<ListedAsset> listed = catalog_.ListAssets(album);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1].id.ToString(), rec.id);
  EXPECT_EQ(listed[1].attrs.size, 5);
}

}  // namespace
}  // namespace immichfs::fs
