// The filesystem: Immich's albums as directories and assets as files, with
// the rules of DESIGN.md. Every FUSE operation has one method here returning
// a Status or a value; fuse_ll/ only decodes requests and encodes replies, so
// all of this is testable without a kernel (tests/fs).
//
// Layout:
//   /                      albums (owned and shared), named by catalog.h
//   /<album>/              the album's assets, named by catalog.h, and its
//                          pending files (the write-back spool, spool/spool.h)
//   /.immich/status        JSON: pending files and bytes, commits in flight,
//                          recent errors, failed files, server version
//   /.immich/failed/       files Immich refused for good, each with .reason
// /.immich is reachable by name but not listed in /, so `ls -a` and an
// `rsync -a` of the whole mount do not pick up the ever-changing status.
//
// Attributes: st_size is exifInfo.fileSizeInByte (exact), st_mtime
// fileModifiedAt, st_ctime updatedAt; a pending file shows the spool's size
// and mtime (mtime at millisecond precision, which is what Immich keeps, so
// it does not move when the file becomes an asset). Inodes are keyed on
// Immich ids (inode_table.h), so one asset has one inode in every album.
//
// Writes (filesystem_io.cc, filesystem_ns.cc; the errno table is in the
// report of the change and the man page):
//  - create / mknod in an album -> a pending file in the spool, visible at
//    once; names are checked by name_policy.h (EOPNOTSUPP for types Immich
//    refuses; temporary names of uploaders are accepted and wait for their
//    rename before they commit).
//  - open(O_TRUNC) of an uploaded asset -> a pending file that replaces it
//    (the asset's inode now stands for the pending file, in every album);
//    open for writing without O_TRUNC of an uploaded asset -> EPERM (Immich
//    cannot change an asset's bytes in place, and a copy-up would download
//    the whole original inside open()).
//  - flush (every close) makes data and journal durable, so close() reports
//    ENOSPC/EIO; release lets the file settle; fsync commits now and waits.
//  - Hand-over: when the spool has committed a file (OnCommitted), the
//    catalog learns the asset under the pending name (sticky, even for a
//    duplicate whose originalFileName differs), and the pending file's inode
//    is rebound to the asset: same inode, name and size, no gap.
//
// Locking: ns_mu_ serialises changes of the namespace (create, rename,
// unlink, link, mkdir, rmdir, O_TRUNC of an asset, the spool's hand-over and
// failure callbacks). It is taken before any lock of the spool, the catalog,
// the inode table or handles_mu_, and is held across the Immich calls of a
// namespace change (which are then serialised; reads and writes of file data
// never take it). It is never held while waiting for a commit (fsync), so
// the spool's workers can always take it. Kernel notifications go out only
// from the spool's callbacks, after ns_mu_ is released.
#ifndef IMMICHFS_FS_FILESYSTEM_H_
#define IMMICHFS_FS_FILESYSTEM_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"
#include "fs/catalog.h"
#include "fs/inode_table.h"
#include "fs/name_policy.h"
#include "fs/types.h"
#include "immich/api.h"
#include "immich/batching_stats.h"
#include "readcache/read_path.h"
#include "spool/spool.h"

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
  // While GET /api/server/media-types has not answered, ask again at most
  // this often (name_policy.h).
  absl::Duration media_types_retry = absl::Seconds(10);
  // How long Open() of a pending file that is being handed over to its
  // asset waits for the hand-over to finish (it takes milliseconds).
  absl::Duration handover_wait = absl::Seconds(30);
  // Time source for the TTLs (tests substitute a manual clock).
  std::function<absl::Time()> clock = absl::Now;
};

class Filesystem : public cache::SpoolOwner {
 public:
  Filesystem(immich::ImmichApi* api, cache::ReadPath* reads, FsOptions options);
  ~Filesystem();
  Filesystem(const Filesystem&) = delete;
  Filesystem& operator=(const Filesystem&) = delete;

