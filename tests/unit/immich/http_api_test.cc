// HttpImmichApi's checks that need no server: URL normalisation and the
// options Create() refuses. The calls themselves are tested against the fake
// server in tests/client/http_api_test.cc.
#include "immich/http_api.h"

#include "gtest/gtest.h"

namespace immichfs::immich {
namespace {

TEST(HttpApiTest, NormalisesTheServerUrl) {
  struct Row {
    const char* in;
    const char* out;
  } rows[] = {
      {"http://h:2283", "http://h:2283/api"},
      {"http://h:2283/", "http://h:2283/api"},
      {"http://h:2283/api", "http://h:2283/api"},
      {"http://h:2283/api/", "http://h:2283/api"},
      {"https://example.com/immich//", "https://example.com/immich/api"},
      {" https://example.com/immich/api ", "https://example.com/immich/api"},
  };
  for (const Row& row : rows) {
    absl::StatusOr<std::string> root = HttpImmichApi::NormaliseApiRoot(row.in);
    ASSERT_TRUE(root.ok()) << row.in << ": " << root.status();
    EXPECT_EQ(*root, row.out) << row.in;
  }
}

TEST(HttpApiTest, RejectsUnusableUrls) {
  for (const char* bad : {"", "example.com", "ftp://h/", "http://", "https:///", "http://h/?x=1"}) {
    absl::StatusOr<std::string> root = HttpImmichApi::NormaliseApiRoot(bad);
    EXPECT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(HttpApiTest, CreateNeedsAnApiKey) {
  HttpApiOptions options;
  options.server_url = "http://127.0.0.1:2283";
  absl::StatusOr<std::unique_ptr<HttpImmichApi>> api = HttpImmichApi::Create(options);
  ASSERT_EQ(api.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(api.status().message().find("api_key_file"), absl::string_view::npos);
  options.api_key = "k";
  EXPECT_TRUE(HttpImmichApi::Create(options).ok());
  options.max_connections = 0;
  EXPECT_FALSE(HttpImmichApi::Create(options).ok());
}

}  // namespace
}  // namespace immichfs::immich
