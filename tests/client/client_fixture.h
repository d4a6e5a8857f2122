// The fixture of the client tests: one fake server per test suite (started
// once, emptied before each test), and an HttpImmichApi pointed at it.
#ifndef IMMICHFS_TESTS_CLIENT_CLIENT_FIXTURE_H_
#define IMMICHFS_TESTS_CLIENT_CLIENT_FIXTURE_H_

#include <memory>
#include <optional>
#include <string>

#include "fake_immich_process.h"
#include "gtest/gtest.h"
#include "immich/http_api.h"

namespace immichfs::testing {

// A second user, for albums shared with the default one.
inline constexpr char kBob[] = "bob@example.com";
inline constexpr char kBobSpec[] = "bob@example.com:pw:bob-key:Bob";

template <const char* kVersion>
class ClientTestBase : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    FakeImmichProcess::Options options;
    options.version = kVersion;
    options.users = {kBobSpec};
    absl::StatusOr<std::unique_ptr<FakeImmichProcess>> server =
        FakeImmichProcess::Start(options);
    if (!server.ok()) {
      start_error_ = new std::string(server.status().ToString());
      return;
    }
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "the fake server did not start: "
                                << (start_error_ ? *start_error_ : "?");
    server_->Reset();
    api_ = MakeApi();
    ASSERT_NE(api_, nullptr);
  }

  // Quick retries so that fault tests stay fast.
  immich::HttpApiOptions Options() const {
    immich::HttpApiOptions o;
    o.server_url = server_->url();
    o.api_key = server_->api_key();
    o.connect_timeout = absl::Seconds(5);
    o.request_timeout = absl::Seconds(20);
    o.max_connections = 4;
    o.max_retries = 3;
    o.retry_base_delay = absl::Milliseconds(10);
    return o;
  }

  std::unique_ptr<immich::HttpImmichApi> MakeApi(
      std::optional<immich::HttpApiOptions> options = std::nullopt) {
    absl::StatusOr<std::unique_ptr<immich::HttpImmichApi>> api =
        immich::HttpImmichApi::Create(options.value_or(Options()));
    EXPECT_TRUE(api.ok()) << api.status();
    return api.ok() ? *std::move(api) : nullptr;
  }

  // Downloads into `out`; the status of the call.
  absl::Status DownloadTo(const std::string& id, uint64_t offset, std::optional<uint64_t> length,
                          std::optional<uint64_t> total, std::string* out) {
    out->clear();
    return api_->Download(id, offset, length, total, [out](const char* data, size_t size) {
      out->append(data, size);
      return true;
    });
  }

  static inline FakeImmichProcess* server_ = nullptr;
  static inline std::string* start_error_ = nullptr;
  std::unique_ptr<immich::HttpImmichApi> api_;
};

inline constexpr char kVersion3[] = "3.1.0";
inline constexpr char kVersion2[] = "2.3.1";

}  // namespace immichfs::testing

#endif  // IMMICHFS_TESTS_CLIENT_CLIENT_FIXTURE_H_