  // Wiring, before any request is served. Without a spool the filesystem is
  // read-only (every write answers EROFS). The spool must be opened with
  // this Filesystem as its owner (Spool::Start), and destroyed before it.
  void SetSpool(cache::Spool* spool) { spool_ = spool; }
  // What the batching layer in front of the api counted, for
  // /.immich/status (optional).
  void SetCallStats(std::function<immich::BatchingStats()> stats) {
    call_stats_ = std::move(stats);
  }
  void SetNotifier(KernelNotifier* notifier) { notifier_ = notifier; }
  void SetServerVersion(std::string version);
  // The catalog kept on disk, for restarts and offline starts (catalog.h);
  // optional. Must outlive this Filesystem.
  void SetCatalogStore(CatalogStore* store) {
    catalog_.SetAlbumStore(&store->albums());
    catalog_.SetListingStore(&store->listings());
  }

  // Loads the album list once; failures are reported but not fatal (an
  // offline start shows what is known and retries on access).
  absl::Status Prime();

  // --- reading the namespace (filesystem.cc) ---------------------------------
  absl::StatusOr<Entry> Lookup(Ino parent, const std::string& name);
  void Forget(Ino ino, uint64_t nlookup);
  // `fh`: the handle of an fstat, if any (an unlinked pending file that is
  // still open keeps its attributes there).
  absl::StatusOr<Attr> GetAttr(Ino ino, std::optional<uint64_t> fh = std::nullopt);
  absl::StatusOr<uint64_t> OpenDir(Ino ino);
  // Entries from `offset` on. With `plus`, each entry the sink takes counts
  // as a lookup (READDIRPLUS), except "." and "..".
  absl::Status ReadDir(Ino ino, uint64_t fh, uint64_t offset, bool plus, DirSink& sink);
  void ReleaseDir(uint64_t fh);
  absl::StatusOr<FsStat> StatFs();

  // --- file data (filesystem_io.cc) ------------------------------------------
  absl::StatusOr<OpenResult> Open(Ino ino, int flags);
  absl::StatusOr<CreateResult> Create(Ino parent, const std::string& name, int flags);
  // Regular files only (EPERM otherwise): a create that is closed at once.
  absl::StatusOr<Entry> MkNod(Ino parent, const std::string& name, mode_t mode);
  absl::StatusOr<size_t> Read(Ino ino, uint64_t fh, uint64_t offset, size_t size, char* buf);
  // Read without a copy where the bytes are already in memory (an asset's
  // download stream): see cache::ReadResult. out->scratch must hold `size`.
  absl::Status ReadView(Ino ino, uint64_t fh, uint64_t offset, size_t size,
                        cache::ReadResult* out);
  absl::StatusOr<size_t> Write(Ino ino, uint64_t fh, uint64_t offset, const char* data,
                               size_t size);
  // `fh` is the handle of an ftruncate/futimens, if any.
  absl::StatusOr<Attr> SetAttr(Ino ino, std::optional<uint64_t> fh, const SetAttrRequest& req);
  absl::Status Flush(Ino ino, uint64_t fh);
  absl::Status Fsync(Ino ino, uint64_t fh);
  absl::Status Release(Ino ino, uint64_t fh);

  // --- namespace changes (filesystem_ns.cc) ----------------------------------
  absl::StatusOr<Entry> MkDir(Ino parent, const std::string& name);
  absl::Status RmDir(Ino parent, const std::string& name);
  absl::Status Unlink(Ino parent, const std::string& name);
  // flags: RENAME_NOREPLACE is honoured, RENAME_EXCHANGE is EINVAL.
  absl::Status Rename(Ino parent, const std::string& name, Ino new_parent,
                      const std::string& new_name, unsigned flags);
  absl::StatusOr<Entry> Link(Ino ino, Ino new_parent, const std::string& new_name);
  absl::Status Symlink(Ino parent, const std::string& name);

  // --- the spool's owner (cache::SpoolOwner; filesystem_spool.cc) -----------
  void OnCommitted(const cache::CommitResult& result) override;
  void OnFailed(cache::PendingId id, const cache::FailedFile& failed) override;
  // A write, flush or fsync of a pending file failed: it stays pending and is
  // not uploaded (spool/spool.h); logs what happened and what to do.
  void OnIncomplete(const cache::PendingFile& file) override;
  absl::Status SpoolPrecheck(const std::string& name, uint64_t size) override;
  // The name Immich gets: DecodeName (name_codec.h).
  std::string UploadName(const std::string& name) override;

  // A filesystem built without a spool answers every write with this.
  absl::Status ReadOnly(const char* op) const;

