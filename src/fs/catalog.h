// What immichfs knows of the library: the albums, and for each album whose
// folder was looked at, its assets under the names the folder shows.
//
// Freshness: the album list is trusted for `ttl`; after that one cheap call
// (GET /api/albums) revalidates it, and an album's asset listing is paged
// again (POST /api/search/metadata) only when that album's updatedAt,
// assetCount or lastModifiedAssetTimestamp changed, or it was never listed.
// When the server cannot be reached, what is known is kept and served, and
// the next attempt waits for another TTL.
//
// Sizes: st_size must be exact, so an asset whose listing lacks
// exifInfo.fileSizeInByte is asked for by itself (GET /api/assets/{id});
// if that has no size either, the asset is hidden (with a log line) and the
// album is paged again after the TTL until the size is known.
//
// Hidden (live-photo video parts) and trashed assets are never listed.
//
// Names: within a folder, assets sharing a name are told apart by
// " (<first 8 hex of the id>)" before the extension; the one uploaded first
// (then the smaller id) keeps the plain name. Names are sticky: a name once
// shown stays with its asset while the asset stays in the album, even if an
// older namesake arrives later. Albums sharing a name at the root likewise.
#ifndef IMMICHFS_FS_CATALOG_H_
#define IMMICHFS_FS_CATALOG_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "immich/api.h"

namespace immichfs::fs {

struct AssetRec {
  std::string id;
  std::string name;       // originalFileName as Immich has it
  std::string checksum;   // base64 SHA-1
  int64_t size = 0;
  absl::Time mtime;       // fileModifiedAt
  absl::Time ctime;       // updatedAt
  absl::Time uploaded;    // createdAt
};

struct AlbumView {
  std::string id;
  std::string name;       // albumName as Immich has it
  std::string shown;      // the directory name
  absl::Time created;
  absl::Time updated;
  int64_t asset_count = 0;
};

class Catalog {
 public:
  using Clock = std::function<absl::Time()>;
  Catalog(immich::ImmichApi* api, absl::Duration ttl, Clock clock = absl::Now);

  // Revalidates the album list if older than the TTL (or `force`).
  absl::Status RefreshRoot(bool force = false);
  // Makes the album's listing current (RefreshRoot first).
  absl::Status RefreshAlbum(const std::string& album_id);

  std::vector<AlbumView> Albums() const;  // sorted by shown name
  std::optional<AlbumView> AlbumByShown(const std::string& shown) const;
  std::optional<AlbumView> AlbumById(const std::string& id) const;
  bool HasAlbums() const;
  size_t AlbumCount() const;

  // shown name -> asset id, sorted by name. Empty if never listed.
  std::vector<std::pair<std::string, std::string>> Listing(const std::string& album_id) const;
  std::optional<std::string> AssetInAlbum(const std::string& album_id,
                                          const std::string& shown) const;
  std::optional<std::string> ShownNameOf(const std::string& album_id,
                                         const std::string& asset_id) const;
  std::optional<AssetRec> Asset(const std::string& asset_id) const;
  // Albums known (from listings already fetched) to hold the asset.
  std::vector<std::string> AlbumsHolding(const std::string& asset_id) const;
  size_t AssetCount() const;

  // Local knowledge of our own changes, so a listing is right without a
  // refetch (the server's view converges on the next revalidation).
  void PutAlbum(const immich::Album& album);
  void DropAlbum(const std::string& album_id);
  void PutAssetInAlbum(const std::string& album_id, const AssetRec& asset,
                       const std::string& wanted_name = "");
  void DropAssetFromAlbum(const std::string& album_id, const std::string& asset_id);
  // Forget freshness so the next access revalidates with the server.
  void Invalidate(const std::string& album_id = "");

  static AssetRec ToRec(const immich::Asset& a);

 private:
  struct AlbumState {
    AlbumView view;
    absl::Time last_modified_asset;
    bool listed = false;   // `names` reflects the server as of the last check
    bool incomplete = false;  // some assets were hidden (size not known yet)
    absl::Time listed_at = absl::InfinitePast();
    std::map<std::string, std::string> names;            // shown -> asset id
    absl::flat_hash_map<std::string, std::string> shown_of;  // asset id -> shown
  };

  absl::Status FetchListing(const std::string& album_id);
  bool FreshLocked(const AlbumState& album) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void NameAlbumsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void AssignNames(AlbumState& album, std::vector<const AssetRec*> assets);

  immich::ImmichApi* const api_;
  const absl::Duration ttl_;
  const Clock clock_;

  // Serialises network refreshes, so that ten threads looking into one cold
  // album page it once. Acquired before mu_, never while holding it.
  absl::Mutex fetch_mu_;
  mutable absl::Mutex mu_;
  absl::Time root_checked_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool root_known_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, AlbumState> albums_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> album_by_shown_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, AssetRec> assets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_CATALOG_H_
