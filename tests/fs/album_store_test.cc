#include "fs/album_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

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

}  // namespace
}  // namespace immichfs::fs
