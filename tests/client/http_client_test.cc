// The HTTP mechanics under HttpImmichApi, against the fake server's fault
// switches: retries and their limits, broken transfers, authentication and
// connection errors, keep-alive reuse, concurrency; and the 2.x dialect.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <thread>
#include <vector>

#include "client_fixture.h"

namespace immichfs::testing {
namespace {

using immich::Album;

class HttpClientTest : public ClientTestBase<kVersion3> {};

bool Contains(const absl::Status& s, absl::string_view text) {
  return s.message().find(text) != absl::string_view::npos;
}

// A TCP port nothing listens on.
int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST_F(HttpClientTest, RetriesIdempotentCallsOn5xx) {
  server_->SeedAlbum("A");
  server_->Fault("GET /api/albums$", "status", 2, 503);
  absl::StatusOr<std::vector<Album>> albums = api_->ListAlbums();
  ASSERT_TRUE(albums.ok()) << albums.status();
  EXPECT_EQ(albums->size(), 1u);
  EXPECT_EQ(server_->Requests("GET /api/albums"), 3);
}

TEST_F(HttpClientTest, GivesUpAfterMaxRetries) {
  server_->Fault("GET /api/users/me$", "status", -1, 500);
  absl::StatusOr<immich::User> me = api_->GetMe();
  EXPECT_EQ(me.status().code(), absl::StatusCode::kUnavailable) << me.status();
  EXPECT_TRUE(Contains(me.status(), "after 4 attempts")) << me.status();
  EXPECT_EQ(server_->Requests("GET /api/users/me"), 4);
}

TEST_F(HttpClientTest, RetriesDroppedConnections) {
  server_->Fault("GET /api/users/me$", "drop", 1);
  absl::StatusOr<immich::User> me = api_->GetMe();
  ASSERT_TRUE(me.ok()) << me.status();
  EXPECT_EQ(server_->Requests("GET /api/users/me"), 2);
}

TEST_F(HttpClientTest, RetriesJsonAnswersCutShort) {
  server_->SeedAlbum("A");
  server_->Fault("GET /api/albums$", "truncate", 1, 0, 10);
  absl::StatusOr<std::vector<Album>> albums = api_->ListAlbums();
  ASSERT_TRUE(albums.ok()) << albums.status();
  EXPECT_EQ(albums->size(), 1u);
  EXPECT_EQ(server_->Requests("GET /api/albums"), 2);
}

TEST_F(HttpClientTest, DoesNotRepeatNonIdempotentCalls) {
  ASSERT_TRUE(api_->GetMe().ok());  // a kept-alive connection curl could resend on
  server_->Fault("POST /api/albums$", "status", 1, 500);
  absl::StatusOr<Album> album = api_->CreateAlbum("Once");
  EXPECT_EQ(album.status().code(), absl::StatusCode::kUnavailable) << album.status();
  EXPECT_TRUE(Contains(album.status(), "create album 'Once'")) << album.status();
  EXPECT_EQ(server_->Requests("POST /api/albums"), 1);
  server_->Fault("POST /api/albums$", "drop", 1);
  album = api_->CreateAlbum("Once");
  EXPECT_EQ(album.status().code(), absl::StatusCode::kUnavailable) << album.status();
  EXPECT_EQ(server_->Requests("POST /api/albums"), 2);
}

TEST_F(HttpClientTest, DroppedUploadNeverMakesTwoAssets) {

  std::string content = RandomBytes(1000, 9);
  server_->Fault("POST /api/assets$", "drop", 1, 0, 100);
  char name[] = "/tmp/immichfs-upload-XXXXXX";
  int fd = mkstemp(name);
  ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
  immich::UploadRequest req;
  req.path = name;
  req.size = static_cast<int64_t>(content.size());
  req.filename = "u.jpg";
  req.file_created_at = req.file_modified_at = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(api_->GetMe().ok());
  absl::StatusOr<immich::UploadResult> up = api_->Upload(req);
  unlink(name);
  // Either the error, or curl's one resend on the reused connection; never
  // a second asset, and never more than two sends.
  EXPECT_LE(server_->Requests("POST /api/assets"), 2);
  absl::StatusOr<rapidjson::Document> state = server_->Json("GET", "/_fake/state");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ((*state)["assets"].Size(), up.ok() ? 1u : 0u);
}

TEST_F(HttpClientTest, TruncatedDownloadIsAnErrorNotShortData) {
  const std::string content = RandomBytes(200000, 10);
  const std::string id = server_->AddAsset("cut.jpg", content);
  server_->Fault("GET /api/assets/.*/original", "truncate", 1, 0, 50000);
  std::string got;
  absl::Status s = DownloadTo(id, 0, std::nullopt, content.size(), &got);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.code() == absl::StatusCode::kDataLoss || s.code() == absl::StatusCode::kUnavailable)
      << s;
  EXPECT_LE(got.size(), 50000u);
  EXPECT_EQ(got, content.substr(0, got.size()));  // what did arrive is right
  // The caller resumes from where the sink stopped.
  std::string rest;
  ASSERT_TRUE(DownloadTo(id, got.size(), std::nullopt, content.size(), &rest).ok());
  EXPECT_EQ(got + rest, content);
}

TEST_F(HttpClientTest, DroppedDownloadIsUnavailable) {
  const std::string id = server_->AddAsset("drop.jpg", RandomBytes(1000, 11));
  server_->Fault("GET /api/assets/.*/original", "drop", 1);
  std::string got;
  absl::Status s = DownloadTo(id, 0, std::nullopt, std::nullopt, &got);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(got, "");
  EXPECT_EQ(server_->Requests("GET /api/assets/{id}/original"), 1);  // never retried here
}

TEST_F(HttpClientTest, WrongApiKeyIsUnauthenticated) {
  immich::HttpApiOptions options = Options();
  options.api_key = "not-the-key";
  std::unique_ptr<immich::HttpImmichApi> api = MakeApi(options);
  absl::StatusOr<immich::User> me = api->GetMe();
  EXPECT_EQ(me.status().code(), absl::StatusCode::kUnauthenticated) << me.status();
  EXPECT_TRUE(Contains(me.status(), "api_key_file")) << me.status();
  EXPECT_EQ(server_->Requests("GET /api/users/me"), 1);  // not retried
}

TEST_F(HttpClientTest, UnreachableServerIsUnavailableNamingTheUrl) {
  immich::HttpApiOptions options = Options();
  options.server_url = "http://127.0.0.1:" + std::to_string(UnusedPort());
  options.max_retries = 1;
  std::unique_ptr<immich::HttpImmichApi> api = MakeApi(options);
  absl::StatusOr<immich::ServerVersion> v = api->GetVersion();
  EXPECT_EQ(v.status().code(), absl::StatusCode::kUnavailable) << v.status();
  EXPECT_TRUE(Contains(v.status(), options.server_url + "/api/server/version")) << v.status();
}

TEST_F(HttpClientTest, SlowAnswersTimeOut) {
  immich::HttpApiOptions options = Options();
  options.request_timeout = absl::Milliseconds(300);
  options.max_retries = 1;
  std::unique_ptr<immich::HttpImmichApi> api = MakeApi(options);
  absl::StatusOr<rapidjson::Document> set = server_->Json(
      "POST", "/_fake/faults", R"({"route":"GET /api/users/me$","kind":"delay","delay_ms":2000,"count":-1})");
  ASSERT_TRUE(set.ok()) << set.status();
  absl::StatusOr<immich::User> me = api->GetMe();
  EXPECT_EQ(me.status().code(), absl::StatusCode::kDeadlineExceeded) << me.status();
  EXPECT_TRUE(Contains(me.status(), "after 2 attempts")) << me.status();
}

TEST_F(HttpClientTest, ReusesConnections) {
  const std::string id = server_->AddAsset("k.jpg", RandomBytes(10000, 12));
  ASSERT_TRUE(api_->GetVersion().ok());  // opens the first connection
  server_->ResetStats();
  std::string got;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(api_->GetMe().ok());
    ASSERT_TRUE(api_->ListAlbums().ok());
    ASSERT_TRUE(DownloadTo(id, i * 100, 100, std::nullopt, &got).ok());
  }
  EXPECT_EQ(server_->Stat("requests_total"), 30);
  EXPECT_EQ(server_->Stat("connections_opened"), 0);  // all on the one kept alive
}

