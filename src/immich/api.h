// The Immich API as immichfs uses it. HttpImmichApi (http_api.h) talks to a
// real server; tests/fs uses an in-memory fake. Everything here knows HTTP
// and Immich's data model, nothing about inodes or POSIX.
//
// Error mapping (http_error.cc): 400 "not found / no access" and 404 ->
// kNotFound, 401 -> kUnauthenticated, 403 -> kPermissionDenied,
// other 4xx -> kInvalidArgument (or kFailedPrecondition), 5xx and connection
// errors -> kUnavailable, timeouts -> kDeadlineExceeded, a body shorter than
// announced -> kDataLoss, a sink that stops the transfer -> kCancelled.
#ifndef IMMICHFS_IMMICH_API_H_
#define IMMICHFS_IMMICH_API_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "immich/model.h"

namespace immichfs::immich {

// Receives downloaded bytes in order. Return false to stop the transfer
// (the call then returns kCancelled). May block: that pauses the transfer
// (TCP flow control pushes back on the server).
using ByteSink = std::function<bool(const char* data, size_t size)>;

class ImmichApi {
 public:
  virtual ~ImmichApi() = default;

  // --- server -------------------------------------------------------------
  virtual absl::Status Ping() = 0;
  // Also fixes the version-dependent behaviour of this client.
  virtual absl::StatusOr<ServerVersion> GetVersion() = 0;
  virtual absl::StatusOr<User> GetMe() = 0;
  virtual absl::StatusOr<MediaTypes> GetMediaTypes() = 0;
  virtual absl::StatusOr<Storage> GetStorage() = 0;

  // --- albums ---------------------------------------------------------------
  // Every album the user can see: owned and shared with them, each once.
  virtual absl::StatusOr<std::vector<Album>> ListAlbums() = 0;
  // The albums that hold `asset_id` (GET /api/albums?assetId=).
  virtual absl::StatusOr<std::vector<Album>> ListAlbumsForAsset(const std::string& asset_id) = 0;
  virtual absl::StatusOr<Album> GetAlbum(const std::string& album_id) = 0;
  virtual absl::StatusOr<Album> CreateAlbum(const std::string& name) = 0;
  virtual absl::StatusOr<Album> RenameAlbum(const std::string& album_id, const std::string& name) = 0;
  virtual absl::Status DeleteAlbum(const std::string& album_id) = 0;
  virtual absl::StatusOr<std::vector<BulkIdResult>> AddToAlbum(
      const std::string& album_id, const std::vector<std::string>& asset_ids) = 0;
  virtual absl::StatusOr<std::vector<BulkIdResult>> RemoveFromAlbum(
      const std::string& album_id, const std::vector<std::string>& asset_ids) = 0;

  // --- assets ---------------------------------------------------------------
  // One page of an album's assets (POST /api/search/metadata with albumIds,
  // withExif:true), pages numbered from 1, `size` at most 1000.
  virtual absl::StatusOr<AssetPage> SearchAlbumAssets(const std::string& album_id, int page,
                                                      int size) = 0;
  // Assets with this SHA-1 (base64), trashed ones included.
  virtual absl::StatusOr<std::vector<Asset>> SearchByChecksum(const std::string& checksum_b64) = 0;
  virtual absl::StatusOr<Asset> GetAsset(const std::string& asset_id) = 0;

  // GET /api/assets/{id}/original with "Range: bytes=offset-" (length unset:
  // open-ended, streams to the end) or "bytes=offset-(offset+length-1)".
  // Bytes go to `sink` as they arrive. `expected_total`, when given, is
  // checked against Content-Range; a mismatch is kFailedPrecondition (the
  // asset changed under us). Not retried here: the caller resumes from where
  // the sink stopped getting bytes. A connection cut mid-body is kDataLoss or
  // kUnavailable, never success with short data. A range starting at or past
  // the end (offset > 0) is kOutOfRange (Immich answers it 404); callers
  // should not ask for one. An unknown asset is kNotFound.
  virtual absl::Status Download(const std::string& asset_id, uint64_t offset,
                                std::optional<uint64_t> length,
                                std::optional<uint64_t> expected_total,
                                const ByteSink& sink) = 0;

  // --- writes (the spool's commit) -----------------------------------------
  virtual absl::StatusOr<std::vector<BulkCheckResult>> BulkUploadCheck(
      const std::vector<std::pair<std::string, std::string>>& id_and_checksum_hex) = 0;
  // Streams the multipart body from req.path.
  virtual absl::StatusOr<UploadResult> Upload(const UploadRequest& req) = 0;
  // force=false moves to the trash; force=true deletes for good.
  virtual absl::Status DeleteAssets(const std::vector<std::string>& asset_ids, bool force) = 0;
  virtual absl::Status RestoreFromTrash(const std::vector<std::string>& asset_ids) = 0;
  // PUT /api/assets/copy: albums, favorite, stack, shared links, sidecar
  // move from `source_id` to `target_id`.
  virtual absl::Status CopyAssetMetadata(const std::string& source_id,
                                         const std::string& target_id) = 0;
};

}  // namespace immichfs::immich

#endif  // IMMICHFS_IMMICH_API_H_
