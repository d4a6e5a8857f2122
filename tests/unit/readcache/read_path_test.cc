#include "readcache/read_path.h"

#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "common/status.h"
#include "fake_download_api.h"
#include "gtest/gtest.h"
#include "readcache/block_cache.h"

namespace immichfs::cache {
namespace {

using fakes::FakeDownloadApi;
using fakes::MakeBytes;

constexpr uint64_t kMiB = 1 << 20;
constexpr size_t kChunk = 128 << 10;  // what the kernel asks per read
constexpr char kSum[] = "2jmj7l5rSw0yVb/vlWAYkK/YBwk=";

class ReadPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "read_path_test.XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    reads_.reset();
    cache_.reset();
    std::filesystem::remove_all(dir_);
  }

  // (Re)builds the read path; capacity 0 means no disk cache.
  void Make(uint64_t capacity, ReadPathOptions options = {}) {
    reads_.reset();
    cache_.reset();
    if (capacity > 0) {
      auto cache = BlockCache::Open(BlockCacheOptions{dir_ + "/blocks", capacity, kMiB});
      ASSERT_TRUE(cache.ok()) << cache.status();
      cache_ = *std::move(cache);
    }
    reads_ = std::make_unique<ReadPath>(&api_, cache_.get(), options);
  }

  const std::string& AddAsset(const std::string& id, uint64_t size, uint64_t seed) {
    assets_[id] = MakeBytes(size, seed);
    api_.SetAsset(id, assets_[id]);
    return assets_[id];
  }

  std::unique_ptr<ReadHandle> Open(const std::string& id, const std::string& sum = kSum) {
    return reads_->Open(AssetKey{id, sum, assets_[id].size()});
  }

  // Reads [offset, offset+size) and checks it against the asset's bytes.
  static void ExpectRead(ReadHandle& h, const std::string& bytes, uint64_t offset, size_t size) {
    std::string buf(size, '\0');
    absl::StatusOr<size_t> n = h.Read(offset, size, buf.data());
    ASSERT_TRUE(n.ok()) << n.status();
    size_t expected = offset >= bytes.size() ? 0 : std::min<uint64_t>(size, bytes.size() - offset);
    ASSERT_EQ(*n, expected) << "at " << offset;
    if (*n > 0) {
      ASSERT_TRUE(buf.compare(0, *n, bytes, offset, *n) == 0) << "wrong bytes at " << offset;
    }
  }

  static void ReadAll(ReadHandle& h, const std::string& bytes, size_t chunk = kChunk) {
    for (uint64_t at = 0; at < bytes.size(); at += chunk) ExpectRead(h, bytes, at, chunk);
  }

  std::string dir_;
  FakeDownloadApi api_;
  std::map<std::string, std::string> assets_;
  std::unique_ptr<BlockCache> cache_;
  std::unique_ptr<ReadPath> reads_;
};

TEST_F(ReadPathTest, OpenDownloadsNothing) {
  Make(64 * kMiB);
  AddAsset("a", 10 * kMiB, 1);
  auto h = Open("a");
  EXPECT_EQ(api_.requests(), 0);
}

TEST_F(ReadPathTest, EofReadsAskNothing) {
  Make(64 * kMiB);
  const std::string& bytes = AddAsset("a", 3 * kMiB + 17, 1);
  auto h = Open("a");
  ExpectRead(*h, bytes, bytes.size(), kChunk);
  ExpectRead(*h, bytes, bytes.size() + 5 * kMiB, kChunk);
  EXPECT_EQ(api_.requests(), 0);
  ExpectRead(*h, bytes, bytes.size() - 10, kChunk);  // short only at EOF
}