TEST_F(HttpClientTest, ConcurrentDownloads) {
  const std::string content = RandomBytes(1 << 20, 13);
  const std::string id = server_->AddAsset("c.jpg", content);
  server_->ResetStats();
  constexpr int kThreads = 8;
  std::vector<std::string> got(kThreads);
  std::vector<absl::Status> status(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const uint64_t offset = static_cast<uint64_t>(t) * (content.size() / kThreads);
      status[t] = api_->Download(id, offset, content.size() / kThreads, content.size(),
                                 [&got, t](const char* d, size_t n) {
                                   got[t].append(d, n);
                                   return true;
                                 });
    });
  }
  for (std::thread& t : threads) t.join();
  std::string all;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(status[t].ok()) << status[t];
    all += got[t];
  }
  EXPECT_EQ(all, content);
  EXPECT_LE(server_->Stat("connections_opened"), 4);  // max_connections
}

// --- the 2.x dialect ----------------------------------------------------------

class HttpApiV2Test : public ClientTestBase<kVersion2> {};

TEST_F(HttpApiV2Test, MergesOwnedAndSharedAlbums) {
  absl::StatusOr<immich::ServerVersion> v = api_->GetVersion();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->major, 2);
  const std::string mine = server_->SeedAlbum("Mine");
  const std::string shared_by_me = server_->SeedAlbum("Shared by me", "", {kBob});
  const std::string bobs = server_->SeedAlbum("Bob's", kBob, {"admin@example.com"});
  absl::StatusOr<std::vector<Album>> albums = api_->ListAlbums();
  ASSERT_TRUE(albums.ok()) << albums.status();
  std::multiset<std::string> ids;
  for (const Album& a : *albums) ids.insert(a.id);
  EXPECT_EQ(ids, (std::multiset<std::string>{mine, shared_by_me, bobs}));
}

TEST_F(HttpApiV2Test, UploadSendsDeviceIds) {
  const std::string content = RandomBytes(5000, 14);
  char name[] = "/tmp/immichfs-upload-XXXXXX";
  int fd = mkstemp(name);
  ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
  immich::UploadRequest req;
  req.path = name;
  req.size = static_cast<int64_t>(content.size());
  req.filename = "v2.jpg";
  req.file_created_at = req.file_modified_at = absl::FromUnixSeconds(1700000000);
  absl::StatusOr<immich::UploadResult> up = api_->Upload(req);
  unlink(name);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_FALSE(up->duplicate);
  absl::StatusOr<immich::Album> album = api_->CreateAlbum("V2");
  ASSERT_TRUE(album.ok()) << album.status();
  ASSERT_TRUE(api_->AddToAlbum(album->id, {up->id}).ok());
  absl::StatusOr<immich::Album> got = api_->GetAlbum(album->id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->asset_count, 1);
  EXPECT_FALSE(got->owner_id.empty());
}

}  // namespace
}  // namespace immichfs::testing
