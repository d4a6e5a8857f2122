// Runs tests/fake_immich/server.py as a child process for the client tests
// and drives its /_fake/ control API (seeding, faults, counters) over plain
// libcurl, independent of the HttpClient under test.
//
// meson passes the interpreter and the script in IMMICHFS_PYTHON and
// IMMICHFS_FAKE_SERVER.
#ifndef IMMICHFS_TESTS_CLIENT_FAKE_IMMICH_PROCESS_H_
#define IMMICHFS_TESTS_CLIENT_FAKE_IMMICH_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rapidjson/document.h"

namespace immichfs::testing {

class FakeImmichProcess {
 public:
  struct Options {
    std::string version = "3.1.0";
    std::string api_key = "fake-immich-key";
    // Extra users, "EMAIL:PASSWORD:APIKEY:NAME".
    std::vector<std::string> users;
  };

  // Starts the server and waits until /_fake/health answers.
  static absl::StatusOr<std::unique_ptr<FakeImmichProcess>> Start(const Options& options);
  ~FakeImmichProcess();  // SIGTERM, wait, remove the data dir

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& api_key() const { return api_key_; }

  // A control (or raw API) request; the answer's body parsed as JSON. A
  // non-2xx answer is an error carrying the body.
  absl::StatusOr<rapidjson::Document> Json(const std::string& method, const std::string& path,
                                           const std::string& body = "");

  // Conveniences over the control API. Each returns the summary JSON as the
  // server sent it; they fail the calling test on error (ADD_FAILURE).
  void Reset();
  std::string SeedAlbum(const std::string& name, const std::string& user = "",
                        const std::vector<std::string>& shared_with = {});
  // Adds an asset with exactly `content`; returns its id.
  std::string AddAsset(const std::string& name, const std::string& content,
                       const std::string& album = "");
  // `count` generated assets of `size` bytes into album `album` (by name).
  void Generate(int count, int size, const std::string& album);
  void Fault(const std::string& route, const std::string& kind, int count, int status = 500,
             int after_bytes = 0);
  void ClearFaults();
  void ResetStats();
  // /_fake/stats: the integer counter `name` ("connections_opened", ...).
  int64_t Stat(const std::string& name);
  // requests["METHOD /api/route"], 0 if never called.
  int64_t Requests(const std::string& route);
  // The asset summary (/_fake/state) of `id`, or a null document.
  rapidjson::Document AssetState(const std::string& id);

 private:
  FakeImmichProcess() = default;

  pid_t pid_ = -1;
  int port_ = 0;
  std::string api_key_;
  std::string data_dir_;
};

// Base64 of arbitrary bytes (the control API takes content as content_b64).
std::string Base64(const std::string& bytes);
// Deterministic pseudo-random bytes.
std::string RandomBytes(size_t size, uint32_t seed);

}  // namespace immichfs::testing

#endif  // IMMICHFS_TESTS_CLIENT_FAKE_IMMICH_PROCESS_H_