TEST_F(ReadPathTest, SequentialReadUsesOneStreamingRequest) {
  for (uint64_t capacity : {uint64_t{256} * kMiB, uint64_t{0}}) {
    SCOPED_TRACE(capacity);
    Make(capacity);
    const std::string& bytes = AddAsset("big", 64 * kMiB + 12345, 2);
    int before = api_.requests();
    auto h = Open("big");
    ReadAll(*h, bytes);
    EXPECT_LE(api_.requests() - before, 3);
    // The first read of a fresh handle is fetched exactly (time to first
    // byte); the next one starts the open-ended stream: "bytes=0-".
    ASSERT_GE(api_.log().size(), static_cast<size_t>(before + 2));
    EXPECT_EQ(api_.log()[before].length, std::optional<uint64_t>(kChunk));
    EXPECT_FALSE(api_.log()[before + 1].length.has_value());
    EXPECT_EQ(h->ReadaheadWindow(), ReadPathOptions{}.max_readahead);  // grew to the cap
  }
}

TEST_F(ReadPathTest, ParallelSlightlyReorderedReadsAreNotSeeks) {
  Make(256 * kMiB);
  const std::string& bytes = AddAsset("v", 32 * kMiB, 3);
  auto h = Open("v");
  // Pairs swapped: 128K, 0, 384K, 256K, ... as async FUSE reads may arrive.
  for (uint64_t at = 0; at < 8 * kMiB; at += 2 * kChunk) {
    ExpectRead(*h, bytes, at + kChunk, kChunk);
    ExpectRead(*h, bytes, at, kChunk);
  }
  // Then four threads pulling the next chunk off a shared counter.
  std::atomic<uint64_t> next{8 * kMiB};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (uint64_t at; (at = next.fetch_add(kChunk)) < bytes.size();) {
        ExpectRead(*h, bytes, at, kChunk);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(api_.requests(), 3);
}

// The kernel's parallel readahead: a read far ahead raises the stream's
// high-water mark while an earlier read still waits for its bytes. The
// download may run past both before the earlier reader gets the lock again
// (here: one sink call delivers 8 MiB); the earlier reader's block must still
// be there, not dropped and fetched again with a request of its own.
TEST_F(ReadPathTest, WaitingReaderKeepsItsBlockWhileLaterReadsRunAhead) {
  ReadPathOptions options;
  options.min_readahead = 16 * kMiB;
  Make(0, options);  // no cache: a dropped block would cost a request
  const std::string& bytes = AddAsset("p", 16 * kMiB, 9);
  auto h = Open("p");
  ExpectRead(*h, bytes, 0, kChunk);  // the exact first read
  api_.SetChunk(8 * kMiB);
  api_.SetGate(false);
  std::thread early([&] { ExpectRead(*h, bytes, kChunk, kMiB - kChunk); });
  while (api_.waiting_at_gate() == 0) absl::SleepFor(absl::Milliseconds(1));
  std::thread late([&] { ExpectRead(*h, bytes, 4 * kMiB, kMiB); });
  absl::SleepFor(absl::Milliseconds(100));  // let the late read register too
  api_.SetGate(true);
  early.join();
  late.join();
  EXPECT_EQ(api_.requests(), 2);  // the exact read and the stream
}

// The kernel's parallel 1 MiB readahead reads reach the daemon's threads in
// any order: one arriving 4 MiB behind the furthest read was seen on a real
// mount. A block nobody has read yet stays while it is within the window
// behind the furthest read, so such a read is served by the stream too.
TEST_F(ReadPathTest, LateReadOfAnUnreadBlockIsServedByTheStream) {
  ReadPathOptions options;
  options.min_readahead = 16 * kMiB;
  Make(0, options);  // no cache: a dropped block would cost a request
  const std::string& bytes = AddAsset("o", 32 * kMiB, 10);
  auto h = Open("o");
  ExpectRead(*h, bytes, 0, kMiB);          // the exact first read
  ExpectRead(*h, bytes, kMiB, kMiB);       // starts the stream
  ExpectRead(*h, bytes, 6 * kMiB, kMiB);   // sent later, served first
  ExpectRead(*h, bytes, 2 * kMiB, kMiB);   // 5 MiB behind the furthest read
  ExpectRead(*h, bytes, 4 * kMiB, kMiB);
  ExpectRead(*h, bytes, 3 * kMiB, kMiB);
  ExpectRead(*h, bytes, 5 * kMiB, kMiB);
  for (uint64_t at = 7 * kMiB; at < bytes.size(); at += kMiB) ExpectRead(*h, bytes, at, kMiB);
  EXPECT_EQ(api_.requests(), 2);
}

TEST_F(ReadPathTest, RandomReadsFetchAboutWhatWasAsked) {
  Make(256 * kMiB);
  const std::string& bytes = AddAsset("r", 64 * kMiB, 4);
  auto h = Open("r");
  const uint64_t offsets[] = {50, 7, 33, 61, 20, 2, 45, 12, 58, 27};  // MiB, never adjacent
  for (uint64_t mib : offsets) ExpectRead(*h, bytes, mib * kMiB + 4321, 4096);
  EXPECT_EQ(api_.requests(), 10);
  for (const auto& r : api_.log()) {
    ASSERT_TRUE(r.length.has_value());  // bounded, never "bytes=N-"
    EXPECT_LE(*r.length, kMiB);         // the block around the read
  }
  // The handle's first read fetched exactly what was asked (not cached).
  EXPECT_EQ(api_.log()[0].length, std::optional<uint64_t>(4096));
  EXPECT_EQ(api_.log()[0].offset, 50 * kMiB + 4321);
  EXPECT_LE(api_.bytes_sent(), 9 * kMiB + 4096);
  // Asking again is served from the cache, but for the first read's block.
  for (uint64_t mib : offsets) ExpectRead(*h, bytes, mib * kMiB + 100, 4096);
  EXPECT_EQ(api_.requests(), 11);
}

TEST_F(ReadPathTest, SeekResetsTheWindow) {
  ReadPathOptions options;
  Make(256 * kMiB, options);
  const std::string& bytes = AddAsset("s", 64 * kMiB, 5);
  auto h = Open("s");
  for (uint64_t at = 0; at < 8 * kMiB; at += kChunk) ExpectRead(*h, bytes, at, kChunk);
  EXPECT_GT(h->ReadaheadWindow(), options.min_readahead);
  int before = api_.requests();
  ExpectRead(*h, bytes, 40 * kMiB, kChunk);  // seek
  EXPECT_EQ(h->ReadaheadWindow(), options.min_readahead);
  for (uint64_t at = 40 * kMiB + kChunk; at < 44 * kMiB; at += kChunk) {
    ExpectRead(*h, bytes, at, kChunk);
  }
  // One bounded request for the seek, then a new stream from there.
  std::vector<FakeDownloadApi::Request> log = api_.log();
  ASSERT_LE(log.size(), static_cast<size_t>(before) + 3);
  bool restreamed = false;
  for (size_t i = before; i < log.size(); ++i) {
    restreamed |= !log[i].length.has_value() && log[i].offset >= 40 * kMiB;
  }
  EXPECT_TRUE(restreamed);
  EXPECT_GT(h->ReadaheadWindow(), options.min_readahead);
}

TEST_F(ReadPathTest, StreamStaysWithinItsWindow) {
  ReadPathOptions options;
  Make(256 * kMiB, options);
  const std::string& bytes = AddAsset("w", 64 * kMiB, 6);
  auto h = Open("w");
  ExpectRead(*h, bytes, 0, kChunk);
  absl::SleepFor(absl::Milliseconds(300));  // give an unbounded download time to show
  // Window + the block being filled + one fake chunk; far below the asset.
  EXPECT_LE(api_.bytes_sent(), kChunk + options.min_readahead + kMiB + (64 << 10));
}

TEST_F(ReadPathTest, ConcurrentReadersOfSameAndDifferentAssets) {
  Make(256 * kMiB);
  for (int i = 0; i < 3; ++i) AddAsset("c" + std::to_string(i), 6 * kMiB + i * 1000, 10 + i);
  api_.SetLatency(absl::Milliseconds(2));
  std::vector<std::thread> threads;
  for (int t = 0; t < 9; ++t) {
    threads.emplace_back([&, t] {
      std::string id = "c" + std::to_string(t % 3);
      auto h = Open(id);
      if (t < 6) {
        ReadAll(*h, assets_[id], t % 2 ? kChunk : 100000);
      } else {  // a random reader among them
        for (uint64_t at = 5 * kMiB; at > 0; at -= kMiB) ExpectRead(*h, assets_[id], at, 5000);
      }
    });
  }
  for (auto& t : threads) t.join();
}

TEST_F(ReadPathTest, ConcurrentIdenticalReadsDownloadOnce) {
  Make(256 * kMiB);
  const std::string& bytes = AddAsset("d", 16 * kMiB, 7);
  // A fresh handle's first read is an exact, unshared fetch (time to first
  // byte); the shared block download is what later reads get.
  std::vector<std::unique_ptr<ReadHandle>> handles;
  for (int t = 0; t < 8; ++t) {
    handles.push_back(Open("d"));
    ExpectRead(*handles.back(), bytes, (t + 1) * kMiB / 16, 100);
  }
  api_.SetGate(false);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] { ExpectRead(*handles[t], bytes, 10 * kMiB + 100, 8192); });
  }
  while (api_.waiting_at_gate() == 0) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(100));  // let the others pile up behind it
  api_.SetGate(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(api_.requests(), 8 + 1);
}

