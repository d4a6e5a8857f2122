// Immich's JSON <-> the plain structs of model.h. Implemented with RapidJSON
// in json.cc (parsing) and json_request.cc (request bodies), the only files
// that use it; nothing here exposes its types.
//
// Parsing is tolerant in the way a client of an evolving server must be:
// unknown fields are ignored, a null or missing optional field takes the
// struct's default, numbers sent as strings are accepted. A missing *required*
// field (an id) is an error naming the field and the object, with code
// kInternal: the server broke its own schema, which is neither the caller's
// invalid argument nor lost data (kDataLoss is kept for truncated bodies).
#ifndef IMMICHFS_IMMICH_JSON_H_
#define IMMICHFS_IMMICH_JSON_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "immich/model.h"

namespace immichfs::immich::json {

// --- answers --------------------------------------------------------------
absl::StatusOr<ServerVersion> ParseServerVersion(absl::string_view body);
absl::StatusOr<User> ParseUser(absl::string_view body);
absl::StatusOr<MediaTypes> ParseMediaTypes(absl::string_view body);
absl::StatusOr<Storage> ParseStorage(absl::string_view body);
absl::StatusOr<Album> ParseAlbum(absl::string_view body);
absl::StatusOr<std::vector<Album>> ParseAlbumList(absl::string_view body);
absl::StatusOr<Asset> ParseAsset(absl::string_view body);
// POST /api/search/metadata: {"assets": {"items": [...], "nextPage": "2"|null, "total"}}.
absl::StatusOr<AssetPage> ParseSearchPage(absl::string_view body);
// The same, parsing `body` in place (it is overwritten): a 1000-asset page is
// ~1 MB of JSON, and not copying its strings matters when listing big albums.
absl::StatusOr<AssetPage> ParseSearchPageInPlace(std::string&& body);
absl::StatusOr<std::vector<BulkCheckResult>> ParseBulkCheck(absl::string_view body);
// POST /api/assets: `http_status` 201 is a new asset, 200 a duplicate (the
// "status" field says the same; either one is enough).
absl::StatusOr<UploadResult> ParseUploadResult(absl::string_view body, long http_status);
absl::StatusOr<std::vector<BulkIdResult>> ParseBulkIdResults(absl::string_view body);

// The human part of an Immich error body: "message", followed by the
// validation details when present ("Validation failed: id: Invalid UUID").
// Empty when the body is not such an object (an HTML page from a proxy).
std::string ParseErrorMessage(absl::string_view body);

// --- request bodies -------------------------------------------------------
// {"albumIds":[id],"withExif":true,"size":size,"page":page}
std::string SearchAlbumAssetsBody(absl::string_view album_id, int page, int size);
// {"checksum":c,"withDeleted":true,"withExif":true}
std::string SearchByChecksumBody(absl::string_view checksum_b64);
// {"assets":[{"id":..,"checksum":..}]}
std::string BulkUploadCheckBody(const std::vector<std::pair<std::string, std::string>>& id_and_checksum);
// {"ids":[...]}
std::string IdsBody(const std::vector<std::string>& ids);
// {"ids":[...],"force":force}
std::string DeleteAssetsBody(const std::vector<std::string>& ids, bool force);
// {"albumName":name}: both POST /api/albums and PATCH /api/albums/{id}.
std::string AlbumNameBody(absl::string_view name);
// {"sourceId":..,"targetId":..}: the server's defaults copy everything.
std::string CopyAssetBody(absl::string_view source_id, absl::string_view target_id);

}  // namespace immichfs::immich::json

#endif  // IMMICHFS_IMMICH_JSON_H_
