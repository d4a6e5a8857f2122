// HttpImmichApi: the ImmichApi (api.h) over Immich's REST API, with libcurl.
// This file maps each call to its route and JSON body (json.h) and gives
// route-specific answers their meaning; HTTP mechanics (pooling, retries,
// streaming) are in http_client.h, status mapping in http_error.h.
//
// Supported servers: Immich 2.0 and newer. The few differences between 2.x
// and 3.x are decided in one place, Dialect (http_api.cc), from the version
// the server reports. The version is asked once, by the first GetVersion()
// or the first call that depends on it, and kept.
//
// Thread-safe: every method may be called from any thread at once.
#ifndef IMMICHFS_IMMICH_HTTP_API_H_
#define IMMICHFS_IMMICH_HTTP_API_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "immich/api.h"

namespace immichfs::immich {

class HttpClient;

struct HttpApiOptions {
  // "https://photos.example.com", with or without a trailing "/" or "/api".
  std::string server_url;
  std::string api_key;
  std::string ca_file;               // empty: the system's CA store
  bool insecure_tls = false;         // skip TLS certificate checks (testing only)
  absl::Duration connect_timeout = absl::Seconds(10);
  // Limit of a whole JSON call; the longest a download or upload may stall.
  absl::Duration request_timeout = absl::Seconds(60);
  int max_connections = 8;           // concurrent requests (and kept-alive connections)
  int max_retries = kHttpMaxRetries;  // extra attempts for idempotent calls
  absl::Duration retry_base_delay = kHttpRetryFirstDelay;
  // deviceId of uploads (2.x requires it; 3.x ignores it).
  std::string device_id = "immichfs";
};

class HttpImmichApi final : public ImmichApi {
 public:
  // Checks and normalises the options; no network I/O (call GetVersion() to
  // check the server). kInvalidArgument names what is wrong.
  static absl::StatusOr<std::unique_ptr<HttpImmichApi>> Create(HttpApiOptions options);

  // "https://photos.example.com/api" -> "https://photos.example.com/api";
  // "http://h:2283/" -> "http://h:2283/api". Exposed for tests.
  static absl::StatusOr<std::string> NormaliseApiRoot(absl::string_view server_url);

  ~HttpImmichApi() override;

  absl::Status Ping() override;
  absl::StatusOr<ServerVersion> GetVersion() override;
  absl::StatusOr<User> GetMe() override;
  absl::StatusOr<MediaTypes> GetMediaTypes() override;
  absl::StatusOr<Storage> GetStorage() override;

  absl::StatusOr<std::vector<Album>> ListAlbums() override;
  absl::StatusOr<std::vector<Album>> ListAlbumsForAsset(const std::string& asset_id) override;
  absl::StatusOr<Album> GetAlbum(const std::string& album_id) override;
  absl::StatusOr<Album> CreateAlbum(const std::string& name) override;
  absl::StatusOr<Album> RenameAlbum(const std::string& album_id, const std::string& name) override;
  absl::Status DeleteAlbum(const std::string& album_id) override;
  absl::StatusOr<std::vector<BulkIdResult>> AddToAlbum(
      const std::string& album_id, const std::vector<std::string>& asset_ids) override;
  absl::StatusOr<std::vector<BulkIdResult>> RemoveFromAlbum(
      const std::string& album_id, const std::vector<std::string>& asset_ids) override;

  absl::StatusOr<AssetPage> SearchAlbumAssets(const std::string& album_id, int page,
                                              int size) override;
  absl::StatusOr<std::vector<Asset>> SearchByChecksum(const std::string& checksum_b64) override;
  absl::StatusOr<Asset> GetAsset(const std::string& asset_id) override;
  // A Range that starts at or past the end of the file is answered 404 by
  // Immich; with offset > 0 that becomes kOutOfRange ("past the end"), so a
  // caller can tell it from a missing asset (400 -> kNotFound).
  absl::Status Download(const std::string& asset_id, uint64_t offset,
                        std::optional<uint64_t> length, std::optional<uint64_t> expected_total,
                        const ByteSink& sink) override;

  absl::StatusOr<std::vector<BulkCheckResult>> BulkUploadCheck(
      const std::vector<std::pair<std::string, std::string>>& id_and_checksum_hex) override;
  absl::StatusOr<UploadResult> Upload(const UploadRequest& req) override;
  absl::Status DeleteAssets(const std::vector<std::string>& asset_ids, bool force) override;
  absl::Status RestoreFromTrash(const std::vector<std::string>& asset_ids) override;
  absl::Status CopyAssetMetadata(const std::string& source_id,
                                 const std::string& target_id) override;

 private:
  // What differs between the server versions immichfs supports.
  struct Dialect {
    // 2.x GET /albums lists owned albums only; shared-with-me ones need
    // ?shared=true. 3.x lists both without a filter (and ignores "shared").
    bool albums_need_shared_query = false;
    // 2.x requires deviceAssetId and deviceId in an upload; 3.x dropped them.
    bool upload_needs_device_ids = false;
  };
  static Dialect DialectFor(const ServerVersion& version);

  HttpImmichApi(HttpApiOptions options, std::unique_ptr<HttpClient> http);
  // The dialect of the server, asking its version on first use.
  absl::StatusOr<Dialect> GetDialect();
  absl::StatusOr<std::vector<Album>> FetchAlbums(const std::string& path, const std::string& what);

  const HttpApiOptions options_;
  const std::unique_ptr<HttpClient> http_;

  absl::Mutex mu_;  // guards only the detected version; never held during a request
  std::optional<ServerVersion> version_ ABSL_GUARDED_BY(mu_);
};

}  // namespace immichfs::immich

#endif  // IMMICHFS_IMMICH_HTTP_API_H_
