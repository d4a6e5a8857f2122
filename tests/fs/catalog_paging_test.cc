// The catalog against a server that pages badly: nextPage forever (empty
// pages, the same page again, or new made-up assets each time), an
// assetCount no album has, and an album slow to page while others are used.
#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "memory_immich/memory_immich.h"
#include "fs/catalog.h"
#include "gtest/gtest.h"

namespace immichfs::fs {
namespace {

using fake::FakeImmichApi;
using fake::Method;
using Endless = FakeImmichApi::EndlessPaging;

class CatalogPagingTest : public ::testing::Test {
 protected:
  CatalogPagingTest() : catalog_(&api_, absl::Seconds(10), [this] { return now_.load(); }) {}

  std::string Fill(const std::string& name, int count) {
    std::string album = api_.AddAlbum(name);
    for (int i = 0; i < count; ++i) {
      api_.AddAsset(name + "_" + std::to_string(i) + ".jpg", name + std::to_string(i), {album});
    }
    return album;
  }
  // The old code paged an endless album forever: fail the test instead of
  // hanging it, by taking the server down after `limit` pages.
  void LimitPages(int limit) {
    api_.SetCallHook([this, limit](Method m) {
      if (m == Method::kSearchAlbumAssets && ++pages_ > limit) api_.SetDown(true);
    });
  }

  std::atomic<absl::Time> now_{absl::FromUnixSeconds(1'700'000'000)};
  std::atomic<int> pages_{0};
  FakeImmichApi api_;
  Catalog catalog_;
};

TEST_F(CatalogPagingTest, NextPageOnEveryEmptyPageStopsAtTheFirstEmptyOne) {
  std::string album = Fill("A", 10);
  api_.SetEndlessPaging(Endless::kEmpty);
  LimitPages(100);
  absl::Status s = catalog_.RefreshAlbum(album);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 2);
  EXPECT_EQ(catalog_.Listing(album).size(), 10u);
}

TEST_F(CatalogPagingTest, TheSamePageOverAndOverStopsWhenNothingIsNew) {
  std::string album = Fill("A", 1500);
  api_.SetEndlessPaging(Endless::kRepeat);
  LimitPages(100);
  absl::Status s = catalog_.RefreshAlbum(album);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 3);
  EXPECT_EQ(catalog_.Listing(album).size(), 1500u);
}

TEST_F(CatalogPagingTest, NewAssetsForeverAreCutAtTwiceAssetCountPlusTwoPages) {
  std::string album = Fill("A", 10);  // assetCount 10: one page promised
  api_.SetEndlessPaging(Endless::kFresh);
  LimitPages(100);
  absl::Status s = catalog_.RefreshAlbum(album);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 4);
  // What was received is shown (the album's own assets among it)...
  EXPECT_EQ(catalog_.Listing(album).size(), 10u + 3000u);
  EXPECT_TRUE(catalog_.AssetInAlbum(album, "A_3.jpg").has_value());
  // ...and, cut short, it is paged again after the TTL even if unchanged.
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 4);
  now_ = now_.load() + absl::Seconds(11);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 8);
}

TEST_F(CatalogPagingTest, TwiceAsManyAsAssetCountAreListedWhole) {
  // assetCount counts stills only, search also returns the hidden video half
  // of each live photo: an album of 5000 live photos pages 10 000 assets.
  // (The in-process fake does not list hidden assets; a lie stands in.)
  std::string album = Fill("Live", 10000);
  api_.SetAssetCountLie(5000);
  LimitPages(100);
  ASSERT_TRUE(catalog_.RefreshAlbum(album).ok());
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 10);
  EXPECT_EQ(catalog_.Listing(album).size(), 10000u);
}

TEST_F(CatalogPagingTest, AHugeAssetCountCostsNoMorePagesThanTheAlbumHas) {
  for (int64_t lie : {std::numeric_limits<int64_t>::max(), int64_t{5'000'000}}) {
    FakeImmichApi api;
    Catalog catalog(&api, absl::Seconds(10));
    std::string album = api.AddAlbum("A");
    for (int i = 0; i < 1200; ++i) {
      api.AddAsset(std::to_string(i) + ".jpg", "b" + std::to_string(i), {album});
    }
    api.SetAssetCountLie(lie);
    absl::Status s = catalog.RefreshAlbum(album);
    ASSERT_TRUE(s.ok()) << s;
    // Pages 1 and 2 hold the album; the parallel part may have asked for
    // a few more before page 2 said it was the last.
    EXPECT_LE(api.Calls(Method::kSearchAlbumAssets), 5) << lie;
    EXPECT_EQ(catalog.Listing(album).size(), 1200u) << lie;
  }
}

TEST_F(CatalogPagingTest, AnAlbumBeingPagedBlocksNeitherOtherAlbumsNorTheRoot) {
  std::string slow = Fill("Slow", 5);
  std::string other = Fill("Other", 3);
  ASSERT_TRUE(catalog_.RefreshRoot().ok());
  absl::Notification slow_started, release;
  std::atomic<bool> first{true};
  api_.SetCallHook([&](Method m) {
    if (m != Method::kSearchAlbumAssets || !first.exchange(false)) return;
    slow_started.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(30));
  });
  std::thread lister([&] { EXPECT_TRUE(catalog_.RefreshAlbum(slow).ok()); });
  ASSERT_TRUE(slow_started.WaitForNotificationWithTimeout(absl::Seconds(10)));

  absl::Notification other_done;
  absl::Status other_status, root_status;
  std::thread looker([&] {
    other_status = catalog_.RefreshAlbum(other);
    now_ = now_.load() + absl::Seconds(11);  // the album list is due again
    root_status = catalog_.RefreshRoot();
    other_done.Notify();
  });
  const bool done = other_done.WaitForNotificationWithTimeout(absl::Seconds(5));
  release.Notify();
  lister.join();
  looker.join();
  EXPECT_TRUE(done) << "listing another album or the root waited for the slow album";
  EXPECT_TRUE(other_status.ok()) << other_status;
  EXPECT_TRUE(root_status.ok()) << root_status;
  EXPECT_EQ(catalog_.Listing(other).size(), 3u);
  EXPECT_EQ(catalog_.Listing(slow).size(), 5u);
}

}  // namespace
}  // namespace immichfs::fs
