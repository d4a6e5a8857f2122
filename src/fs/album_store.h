// The album list, kept on disk so that a mount started while Immich cannot be
// reached (offline_start) still shows the albums and accepts files into them:
// the spool needs only an album's id, and the files commit once Immich is back.
//
// One small text file, replaced atomically (temp file + rename) whenever the
// list Immich sent differs from the one stored; not fsynced: losing the last
// change in a crash only means an older list on the next offline start.
//
//   immichfs-albums 1
//   owner <16 hex>            (xxh64 of server url + API key: another server
//                              or user never sees this list)
//   album <id> <asset count> <created ns> <updated ns> <last asset ns> <name>
//
// Fields are separated by one space; the name is last and percent-escaped.
// A file that does not parse, or belongs to another owner, is ignored.
//
// Thread safety: Save may be called from several threads; Load is const.
#ifndef IMMICHFS_FS_ALBUM_STORE_H_
#define IMMICHFS_FS_ALBUM_STORE_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "immich/model.h"

namespace immichfs::fs {

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
  std::string Serialize(const std::vector<immich::Album>& albums) const;

  const std::string path_;
  const std::string owner_hex_;
  absl::Mutex mu_;
  std::string saved_ ABSL_GUARDED_BY(mu_);  // what the file holds, as far as we know
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_ALBUM_STORE_H_
