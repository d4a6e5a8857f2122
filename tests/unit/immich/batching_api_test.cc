// BatchingApi (src/immich/batching_api.h) over the in-memory Immich: calls
// made while another is in flight are coalesced, each caller gets its own
// answer, and uploads are bounded. A call hook holds the first call in
// flight until the others are queued, so nothing here depends on timing.
#include "immich/batching_api.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/hash.h"
#include "gtest/gtest.h"
#include "memory_immich/memory_immich.h"

namespace immichfs::immich {
namespace {

using fake::FakeImmichApi;
using fake::Method;

std::string Sha1Hex(const std::string& bytes) { return ToHex(Sha1Of(bytes)); }

// Holds calls of one method at their start until Open(); counts how many
// are inside the server at once.
class Gate {
 public:
  explicit Gate(FakeImmichApi& api, Method held) {
    api.SetCallHook([this, held](Method m) {
      if (m != held) return;
      {
        absl::MutexLock l(&mu_);
        ++inside_;
        max_inside_ = std::max(max_inside_, inside_);
        mu_.Await(absl::Condition(&open_));
      }
      absl::MutexLock l(&mu_);
      --inside_;
    });
  }
  void Open() {
    absl::MutexLock l(&mu_);
    open_ = true;
  }
  void AwaitInside(int n) {
    absl::MutexLock l(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return inside_ >= n; };
    mu_.Await(absl::Condition(&reached));
  }
  int max_inside() {
    absl::MutexLock l(&mu_);
    return max_inside_;
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int inside_ ABSL_GUARDED_BY(mu_) = 0;
  int max_inside_ ABSL_GUARDED_BY(mu_) = 0;
};

void AwaitStats(BatchingApi& api, bool (*done)(const BatchingStats&)) {
  while (!done(api.Stats())) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(BatchingApiTest, LoneCheckIsSentAtOnceAndAnswersOnlyItsOwnItems) {
  FakeImmichApi server;
  const std::string known = server.AddAsset("a.jpg", "known bytes");
  BatchingApi api(&server, BatchingOptions{});
  auto r = api.BulkUploadCheck({{"1", Sha1Hex("known bytes")}, {"2", Sha1Hex("new bytes")}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].id, "1");
  EXPECT_FALSE((*r)[0].accepted);
  EXPECT_EQ((*r)[0].asset_id, known);
  EXPECT_EQ((*r)[1].id, "2");
  EXPECT_TRUE((*r)[1].accepted);
  EXPECT_EQ(server.Calls(Method::kBulkUploadCheck), 1);
}

TEST(BatchingApiTest, ChecksArrivingDuringACallGoTogetherInTheNextOne) {
  FakeImmichApi server;
  const std::string known = server.AddAsset("k.jpg", "bytes 3");
  Gate gate(server, Method::kBulkUploadCheck);
  BatchingApi api(&server, BatchingOptions{});
  constexpr int kCallers = 6;
  std::vector<absl::StatusOr<std::vector<BulkCheckResult>>> got(kCallers);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { got[0] = api.BulkUploadCheck({{"0", Sha1Hex("bytes 0")}}); });
  gate.AwaitInside(1);
  for (int i = 1; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      const std::string id = std::to_string(i);
      got[i] = api.BulkUploadCheck({{id, Sha1Hex("bytes " + id)}});
    });
  }
  AwaitStats(api, [](const BatchingStats& s) { return s.checks_waiting == kCallers - 1; });
  gate.Open();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(server.Calls(Method::kBulkUploadCheck), 2);
  EXPECT_EQ(api.Stats().check_calls, 2u);
  EXPECT_EQ(api.Stats().check_items, static_cast<uint64_t>(kCallers));
  for (int i = 0; i < kCallers; ++i) {
    ASSERT_TRUE(got[i].ok()) << got[i].status();
    ASSERT_EQ(got[i]->size(), 1u) << i;
    EXPECT_EQ((*got[i])[0].id, std::to_string(i));
    EXPECT_EQ((*got[i])[0].accepted, i != 3) << i;
    if (i == 3) {
      EXPECT_EQ((*got[i])[0].asset_id, known);
    }
  }
}

TEST(BatchingApiTest, AFailedCallFailsEveryAskItCarried) {
  FakeImmichApi server;
  Gate gate(server, Method::kBulkUploadCheck);
  BatchingApi api(&server, BatchingOptions{});
  absl::StatusOr<std::vector<BulkCheckResult>> first, second, third;
  std::thread t1([&] { first = api.BulkUploadCheck({{"1", Sha1Hex("x")}}); });
  gate.AwaitInside(1);
  std::thread t2([&] { second = api.BulkUploadCheck({{"2", Sha1Hex("y")}}); });
  std::thread t3([&] { third = api.BulkUploadCheck({{"3", Sha1Hex("z")}}); });
  AwaitStats(api, [](const BatchingStats& s) { return s.checks_waiting == 2; });
  server.FailNext(Method::kBulkUploadCheck, absl::UnavailableError("down"), 2);
  gate.Open();
  t1.join();
  t2.join();
  t3.join();
  EXPECT_TRUE(absl::IsUnavailable(first.status())) << first.status();
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
  EXPECT_TRUE(absl::IsUnavailable(third.status())) << third.status();
  EXPECT_EQ(server.Calls(Method::kBulkUploadCheck), 2);
}

TEST(BatchingApiTest, AlbumAddsCoalescePerAlbumAndAnIdAskedTwiceIsADuplicateTheSecondTime) {
  FakeImmichApi server;
  const std::string a = server.AddAlbum("A");
  const std::string b = server.AddAlbum("B");
  const std::string x = server.AddAsset("x.jpg", "x");
  const std::string y = server.AddAsset("y.jpg", "y");
  const std::string z = server.AddAsset("z.jpg", "z");
  Gate gate(server, Method::kAddToAlbum);
  BatchingApi api(&server, BatchingOptions{});
  absl::StatusOr<std::vector<BulkIdResult>> first, y1, y2, z_in_a, x_in_b;
  std::thread t1([&] { first = api.AddToAlbum(a, {x}); });
  gate.AwaitInside(1);
  std::thread t2([&] { y1 = api.AddToAlbum(a, {y}); });
  AwaitStats(api, [](const BatchingStats& s) { return s.adds_waiting == 1; });
  std::thread t3([&] { y2 = api.AddToAlbum(a, {y}); });
  std::thread t4([&] { z_in_a = api.AddToAlbum(a, {z}); });
  AwaitStats(api, [](const BatchingStats& s) { return s.adds_waiting == 3; });
  gate.Open();
  // Another album is a call of its own.
  x_in_b = api.AddToAlbum(b, {x});
  for (std::thread* t : {&t1, &t2, &t3, &t4}) t->join();
  EXPECT_EQ(server.Calls(Method::kAddToAlbum), 3);
  for (auto* r : {&first, &y1, &y2, &z_in_a, &x_in_b}) {
    ASSERT_TRUE(r->ok()) << r->status();
    ASSERT_EQ((*r)->size(), 1u);
  }
  EXPECT_TRUE((*first)[0].success);
  EXPECT_TRUE((*z_in_a)[0].success);
  EXPECT_TRUE((*x_in_b)[0].success);
  // One of the two asks for y put it there; the other was answered as a
  // second add would have been.
  EXPECT_NE((*y1)[0].success, (*y2)[0].success);
  EXPECT_EQ((*y1)[0].success ? (*y2)[0].error : (*y1)[0].error, "duplicate");
  EXPECT_EQ(server.AlbumAssetIds(a).size(), 3u);
  EXPECT_EQ(api.Stats().add_items, 4u);  // x, {y, z} (y once), x into B
}

TEST(BatchingApiTest, AnAlbumAddWaitsForOthersWhileUploadsRun) {
  FakeImmichApi server;
  const std::string a = server.AddAlbum("A");
  const std::string x = server.AddAsset("x.jpg", "x");
  const std::string y = server.AddAsset("y.jpg", "y");
  Gate gate(server, Method::kUpload);
  BatchingOptions options;
  options.max_batch = 2;                         // full with two: no waiting out the linger
  options.album_linger = absl::Hours(1);
  BatchingApi api(&server, options);
  // An upload in flight: more adds are coming.
  std::thread uploader([&] {
    UploadRequest req;
    req.path = "/nonexistent";  // the fake fails it; only its slot matters here
    (void)api.Upload(req);
  });
  gate.AwaitInside(1);
  absl::StatusOr<std::vector<BulkIdResult>> rx, ry;
  std::thread tx([&] { rx = api.AddToAlbum(a, {x}); });
  std::thread ty([&] { ry = api.AddToAlbum(a, {y}); });
  tx.join();
  ty.join();
  gate.Open();
  uploader.join();
  ASSERT_TRUE(rx.ok() && ry.ok());
  EXPECT_TRUE((*rx)[0].success);
  EXPECT_TRUE((*ry)[0].success);
  EXPECT_EQ(server.Calls(Method::kAddToAlbum), 1);
}

TEST(BatchingApiTest, ALoneAlbumAddDoesNotWaitForTheLinger) {
  FakeImmichApi server;
  const std::string a = server.AddAlbum("A");
  const std::string x = server.AddAsset("x.jpg", "x");
  BatchingOptions options;
  options.album_linger = absl::Hours(1);  // would hang the test if waited out
  BatchingApi api(&server, options);
  auto r = api.AddToAlbum(a, {x});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)[0].success);
}

