// The catalog kept on disk, so that a new mount (a restart, a reboot) does not
// page unchanged albums again, and a mount started while Immich cannot be
// reached (offline_start) shows the albums, and what they held when they were
// last listed, and accepts files into them (the spool needs only an album's
// id; the files commit once Immich is back).
//
// Two record types share one file format (CatalogFile): the album list
// (<cache_dir>/albums) and one listing per album (<cache_dir>/listings/<id>).
// Files are replaced atomically (temp file + rename) and not fsynced: they
// are a cache, and losing the last change in a crash only means an older
// list, or paging an album again.
//
//   <magic>                  "immichfs-albums 1" or "immichfs-listing 1"
//   owner <16 hex>           xxh64 of server url + API key: another server
//                            or user never sees these files
//   <record lines>
//   end                      listings only: a file cut short lacks it
//
// Fields are separated by one space; ids, checksums and names are
// percent-escaped (common/text_file.h), a name is the last field. A file that
// does not parse or belongs to another owner is ignored (and replaced when
// the catalog is next saved).
//
// The album list:
//   album <id> <asset count> <created ns> <updated ns> <last asset ns> <name>
// A listing, used only while the album's updatedAt, assetCount and
// lastModifiedAssetTimestamp are still those it was saved under -- the test
// that keeps an in-memory listing (catalog.h):
//   album <id> <asset count> <updated ns> <last asset ns>
//   assets <lines that follow>
//   <id> <size> <mtime ns> <ctime ns> <uploaded ns> <checksum> <name>
//
// Thread safety: all methods may be called from several threads.
#ifndef IMMICHFS_FS_CATALOG_STORE_H_
#define IMMICHFS_FS_CATALOG_STORE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fs/asset_table.h"
#include "immich/model.h"

namespace immichfs::fs {

// The one reader and writer of the format above; the record types below
// only produce and parse their record lines.
class CatalogFile {
 public:
  // `magic`: the first line (record type and version). `what`: the record
  // type in messages ("album list"). `end`: the file ends with an end line.
  CatalogFile(absl::string_view magic, absl::string_view what, const std::string& owner,
              bool end);

  // The whole file for `records` (record lines, each ending in '\n').
  std::string Text(absl::string_view records) const;
  // Writes `text` (from Text) to `path` in `dir` atomically; not fsynced.
  static absl::Status Write(const std::string& dir, const std::string& path,
                            absl::string_view text);
  // The record lines of the file at `path` (empty lines skipped), in
  // `*text`'s storage. kNotFound: no file, or another owner's; kDataLoss:
  // not this record type, or cut short.
  absl::StatusOr<std::vector<absl::string_view>> Read(const std::string& path,
                                                      std::string* text) const;

 private:
  const std::string magic_;
  const std::string what_;
  const std::string owner_line_;  // "owner <16 hex>"
  const bool end_;
};

// The album list.
class AlbumStore {
 public:
  // `path`: the file (its directory must exist). `owner`: who the list
  // belongs to, e.g. the server URL and the API key; only a hash is stored.
  AlbumStore(std::string path, const std::string& owner);

  // Stores the list unless it equals the stored one.
  absl::Status Save(const std::vector<immich::Album>& albums);
  // The stored list; kNotFound when there is none for this owner.
  absl::StatusOr<std::vector<immich::Album>> Load() const;

  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const CatalogFile file_;
  absl::Mutex mu_;
  std::string saved_ ABSL_GUARDED_BY(mu_);  // what the file holds, as far as we know
};

// What says whether an album changed (GET /api/albums).
struct AlbumKey {
  int64_t asset_count = 0;
  absl::Time updated;
  absl::Time last_modified_asset;
  bool operator==(const AlbumKey&) const = default;
};

// The album listings, one file per album in a directory.
class ListingStore {
 public:
  // `dir`: created if missing (its parent must exist). `owner`: as for
  // AlbumStore.
  ListingStore(std::string dir, const std::string& owner);

  absl::Status Save(const std::string& album_id, const AlbumKey& key,
                    const std::vector<AssetRec>& assets) const;
  // The listing stored for the album in state `key`; kNotFound when there
  // is none (or only one of another state or owner).
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

  const std::string dir_;
  const CatalogFile file_;
};

// Both stores of one cache_dir and owner: what main.cc opens and hands to the
// Filesystem (Filesystem::SetCatalogStore).
class CatalogStore {
 public:
  // <cache_dir>/albums and <cache_dir>/listings/.
  CatalogStore(const std::string& cache_dir, const std::string& owner);

  AlbumStore& albums() { return albums_; }
  ListingStore& listings() { return listings_; }

 private:
  AlbumStore albums_;
  ListingStore listings_;
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_CATALOG_STORE_H_