TEST_F(ReadPathTest, LruEvictionKeepsWithinCacheSize) {
  ReadPathOptions options;
  options.stream_cache_limit = 4 * kMiB;  // streams cache every block of these
  Make(4 * kMiB, options);
  for (int i = 0; i < 3; ++i) AddAsset("e" + std::to_string(i), 3 * kMiB, 20 + i);
  for (int i = 0; i < 3; ++i) {
    auto h = Open("e" + std::to_string(i));
    ReadAll(*h, assets_["e" + std::to_string(i)]);
    EXPECT_LE(cache_->bytes_used(), 4 * kMiB);
  }
  // Cache writes are queued (block_cache.h PutAsync); once they are on disk,
  // e0 has been evicted: reading it again downloads again, and correctly.
  cache_->Flush();
  int before = api_.requests();
  auto h = Open("e0");
  ReadAll(*h, assets_["e0"]);
  EXPECT_GT(api_.requests(), before);
  EXPECT_LE(cache_->bytes_used(), 4 * kMiB);
}

TEST_F(ReadPathTest, StreamsCacheOnlyTheEndsOfAssetsBigForTheCache) {
  Make(256 * kMiB);  // the limit defaults to a 32nd: 8 MiB
  AddAsset("small", 8 * kMiB, 40);
  const std::string& big = AddAsset("big", 20 * kMiB + 5, 41);
  for (const char* id : {"small", "big"}) {
    auto h = Open(id);
    ReadAll(*h, assets_[id]);
  }
  // A stream queues its last block after the reader may have had it: wait
  // for the stream threads (ReadPath's destructor), then for the writes.
  reads_ = std::make_unique<ReadPath>(&api_, cache_.get(), ReadPathOptions{});
  cache_->Flush();
  auto cached = [&](const std::string& id, uint64_t index) {
    return cache_->Contains(BlockCache::KeyFor(id, kSum), index);
  };
  for (uint64_t index = 0; index < 8; ++index) EXPECT_TRUE(cached("small", index)) << index;
  EXPECT_TRUE(cached("big", 0));
  EXPECT_TRUE(cached("big", 20));  // the last, short block
  for (uint64_t index = 1; index < 20; ++index) EXPECT_FALSE(cached("big", index)) << index;
  // Re-reading the big one is still correct: it streams again.
  int before = api_.requests();
  auto h = Open("big");
  ReadAll(*h, big);
  EXPECT_GT(api_.requests(), before);
}

