#include "readcache/block_cache.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fake_download_api.h"
#include "gtest/gtest.h"

namespace immichfs::cache {
namespace {

using fakes::MakeBytes;

constexpr uint64_t kBlock = 64 << 10;

class BlockCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "block_cache_test.XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<BlockCache> Open(uint64_t capacity) {
    auto cache = BlockCache::Open(BlockCacheOptions{dir_ + "/blocks", capacity, kBlock});
    EXPECT_TRUE(cache.ok()) << cache.status();
    return cache.ok() ? *std::move(cache) : nullptr;
  }

  std::string Get(BlockCache& cache, const BlockKey& key, uint64_t index, size_t size) {
    std::string out(size, '\0');
    out.resize(cache.Read(key, index, 0, size, out.data()));
    return out;
  }

  std::string dir_;
};

TEST_F(BlockCacheTest, PutThenReadSlices) {
  auto cache = Open(1 << 20);
  BlockKey key = BlockCache::KeyFor("asset-1", "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
  std::string block = MakeBytes(kBlock, 1);
  ASSERT_TRUE(cache->Put(key, 3, block).ok());
  EXPECT_EQ(Get(*cache, key, 3, kBlock), block);
  char buf[100];
  ASSERT_EQ(cache->Read(key, 3, 1000, sizeof buf, buf), sizeof buf);
  EXPECT_EQ(std::string(buf, sizeof buf), block.substr(1000, 100));
  EXPECT_EQ(cache->Read(key, 4, 0, sizeof buf, buf), 0u);  // another block
  EXPECT_TRUE(cache->Contains(key, 3));
  EXPECT_FALSE(cache->Contains(key, 4));
  // A short tail block reads short.
  std::string tail = MakeBytes(1234, 2);
  ASSERT_TRUE(cache->Put(key, 9, tail).ok());
  EXPECT_EQ(Get(*cache, key, 9, kBlock), tail);
  EXPECT_EQ(cache->bytes_used(), kBlock + 1234);
}

TEST_F(BlockCacheTest, ChecksumIsPartOfTheKey) {
  auto cache = Open(1 << 20);
  BlockKey old_key = BlockCache::KeyFor("asset-1", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  BlockKey new_key = BlockCache::KeyFor("asset-1", "BBBBBBBBBBBBBBBBBBBBBBBBBBA=");
  ASSERT_TRUE(cache->Put(old_key, 0, MakeBytes(kBlock, 1)).ok());
  char buf[10];
  EXPECT_EQ(cache->Read(new_key, 0, 0, sizeof buf, buf), 0u);
  // Odd ids and checksums still make distinct, valid names.
  BlockKey odd1 = BlockCache::KeyFor("a/b.c", "not base64!");
  BlockKey odd2 = BlockCache::KeyFor("a/b", ".c");
  EXPECT_NE(odd1.prefix, odd2.prefix);
  ASSERT_TRUE(cache->Put(odd1, 0, "xyz").ok());
  EXPECT_EQ(Get(*cache, odd1, 0, 3), "xyz");
  EXPECT_EQ(Get(*cache, odd2, 0, 3), "");
}

TEST_F(BlockCacheTest, EvictsLeastRecentlyUsedWithinCapacity) {
  auto cache = Open(3 * kBlock);
  BlockKey key = BlockCache::KeyFor("a", "c");
  for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(cache->Put(key, i, MakeBytes(kBlock, i)).ok());
  EXPECT_EQ(Get(*cache, key, 0, 10), MakeBytes(kBlock, 0).substr(0, 10));  // 0 is now recent
  ASSERT_TRUE(cache->Put(key, 3, MakeBytes(kBlock, 3)).ok());             // evicts 1
  EXPECT_LE(cache->bytes_used(), 3 * kBlock);
  EXPECT_TRUE(cache->Contains(key, 0));
  EXPECT_FALSE(cache->Contains(key, 1));
  EXPECT_TRUE(cache->Contains(key, 2));
  EXPECT_TRUE(cache->Contains(key, 3));
  // The evicted block's file is gone too.
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/blocks")) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 3u);
}

TEST_F(BlockCacheTest, SurvivesRestartAndDropsDamagedBlocks) {
  BlockKey key = BlockCache::KeyFor("a", "c");
  {
    auto cache = Open(1 << 20);
    ASSERT_TRUE(cache->Put(key, 0, MakeBytes(kBlock, 0)).ok());
    ASSERT_TRUE(cache->Put(key, 1, MakeBytes(kBlock, 1)).ok());
  }
  // Damage block 1 in place, as a crash might; leave a stray temp file.
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/blocks")) {
    if (entry.path().filename().string().find(".1.") != std::string::npos) {
      std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(100);
      f.put('\x55' ^ MakeBytes(kBlock, 1)[100]);
    }
  }
  std::ofstream(dir_ + "/blocks/tmp.1.2") << "partial";
  auto cache = Open(1 << 20);
  EXPECT_EQ(cache->block_count(), 2u);
  EXPECT_EQ(Get(*cache, key, 0, kBlock), MakeBytes(kBlock, 0));
  EXPECT_EQ(Get(*cache, key, 1, kBlock), "");  // hash mismatch: never served
  EXPECT_FALSE(cache->Contains(key, 1));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/blocks/tmp.1.2"));
}

TEST_F(BlockCacheTest, ConcurrentPutsOfOneBlockDoNotCorrupt) {
  auto cache = Open(1 << 20);
  BlockKey key = BlockCache::KeyFor("a", "c");
  std::string block = MakeBytes(kBlock, 7);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(cache->Put(key, 0, block).ok());
        std::string got(kBlock, '\0');
        size_t n = cache->Read(key, 0, 0, kBlock, got.data());
        EXPECT_TRUE(n == 0 || (n == kBlock && got == block));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Get(*cache, key, 0, kBlock), block);
  EXPECT_EQ(cache->bytes_used(), kBlock);
}

TEST_F(BlockCacheTest, PutAsyncIsVisibleAtOnceAndWrittenByTheWriter) {
  auto cache = Open(1 << 20);
  BlockKey key = BlockCache::KeyFor("async", "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
  auto block = std::make_shared<const std::string>(MakeBytes(kBlock, 9));
  ASSERT_TRUE(cache->PutAsync(key, 3, block));
  // Queued or written: either way present and served whole, never partially.
  EXPECT_TRUE(cache->Contains(key, 3));
  std::string out(100, '\0');
  ASSERT_EQ(cache->Read(key, 3, 10, 100, out.data()), 100u);
  EXPECT_EQ(out, block->substr(10, 100));
  cache->Flush();
  EXPECT_EQ(cache->block_count(), 1u);
  EXPECT_EQ(cache->bytes_used(), kBlock);
  // Survives a restart: it reached the directory (by rename).
  cache.reset();
  cache = Open(1 << 20);
  ASSERT_EQ(cache->Read(key, 3, 0, 100, out.data()), 100u);
  EXPECT_EQ(out, block->substr(0, 100));
}

TEST_F(BlockCacheTest, PutAsyncDropsBlocksPastTheBacklog) {
  auto opened = BlockCache::Open(BlockCacheOptions{dir_ + "/blocks", 1 << 20, kBlock, 0});
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto block = std::make_shared<const std::string>(MakeBytes(kBlock, 10));
  BlockKey key = BlockCache::KeyFor("drop", "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
  EXPECT_FALSE((*opened)->PutAsync(key, 0, block));  // no backlog allowed: not cached
  (*opened)->Flush();
  EXPECT_FALSE((*opened)->Contains(key, 0));
}

}  // namespace
}  // namespace immichfs::cache