TEST(BatchingApiTest, AtMostMaxUploadsRunAtOnce) {
  FakeImmichApi server;
  Gate gate(server, Method::kUpload);
  BatchingOptions options;
  options.max_uploads = 2;
  BatchingApi api(&server, options);
  std::vector<std::thread> threads;
  for (int i = 0; i < 5; ++i) {
    threads.emplace_back([&] {
      UploadRequest req;
      req.path = "/nonexistent";
      (void)api.Upload(req);
    });
  }
  gate.AwaitInside(2);
  AwaitStats(api, [](const BatchingStats& s) { return s.uploads == 2; });
  EXPECT_EQ(api.Stats().uploads_in_flight, 2);
  gate.Open();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(gate.max_inside(), 2);
  EXPECT_EQ(server.Calls(Method::kUpload), 5);
  EXPECT_EQ(api.Stats().uploads_in_flight, 0);
}

TEST(BatchingApiTest, ChecksumsAskedAheadAnswerLaterChecksOnceWithoutACall) {
  FakeImmichApi server;
  const std::string known = server.AddAsset("k.jpg", "known");
  BatchingApi api(&server, BatchingOptions{});
  api.SetCheckAhead([&](size_t max) {
    EXPECT_GE(max, 3u);
    return std::vector<std::string>{Sha1Hex("next"), Sha1Hex("known"), Sha1Hex("first")};
  });
  auto first = api.BulkUploadCheck({{"1", Sha1Hex("first")}});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_TRUE((*first)[0].accepted);
  EXPECT_EQ(server.Calls(Method::kBulkUploadCheck), 1);
  EXPECT_EQ(api.Stats().check_items, 3u);  // first, next, known (first not twice)

  // "next" was accepted ahead: answered without a call, once.
  auto next = api.BulkUploadCheck({{"2", Sha1Hex("next")}});
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].id, "2");
  EXPECT_TRUE((*next)[0].accepted);
  EXPECT_EQ(server.Calls(Method::kBulkUploadCheck), 1);
  EXPECT_EQ(api.Stats().checks_ahead_used, 1u);

  // A duplicate is never answered from what was asked ahead.
  api.SetCheckAhead(nullptr);
  auto dup = api.BulkUploadCheck({{"3", Sha1Hex("known")}, {"4", Sha1Hex("next")}});
  ASSERT_TRUE(dup.ok()) << dup.status();
  ASSERT_EQ(dup->size(), 2u);
  EXPECT_EQ(server.Calls(Method::kBulkUploadCheck), 2);
  for (const BulkCheckResult& r : *dup) {
    if (r.id == "3") {
      EXPECT_FALSE(r.accepted);
      EXPECT_EQ(r.asset_id, known);
    } else {
      EXPECT_EQ(r.id, "4");
      EXPECT_TRUE(r.accepted);  // asked again: the answer was used up
    }
  }
}

TEST(BatchingApiTest, AnAcceptAskedAheadExpires) {
  FakeImmichApi server;
  BatchingOptions options;
  options.check_ahead_ttl = absl::ZeroDuration() - absl::Nanoseconds(1);
  BatchingApi api(&server, options);
  api.SetCheckAhead([&](size_t) { return std::vector<std::string>{Sha1Hex("later")}; });
  ASSERT_TRUE(api.BulkUploadCheck({{"1", Sha1Hex("now")}}).ok());
  ASSERT_TRUE(api.BulkUploadCheck({{"2", Sha1Hex("later")}}).ok());
  EXPECT_EQ(server.Calls(Method::kBulkUploadCheck), 2);
  EXPECT_EQ(api.Stats().checks_ahead_used, 0u);
}

}  // namespace
}  // namespace immichfs::immich
