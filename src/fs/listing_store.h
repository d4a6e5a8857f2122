// Album listings kept on disk, so that a new mount (a restart, a reboot) does
// not page a big album again when Immich says it has not changed, and a mount
// started while Immich cannot be reached (offline_start) shows what the
// albums held when they were last listed.
//
// One text file per album, <dir>/<album id>, written after the album was
// paged in full (temp file + rename; not fsynced: it is a cache) and used only
// when the album's updatedAt, assetCount and lastModifiedAssetTimestamp are
// still those it was saved under -- the same test that keeps an in-memory
// listing (catalog.h), so a stored listing is exactly as fresh as one kept in
// memory would be.
//
//   immichfs-listing 1
//   owner <16 hex>          (xxh64 of server url + API key, as albums has)
//   album <id> <asset count> <updated ns> <last asset ns>
//   assets <lines that follow>
//   <id> <size> <mtime ns> <ctime ns> <uploaded ns> <checksum> <name>
//   ...
//   end
//
// Fields are separated by one space; id, checksum and name are
// percent-escaped. A file that does not parse, belongs to another owner or
// another album state is ignored (and replaced at the next listing).
//
// Thread safety: all methods may be called from several threads.
#ifndef IMMICHFS_FS_LISTING_STORE_H_
#define IMMICHFS_FS_LISTING_STORE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fs/asset_table.h"

namespace immichfs::fs {

// What says whether an album changed (GET /api/albums).
struct AlbumKey {
  int64_t asset_count = 0;
  absl::Time updated;
  absl::Time last_modified_asset;
  bool operator==(const AlbumKey&) const = default;
};

class ListingStore {
 public:
  // `dir`: created if missing (its parent must exist). `owner`: whose
  // listings these are, e.g. the server URL and the API key; only a hash is
  // stored.
  ListingStore(std::string dir, const std::string& owner);

  absl::Status Save(const std::string& album_id, const AlbumKey& key,
                    const std::vector<AssetRec>& assets) const;
  // The listing stored for the album in state `key`; kNotFound when there is
  // none (or only one of another state or owner).
  absl::StatusOr<std::vector<AssetRec>> Load(const std::string& album_id,
                                             const AlbumKey& key) const;
  // Removes the album's listing, if there is one.
  void Remove(const std::string& album_id) const;
  // Removes the listings of albums not in `album_ids` (deleted albums).
  void Prune(const std::vector<std::string>& album_ids) const;

  // Tests only: runs at the start of each Save, on the saving thread.
  std::function<void(const std::string& album_id)> on_save_for_test;

 private:
  std::string PathOf(const std::string& album_id) const;
  std::string Header(const std::string& album_id, const AlbumKey& key) const;

  const std::string dir_;
  const std::string owner_hex_;
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_LISTING_STORE_H_