  // The kernel's lookup count of `ino` (lookups and READDIRPLUS entries
  // minus forgets): what the kernel still holds.
  uint64_t LookupCount(Ino ino) const { return inodes_.LookupCount(ino); }
  // How long the kernel may trust attributes from GetAttr (fuse_reply_attr).
  double attr_timeout() const { return absl::ToDoubleSeconds(options_.attr_timeout); }

 private:
  // A listing as of opendir, until releasedir: ~150 bytes an entry, so a
  // 20 000-asset album holds 3 MB while it is open (transient).
  struct DirSnapshot {
    std::vector<std::pair<std::string, Entry>> entries;
  };
  struct FileHandle {
    enum class Kind { kAsset, kPending, kText, kFailedFile };
    Kind kind = Kind::kAsset;
    std::unique_ptr<cache::ReadHandle> reader;  // kAsset
    cache::PendingId pending = 0;               // kPending
    std::string text;                           // kText: a snapshot (status)
    UniqueFd fd;                                // kFailedFile
  };
  // What a name in an album stands for.
  struct Item {
    enum class Kind { kNone, kAsset, kPending };
    Kind kind = Kind::kNone;
    std::string asset_id;       // kAsset
    cache::PendingFile pending;  // kPending
  };
  struct Notice {
    Ino ino = 0;                // InvalAttr if name is empty, else InvalEntry(ino, name)
    std::string name;
  };

  // filesystem.cc
  absl::StatusOr<Entry> EntryFor(Ino ino);
  // ino, type and permissions (less umask), owner, link count, the kernel's
  // cache times; the callers add size and times.
  Entry BaseEntry(Ino ino, mode_t type, mode_t perms) const;
  Entry DirEntry(Ino ino, const timespec& mtime) const;
  Entry RootEntry() const;
  Entry AssetEntry(Ino ino, const AssetAttrs& attrs) const;
  Entry AssetEntry(Ino ino, const AssetRec& asset) const;
  Entry PendingEntry(Ino ino, const cache::PendingFile& file) const;
  // The entry of asset `id` as listed: its inode may stand for a pending
  // file that replaces it (an overwrite), whose attributes win.
  Entry ListedAssetEntry(const PackedId& id, const AssetAttrs& attrs);
  Ino PendingIno(cache::PendingId id);
  absl::StatusOr<Entry> LookupInRoot(const std::string& name);
  absl::StatusOr<Entry> LookupInAlbum(Ino parent, const std::string& album_id,
                                      const std::string& name);
  absl::StatusOr<std::string> AlbumIdOf(Ino ino) const;
  // Refreshes the album listing if stale; a server that cannot be reached is
  // logged (answers come from what is known), a vanished album is returned.
  absl::Status RefreshForAccess(const std::string& album_id);
  // The same for a readdir, which claims to list everything: an album whose
  // contents were never known fails (EIO) instead of showing only what is pending.
  absl::Status RefreshForListing(const std::string& album_id);
  // What `name` stands for in the album: a pending file first, then an
  // asset not replaced by a pending file.
  Item Find(const std::string& album_id, const std::string& name);
  // Everything the album shows: its pending files, and its assets but those
  // a pending file hides (by name, or by replacing it); each sorted by name,
  // no name in both.
  struct AlbumItems {
    std::vector<cache::PendingFile> pending;
    std::vector<ListedAsset> assets;
    bool empty() const { return pending.empty() && assets.empty(); }
  };
  AlbumItems Items(const std::string& album_id);
  uint64_t NewHandle(std::unique_ptr<FileHandle> handle);
  FileHandle* HandleOf(uint64_t fh);

  // filesystem_io.cc
  absl::StatusOr<OpenResult> OpenAsset(Ino ino, const std::string& asset_id, int flags);
  absl::StatusOr<OpenResult> OverwriteAsset(Ino ino, const std::string& asset_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ns_mu_);
  absl::StatusOr<OpenResult> OpenPending(Ino ino, cache::PendingId id, int flags);
  absl::Status CheckWritable(const char* op) const;

