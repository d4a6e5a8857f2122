// The filesystem: Immich's albums as directories and assets as files, with
// the rules of DESIGN.md. Every FUSE operation has one method here returning
// a Status or a value; fuse_ll/ only decodes requests and encodes replies, so
// all of this is testable without a kernel (tests/fs).
//
// Layout (this version is read-only):
//   /                      albums (owned and shared), named by catalog.h
//   /<album>/              the album's assets, named by catalog.h
// Attributes: st_size is exifInfo.fileSizeInByte (exact), st_mtime
// fileModifiedAt, st_ctime updatedAt; inodes are keyed on Immich ids
// (inode_table.h), so one asset has one inode in every album holding it.
// The kernel caches attributes for `attr_timeout` and names for
// `dir_cache_ttl`, the same TTL the catalog trusts its listings for.
// Every write answers EROFS. When Immich cannot be reached, lookups and
// listings answer from what is known; only a cold start with nothing known
// fails (EIO).
#ifndef IMMICHFS_FS_FILESYSTEM_H_
#define IMMICHFS_FS_FILESYSTEM_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cache/read_path.h"
#include "fs/catalog.h"
#include "fs/inode_table.h"
#include "fs/types.h"
#include "immich/api.h"

namespace immichfs::fs {

struct FsOptions {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t umask = 022;
  absl::Duration attr_timeout = absl::Seconds(1);
  absl::Duration dir_cache_ttl = absl::Seconds(10);
  // Mounted with offline_start: while Immich has never answered, the root
  // lists empty instead of failing, so clients can connect and wait.
  bool offline_start = false;
  // Time source for the TTLs (tests substitute a manual clock).
  std::function<absl::Time()> clock = absl::Now;
};

class Filesystem {
 public:
  Filesystem(immich::ImmichApi* api, cache::ReadPath* reads, FsOptions options);
  ~Filesystem();
  Filesystem(const Filesystem&) = delete;
  Filesystem& operator=(const Filesystem&) = delete;

  // Loads the album list once; failures are reported but not fatal (an
  // offline start shows what is known and retries on access).
  absl::Status Prime();

  absl::StatusOr<Entry> Lookup(Ino parent, const std::string& name);
  void Forget(Ino ino, uint64_t nlookup);
  absl::StatusOr<Attr> GetAttr(Ino ino);

  absl::StatusOr<uint64_t> OpenDir(Ino ino);
  // Entries from `offset` on. With `plus`, each entry the sink takes counts
  // as a lookup (READDIRPLUS), except "." and "..".
  absl::Status ReadDir(Ino ino, uint64_t fh, uint64_t offset, bool plus, DirSink& sink);
  void ReleaseDir(uint64_t fh);

  absl::StatusOr<OpenResult> Open(Ino ino, int flags);
  absl::StatusOr<size_t> Read(Ino ino, uint64_t fh, uint64_t offset, size_t size, char* buf);
  absl::Status Release(Ino ino, uint64_t fh);

  absl::StatusOr<FsStat> StatFs();

  // Writes are not supported yet: every one answers EROFS.
  absl::Status ReadOnly(const char* op) const;

  // The kernel's lookup count of `ino` (lookups and READDIRPLUS entries
  // minus forgets): what the kernel still holds.
  uint64_t LookupCount(Ino ino) const { return inodes_.LookupCount(ino); }

  // How long the kernel may trust attributes from GetAttr (fuse_reply_attr).
  double attr_timeout() const { return absl::ToDoubleSeconds(options_.attr_timeout); }

 private:
  struct DirSnapshot {
    std::vector<std::pair<std::string, Entry>> entries;
  };
  struct FileHandle {
    std::unique_ptr<cache::ReadHandle> reader;
  };

  absl::StatusOr<Entry> EntryFor(Ino ino);
  Entry DirEntry(Ino ino, const timespec& mtime) const;
  Entry RootEntry() const;
  Entry AssetEntry(Ino ino, const AssetRec& asset) const;
  absl::StatusOr<Entry> LookupInRoot(const std::string& name);
  absl::StatusOr<Entry> LookupInAlbum(Ino parent, const std::string& album_id,
                                      const std::string& name);
  absl::StatusOr<std::string> AlbumIdOf(Ino ino) const;

  immich::ImmichApi* const api_;
  cache::ReadPath* const reads_;
  const FsOptions options_;
  const timespec mount_time_;
  Catalog catalog_;
  InodeTable inodes_;

  absl::Mutex handles_mu_;
  uint64_t next_fh_ ABSL_GUARDED_BY(handles_mu_) = 1;
  absl::flat_hash_map<uint64_t, std::unique_ptr<DirSnapshot>> dirs_ ABSL_GUARDED_BY(handles_mu_);
  absl::flat_hash_map<uint64_t, std::unique_ptr<FileHandle>> files_ ABSL_GUARDED_BY(handles_mu_);
  // The checksum each asset inode had when last opened: reopening unchanged
  // content keeps the kernel's page cache (keep_cache).
  absl::flat_hash_map<Ino, std::string> opened_checksum_ ABSL_GUARDED_BY(handles_mu_);

  absl::Mutex statfs_mu_;
  absl::Time statfs_at_ ABSL_GUARDED_BY(statfs_mu_) = absl::InfinitePast();
  FsStat statfs_ ABSL_GUARDED_BY(statfs_mu_);
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_FILESYSTEM_H_
