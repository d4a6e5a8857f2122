#include "fs/catalog_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/hash.h"
#include "gtest/gtest.h"

namespace immichfs::fs {
namespace {

class AlbumStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/album_store_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/albums";
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  static immich::Album Make(std::string id, std::string name, int64_t count) {
    immich::Album a;
    a.id = std::move(id);
    a.name = std::move(name);
    a.asset_count = count;
    a.created_at = absl::FromUnixNanos(1'700'000'000'123'456'789);
    a.updated_at = absl::FromUnixSeconds(1'700'000'100);
    return a;  // last_modified_asset stays InfinitePast (an empty album)
  }

  std::string dir_, path_;
};

TEST_F(AlbumStoreTest, RoundTripsNamesAndTimes) {
  AlbumStore store(path_, "https://photos.example\nkey1");
  std::vector<immich::Album> albums = {
      Make("a1", "Holidays 2024", 12),
      Make("a2", "50% off / with\nnewline and trailing space ", 0),
      Make("a3", "\xC3\xA9t\xC3\xA9", 3),
  };
  albums[0].last_modified_asset = absl::FromUnixSeconds(1'700'000'050);
  ASSERT_TRUE(store.Save(albums).ok());
  absl::StatusOr<std::vector<immich::Album>> back = AlbumStore(path_, "https://photos.example\nkey1").Load();
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 3u);
  for (size_t i = 0; i < albums.size(); ++i) {
    EXPECT_EQ((*back)[i].id, albums[i].id);
    EXPECT_EQ((*back)[i].name, albums[i].name);
    EXPECT_EQ((*back)[i].asset_count, albums[i].asset_count);
    EXPECT_EQ((*back)[i].created_at, albums[i].created_at);
    EXPECT_EQ((*back)[i].updated_at, albums[i].updated_at);
    EXPECT_EQ((*back)[i].last_modified_asset, albums[i].last_modified_asset);
  }
}

TEST_F(AlbumStoreTest, AnotherOwnerSeesNothing) {
  ASSERT_TRUE(AlbumStore(path_, "server\nkey1").Save({Make("a1", "Mine", 1)}).ok());
  absl::StatusOr<std::vector<immich::Album>> other = AlbumStore(path_, "server\nkey2").Load();
  EXPECT_EQ(other.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(AlbumStoreTest, NoFileIsNotFoundAndAMangledOneIsDataLoss) {
  AlbumStore store(path_, "o");
  EXPECT_EQ(store.Load().status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store.Save({Make("a1", "A", 1)}).ok());
  std::ofstream(path_, std::ios::app) << "album broken line\n";
  EXPECT_EQ(store.Load().status().code(), absl::StatusCode::kDataLoss);
  std::ofstream(path_, std::ios::trunc) << "<html>not ours</html>\n";
  EXPECT_EQ(store.Load().status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(AlbumStoreTest, AnUnchangedListIsNotWrittenAgain) {
  AlbumStore store(path_, "o");
  ASSERT_TRUE(store.Save({Make("a1", "A", 1)}).ok());
  struct stat first;
  ASSERT_EQ(::stat(path_.c_str(), &first), 0);
  ASSERT_TRUE(store.Save({Make("a1", "A", 1)}).ok());
  struct stat second;
  ASSERT_EQ(::stat(path_.c_str(), &second), 0);
  EXPECT_EQ(first.st_ino, second.st_ino);  // not replaced
  ASSERT_TRUE(store.Save({Make("a1", "A", 2)}).ok());
  ASSERT_EQ(::stat(path_.c_str(), &second), 0);
  EXPECT_NE(first.st_ino, second.st_ino);
  EXPECT_EQ(store.Load()->at(0).asset_count, 2);
}

TEST_F(AlbumStoreTest, AMissingDirectoryIsAnError) {
  AlbumStore store(dir_ + "/no/such/dir/albums", "o");
  EXPECT_FALSE(store.Save({Make("a1", "A", 1)}).ok());
}

// Files in the exact format of the releases before the one CatalogStore (an
// existing cache_dir): the album list has no end line, a listing has one.
// They must load, and a Save must write the same bytes again.
class CatalogStoreFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/catalog_store_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  static std::string OwnerLine(const std::string& owner) {
    return absl::StrFormat("owner %016x\n", Xxh64(owner.data(), owner.size()));
  }
  static void WriteText(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  static std::string ReadText(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  const std::string owner_ = "https://photos.example\nkey1";
  std::string dir_;
};

TEST_F(CatalogStoreFormatTest, AnAlbumListOfTodaysFormatLoads) {
  const std::string text = "immichfs-albums 1\n" + OwnerLine(owner_) +
                           "album a1 3 1700000000123456789 1700000100000000000 "
                           "-9223372036854775808 Summer trip 100%25\n"
                           "album a2 0 1 2 3 new%0Aline\n";
  WriteText(dir_ + "/albums", text);
  CatalogStore store(dir_, owner_);
  absl::StatusOr<std::vector<immich::Album>> albums = store.albums().Load();
  ASSERT_TRUE(albums.ok()) << albums.status();
  ASSERT_EQ(albums->size(), 2u);
  EXPECT_EQ((*albums)[0].id, "a1");
  EXPECT_EQ((*albums)[0].name, "Summer trip 100%");
  EXPECT_EQ((*albums)[0].asset_count, 3);
  EXPECT_EQ((*albums)[0].created_at, absl::FromUnixNanos(1'700'000'000'123'456'789));
  EXPECT_EQ((*albums)[0].updated_at, absl::FromUnixSeconds(1'700'000'100));
  EXPECT_EQ((*albums)[0].last_modified_asset, absl::InfinitePast());
  EXPECT_EQ((*albums)[1].name, "new\nline");
  // Saved again (by a fresh store, which does not know the file), byte for byte.
  ::unlink((dir_ + "/albums").c_str());
  ASSERT_TRUE(CatalogStore(dir_, owner_).albums().Save(*albums).ok());
  EXPECT_EQ(ReadText(dir_ + "/albums"), text);
}

TEST_F(CatalogStoreFormatTest, AListingOfTodaysFormatLoads) {
  const std::string text = "immichfs-listing 1\n" + OwnerLine(owner_) +
                           "album 0b1e-a1 2 1000 2000\n"
                           "assets 2\n"
                           "as1 123 1700000000000000000 1700000001000000000 "
                           "1700000002000000000 c2hh%0A IMG 0001.jpg\n"
                           "as2 0 5 6 -9223372036854775808  50%25.mov\n"
                           "end\n";
  CatalogStore store(dir_, owner_);  // creates listings/
  WriteText(dir_ + "/listings/0b1e-a1", text);
  AlbumKey key;
  key.asset_count = 2;
  key.updated = absl::FromUnixNanos(1000);
  key.last_modified_asset = absl::FromUnixNanos(2000);
  absl::StatusOr<std::vector<AssetRec>> assets = store.listings().Load("0b1e-a1", key);
  ASSERT_TRUE(assets.ok()) << assets.status();
  ASSERT_EQ(assets->size(), 2u);
  EXPECT_EQ((*assets)[0].id, "as1");
  EXPECT_EQ((*assets)[0].size, 123);
  EXPECT_EQ((*assets)[0].mtime, absl::FromUnixSeconds(1'700'000'000));
  EXPECT_EQ((*assets)[0].ctime, absl::FromUnixSeconds(1'700'000'001));
  EXPECT_EQ((*assets)[0].uploaded, absl::FromUnixSeconds(1'700'000'002));
  EXPECT_EQ((*assets)[0].checksum, "c2hh\n");
  EXPECT_EQ((*assets)[0].name, "IMG 0001.jpg");
  EXPECT_EQ((*assets)[1].checksum, "");
  EXPECT_EQ((*assets)[1].name, "50%.mov");
  EXPECT_EQ((*assets)[1].uploaded, absl::InfinitePast());
  ASSERT_TRUE(store.listings().Save("0b1e-a1", key, *assets).ok());
  EXPECT_EQ(ReadText(dir_ + "/listings/0b1e-a1"), text);
  // Without its end line (cut short), the same file is not used.
  WriteText(dir_ + "/listings/0b1e-a1", text.substr(0, text.size() - 4));
  EXPECT_TRUE(absl::IsDataLoss(store.listings().Load("0b1e-a1", key).status()));
}

}  // namespace
}  // namespace immichfs::fs