  // filesystem_ns.cc
  absl::Status UnlinkLocked(const std::string& album_id, const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ns_mu_);
  // DESIGN.md's unlink rule for an uploaded asset: out of this album if
  // another holds it, else to the Immich trash (it keeps its album links).
  absl::Status UnlinkAsset(const std::string& album_id, const std::string& asset_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ns_mu_);
  // A pending file that overwrote `asset_id` gives up its name: the asset
  // is unlinked by the rule above and its inode no longer follows the file.
  absl::Status ReleaseReplaced(const cache::PendingFile& file)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ns_mu_);
  absl::Status RenameAlbum(const std::string& name, const std::string& new_name, unsigned flags)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ns_mu_);
  absl::Status RenamePending(const cache::PendingFile& file, const std::string& album_id,
                             const std::string& new_album_id, const std::string& new_name,
                             const Item& target) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ns_mu_);
  absl::Status MoveAsset(const std::string& asset_id, const std::string& name,
                         const std::string& album_id, const std::string& new_album_id,
                         const std::string& new_name, const Item& target)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ns_mu_);
  // Whether `name` is a name the asset may take in another album (its
  // originalFileName, or the name some folder shows it under).
  bool IsNameOf(const std::string& asset_id, const std::string& name) const;

  // filesystem_spool.cc
  // After the spool answered kNotFound for a pending file that may be in
  // its hand-over: waits until it is handed over or gone.
  void AwaitHandover(Ino ino, cache::PendingId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(ns_mu_);
  // ln of a pending file: commits it (as fsync) and waits until its inode is
  // the asset's; EPERM for a temporary name or a file still open for writing.
  absl::Status CommitForLink(Ino ino, const NodeRef& ref, const std::string& new_name)
      ABSL_LOCKS_EXCLUDED(ns_mu_);
  void Emit(const std::vector<Notice>& notices);
  // OnCommitted's first step: the committed asset's attributes
  // (filesystem_spool.cc).
  AssetRec CommittedAsset(const cache::CommitResult& r);

  // control_files.cc
  bool IsControl(NodeKind kind) const {
    return kind == NodeKind::kControlDir || kind == NodeKind::kControlFile;
  }
  absl::StatusOr<Entry> LookupControl(const NodeRef& dir, const std::string& name);
  absl::StatusOr<Entry> ControlEntry(Ino ino, const NodeRef& ref);
  absl::Status ListControl(Ino ino, const NodeRef& ref, DirSnapshot& snap);
  absl::StatusOr<OpenResult> OpenControl(const NodeRef& ref, int flags);
  std::string StatusJson();
  std::string FailedPath(const std::string& base) const;

  immich::ImmichApi* const api_;
  cache::ReadPath* const reads_;
  const FsOptions options_;
  const timespec mount_time_;
  Catalog catalog_;
  InodeTable inodes_;
  NamePolicy names_;
  std::function<immich::BatchingStats()> call_stats_;
  cache::Spool* spool_ = nullptr;
  KernelNotifier* notifier_ = nullptr;

  absl::Mutex ns_mu_ ABSL_ACQUIRED_BEFORE(handles_mu_);
  // Signalled under ns_mu_ when a hand-over or failure rebound an inode.
  absl::CondVar handover_cv_;
  // Pending files that took over an asset's inode (O_TRUNC of the asset):
  // the asset to give the inode back to if the file goes away uncommitted.
  absl::flat_hash_map<cache::PendingId, std::string> rebound_ ABSL_GUARDED_BY(ns_mu_);

  absl::Mutex handles_mu_;
  uint64_t next_fh_ ABSL_GUARDED_BY(handles_mu_) = 1;
  absl::flat_hash_map<uint64_t, std::unique_ptr<DirSnapshot>> dirs_ ABSL_GUARDED_BY(handles_mu_);
  absl::flat_hash_map<uint64_t, std::unique_ptr<FileHandle>> files_ ABSL_GUARDED_BY(handles_mu_);
  // The checksum each asset inode had when last opened: reopening unchanged
  // content keeps the kernel's page cache (keep_cache).
  absl::flat_hash_map<Ino, std::string> opened_checksum_ ABSL_GUARDED_BY(handles_mu_);
  // The album an asset inode was last looked up in: O_TRUNC of an asset held
  // by several albums puts the new file where the user reached it.
  absl::flat_hash_map<Ino, std::string> last_album_ ABSL_GUARDED_BY(handles_mu_);

  absl::Mutex statfs_mu_;
  absl::Time statfs_at_ ABSL_GUARDED_BY(statfs_mu_) = absl::InfinitePast();
  FsStat statfs_ ABSL_GUARDED_BY(statfs_mu_);

  absl::Mutex info_mu_;
  std::string server_version_ ABSL_GUARDED_BY(info_mu_);
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_FILESYSTEM_H_
