// Plain model structs for what immichfs reads from and sends to Immich.
// RapidJSON never leaves json.cc and json_request.cc; everything above the
// client sees only these.
#ifndef IMMICHFS_IMMICH_MODEL_H_
#define IMMICHFS_IMMICH_MODEL_H_

#include <cstdint>
#include <optional>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace immichfs::immich {

struct ServerVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  bool AtLeast(int ma, int mi) const { return major > ma || (major == ma && minor >= mi); }
};

struct User {
  std::string id;
  std::string email;
  std::string name;
};

struct Storage {
  int64_t size_bytes = 0;       // diskSizeRaw
  int64_t available_bytes = 0;  // diskAvailableRaw
  int64_t used_bytes = 0;       // diskUseRaw
};

// Extensions Immich accepts for upload, lower case with the dot (".jpg").
struct MediaTypes {
  std::vector<std::string> image;
  std::vector<std::string> video;
  std::vector<std::string> sidecar;
};

struct Album {
  std::string id;
  std::string name;            // albumName
  std::string owner_id;        // albumUsers[role=owner].user.id, or ownerId
  int64_t asset_count = 0;
  absl::Time created_at = absl::InfinitePast();
  absl::Time updated_at = absl::InfinitePast();
  // lastModifiedAssetTimestamp; InfinitePast when absent (empty album).
  absl::Time last_modified_asset = absl::InfinitePast();
  bool shared = false;
};

enum class AssetType { kImage, kVideo, kAudio, kOther };

struct Asset {
  std::string id;
  std::string original_file_name;
  std::string checksum;          // base64 SHA-1, as Immich sends it
  AssetType type = AssetType::kImage;
  // exifInfo.fileSizeInByte: the exact size of the original; -1 if absent
  // (a listing without withExif, or an asset the server has not read yet).
  int64_t size = -1;
  absl::Time file_created_at = absl::InfinitePast();
  absl::Time file_modified_at = absl::InfinitePast();
  absl::Time created_at = absl::InfinitePast();   // upload time
  absl::Time updated_at = absl::InfinitePast();
  bool is_trashed = false;
  bool is_favorite = false;
  std::string visibility;        // "timeline", "hidden", "archive", "locked"
  std::string live_photo_video_id;
  std::string owner_id;
};

struct AssetPage {
  std::vector<Asset> assets;
  // The page to ask for next, or nullopt when this was the last one.
  std::optional<int> next_page;
  int64_t total = 0;
};

// One entry of POST /api/assets/bulk-upload-check.
struct BulkCheckResult {
  std::string id;          // our correlation id, echoed back
  bool accepted = false;   // action == "accept"
  std::string reason;      // "duplicate", "unsupported-format", or empty
  std::string asset_id;    // the existing asset, for duplicates
  bool is_trashed = false;
};

// What to upload: the data is streamed from a local file, never held in memory.
struct UploadRequest {
  std::string path;              // local file holding exactly the content
  int64_t size = 0;
  std::string filename;          // becomes originalFileName
  std::string checksum_hex;      // SHA-1 of the content, sent as x-immich-checksum
  absl::Time file_created_at;
  absl::Time file_modified_at;
  std::string device_asset_id;   // required by 2.x; 3.x accepts and ignores it
  // Optional: called before the last byte is sent and may block; an error
  // aborts the upload (no asset is made) and is the call's result. Lets an
  // upload run while the file settles and complete only once it has.
  std::function<absl::Status()> hold_before_end;
};

struct UploadResult {
  std::string id;
  bool duplicate = false;        // 200 {"status":"duplicate"} rather than 201 created
};

// PUT/DELETE /api/albums/{id}/assets answer one entry per id.
struct BulkIdResult {
  std::string id;
  bool success = false;
  std::string error;             // "duplicate", "not_found", "no_permission", ...
};

}  // namespace immichfs::immich

#endif  // IMMICHFS_IMMICH_MODEL_H_