TEST_F(ReadPathTest, ChangedChecksumNeverServesStaleBytes) {
  Make(256 * kMiB);
  std::string old_bytes = AddAsset("x", 3 * kMiB, 30);
  {
    auto h = Open("x", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    ReadAll(*h, old_bytes);
  }
  int before = api_.requests();
  const std::string& new_bytes = AddAsset("x", 3 * kMiB, 31);  // same id and size
  auto h = Open("x", "BBBBBBBBBBBBBBBBBBBBBBBBBBA=");
  ReadAll(*h, new_bytes);
  EXPECT_GT(api_.requests(), before);
}

TEST_F(ReadPathTest, FailureMidStreamIsEioNeverWrongBytes) {
  for (absl::Status cause : {absl::UnavailableError("reset"), absl::OkStatus() /*short body*/}) {
    SCOPED_TRACE(cause.ToString());
    Make(256 * kMiB);
    const std::string& bytes = AddAsset("f", 8 * kMiB, 40);
    const uint64_t bad = 5 * kMiB + 1000;  // nothing at or past this ever arrives
    api_.SetFault("f", FakeDownloadApi::Fault{bad, cause, -1});
    auto h = Open("f");
    uint64_t at = 0;
    for (; at + kChunk <= bad; at += kChunk) ExpectRead(*h, bytes, at, kChunk);
    for (int i = 0; i < 2; ++i) {  // and again: still an error, not stale or zero bytes
      std::string buf(kChunk, '\0');
      absl::StatusOr<size_t> n = h->Read(at, kChunk, buf.data());
      ASSERT_FALSE(n.ok());
      EXPECT_EQ(ToErrno(n.status()), EIO);
      EXPECT_NE(n.status().message().find("asset f"), std::string::npos) << n.status();
      EXPECT_NE(n.status().message().find(std::to_string(at)), std::string::npos) << n.status();
    }
    // A random read past the bad offset fails the same way.
    std::string buf(4096, '\0');
    EXPECT_EQ(ToErrno(h->Read(7 * kMiB, 4096, buf.data()).status()), EIO);
  }
}

TEST_F(ReadPathTest, TransientFailureIsResumed) {
  Make(256 * kMiB);
  const std::string& bytes = AddAsset("t", 8 * kMiB, 50);
  // The fake counts `times` per request: the first read's exact fetch (which
  // ends before the fault) uses one, the stream meets the fault, its resume not.
  api_.SetFault("t", FakeDownloadApi::Fault{3 * kMiB + 7, absl::UnavailableError("reset"), 2});
  auto h = Open("t");
  ReadAll(*h, bytes);
  std::vector<FakeDownloadApi::Request> log = api_.log();
  ASSERT_EQ(log.size(), 3u);  // the first read's exact fetch, the stream, its resume
  EXPECT_EQ(log[2].offset, 3 * kMiB + 7);  // resumed where the bytes stopped
}

TEST_F(ReadPathTest, StalledStreamIsEio) {
  ReadPathOptions options;
  options.stall_timeout = absl::Milliseconds(200);
  Make(256 * kMiB, options);
  AddAsset("z", 4 * kMiB, 60);
  auto h = Open("z");
  // The first read is a bounded fetch (its stalls are the HTTP client's
  // low-speed limit); the stall timeout guards the stream the next one starts.
  ExpectRead(*h, assets_["z"], 0, kChunk);
  api_.SetGate(false);  // the server never answers
  std::string buf(kChunk, '\0');
  EXPECT_EQ(ToErrno(h->Read(kChunk, kChunk, buf.data()).status()), EIO);
  api_.SetGate(true);
}

}  // namespace
}  // namespace immichfs::cache
