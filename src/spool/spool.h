// The write-back spool: files created in an album live here, on local disk,
// until they are committed to Immich. The fs layer creates, writes, reads,
// renames and unlinks pending files through this class; a pool of upload
// workers commits each one after it settles (or at once on fsync) and then
// tells the owner which Immich asset it became.
//
// On disk, under options.dir (normally <cache_dir>/spool):
//   <id>.data            the file's bytes
//   <id>.meta            its journal record (journal.h), replaced atomically
//   <id>.upload          hard link to the bytes an upload in flight reads
//                        (a write during the upload first copies the data
//                        to a new <id>.data, so the upload's bytes stay put)
//   <id>.*.tmp           temp files of atomic replaces, deleted at Open()
//   failed/<id>-<name>   a file Immich refused for good, and next to it
//   failed/<id>-<name>.reason   why, and what to do (human-readable)
//
// Durability: Release() and Fsync() fdatasync the data and fsync the journal
// record (and the directory) before returning, so anything a client was told
// is written survives kill -9 and a power cut. Open() + Start() resume every
// pending commit. Commits are idempotent (commit.h): a crash between upload
// and album-add neither loses nor duplicates. Recovery sends to failed/ what
// no client was told is written: a file that was still open (record state
// "writing") and data without a readable record; empty ones are removed.
//
// Generations: every change to a pending file (data, size, name, album,
// mtime) bumps its generation. A commit uploads a snapshot of one
// generation; if the file changed meanwhile (say, fsync with the handle still
// open, then more writes), the committed asset becomes the file's
// replaces_asset_id and the newer generation commits later as an overwrite of
// it. A pending file leaves the spool only when its latest generation is in
// Immich and no handle is open.
//
// Incomplete files: a file whose write, flush or fsync failed (ENOSPC, EIO,
// a failed fdatasync or early writeback, a size the spool disk cannot hold)
// is marked incomplete: its bytes are not what the client meant, so it is
// never committed as it stands, also not after a restart (the mark is in its
// journal record). It stays listed (state kIncomplete once closed; Fsync
// returns the error) until a truncate to 0 (O_TRUNC, ftruncate(0): a
// rewrite) clears the mark -- a cut to any other size may keep a hole or old
// bytes where a write failed in the middle -- and it is closed cleanly, or
// until it is unlinked (a rename of
// another file onto it unlinks it). A rename keeps the mark. Writes after the
// error (a client resuming at the end) do not clear it: nothing tells a
// resume from a writer that skipped the failed buffer.
//
// Size limit: a truncate that grows a file, or a write that extends it, to a
// size the spool's filesystem cannot hold (statvfs: free space plus what the
// file occupies already, less a margin of min(1 MiB, 1/64 of the
// filesystem) kept for journal records) fails with EFBIG if the file could
// never fit (larger than the filesystem) and ENOSPC if not now. Sparse files
// are fine: the check is on the size, not on the bytes written.
//
// Unlinked while open: Get/List no longer show the file, but Read, Write and
// Release on its id keep working on the unlinked bytes, as on a local disk,
// until the last handle goes.
//
// Thread safety: every method may be called from any thread at once. Calls
// on one PendingId are serialised where they touch its bytes. Internals and
// lock order: spool_internal.h.
#ifndef IMMICHFS_SPOOL_SPOOL_H_
#define IMMICHFS_SPOOL_SPOOL_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "immich/api.h"

namespace immichfs::cache {

// Names a pending file for the life of the spool directory: ids are persisted
// in the journal and never reused while a file with that id exists.
using PendingId = uint64_t;

struct PendingFile {
  enum class State {
    kOpen,        // at least one handle open (or created and never released)
    kSettling,    // closed, waiting for the settle time or a retry's backoff
    kCommitting,  // a worker is committing it right now
    kIncomplete,  // closed after a failed write: waits for a rewrite or unlink
  };
  PendingId id = 0;
  std::string album_id;
  std::string name;
  uint64_t size = 0;
  absl::Time mtime;
  // The Immich asset this file replaces (an overwrite, or a rename onto an
  // existing asset); empty for a new file. The fs shows the pending file in
  // place of that asset in album_id.
  std::string replaces_asset_id;
  State state = State::kOpen;
  int attempts = 0;             // failed commit attempts so far
  absl::Status last_error;      // of the latest failed attempt, OK if none
  // The asset an earlier generation became (an Fsync with the file still
  // open); empty if none. Then replaces_asset_id is that asset too, and the
  // fs knows the "replaced" asset is this file's own earlier content.
  std::string committed_asset_id;
  // Not OK: the file is incomplete (see the top of this file); the error of
  // the write, flush or fsync that failed.
  absl::Status write_error;
};

// What a commit produced; passed to SpoolOwner::OnCommitted.
struct CommitResult {
  PendingId id = 0;
  std::string album_id;
  std::string name;             // the pending file's name
  std::string asset_id;         // the Immich asset now in album_id
  // True when these bytes became a new asset; false when Immich already had
  // the content (a duplicate, restored from the trash if needed). A
  // duplicate keeps its existing originalFileName, which may differ from
  // `name`.
  bool uploaded = false;
  // True when this commit brought the asset back from the trash.
  bool restored = false;
  // True when this commit put the asset into album_id (false: it was there
  // already, Immich answered "duplicate"). An undo takes out only what the
  // commit put in.
  bool added_to_album = false;
  std::string replaced_asset_id;  // the old asset that was overwritten, if any
  // What the commit sent (for `uploaded`: the new asset's attributes, so
  // the owner need not read them back): the SHA-1 of the bytes in hex,
  // their size, the mtime sent as fileModifiedAt and the filename.
  std::string sha1_hex;
  uint64_t size = 0;
  absl::Time mtime;
  std::string upload_name;
};

// A file moved to failed/ because Immich will never accept it as it is.
struct FailedFile {
  std::string path;             // the data, under <dir>/failed/
  std::string reason_path;      // path + ".reason"
  std::string album_id;
  std::string name;
  uint64_t size = 0;
  absl::Time failed_at;
  std::string reason;           // the error, one line
};

struct SpoolStats {
  struct Error {
    absl::Time when;
    PendingId id = 0;
    std::string name;
    absl::Status status;
  };
  uint64_t pending_files = 0;
  uint64_t pending_bytes = 0;
  int commits_in_flight = 0;
  uint64_t commits_done = 0;     // since Open()
  uint64_t commits_retried = 0;  // failed attempts that will be retried
  std::vector<Error> recent_errors;  // newest last, at most 8
  std::vector<FailedFile> failed;    // everything in failed/, oldest first
};

struct SpoolOptions {
  std::string dir;                              // created if missing
  absl::Duration settle = absl::Seconds(2);     // after the last Release()
  // Commits running at once (threads). Uploads among them may be limited
  // further by the api (BatchingApi); the other steps are cheap waits.
  int commit_workers = 4;
  // Early start: a closed file of at least this many bytes (0: none) starts
  // its commit at once instead of after the settle time. Its upload sends
  // everything but the last byte and holds that until the settle time is
  // over; a change meanwhile (bytes, name, mtime, album, unlink) aborts the
  // upload, so Immich makes no asset, and the file commits after a settle
  // time of its own. The transfer of a big file overlaps its settle time.
  uint64_t early_start_bytes = 8 << 20;
  absl::Duration min_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Minutes(5);
  // Prefix of the deviceAssetId sent with uploads (Immich 2.x needs one).
  std::string device_id = "immichfs";
  // Tests only: stands in for pwrite(2) on spool data files, e.g. to make a
  // write fail with ENOSPC without filling a disk. Unset: pwrite(2).
  std::function<ssize_t(int fd, const void* buf, size_t count, off_t offset)> pwrite_for_test;
  // Tests only: stands in for fdatasync(2) on spool data files.
  std::function<int(int fd)> fdatasync_for_test;
  // Tests only: stands in for the sync_file_range(2) that waits for a
  // streamed file's earlier writeback before its pages are dropped.
  std::function<int(int fd, off_t offset, off_t length)> writeback_wait_for_test;
};

// The spool's owner (the fs layer): what the spool asks and tells it about
// files. Given once, to Start(); no method is called before Start(), and the
// owner must outlive the Spool.
class SpoolOwner {
 public:
  virtual ~SpoolOwner() = default;

  // Asked on a worker thread before each commit attempt (no spool lock held)
  // with the file's current name and size. OK: commit. A retryable error
  // (IsRetryable, e.g. kUnavailable) postpones the attempt like a failed one
  // (backoff; a Rename reschedules it after the settle time); any other
  // error moves the file to failed/ with that reason, without an upload.
  // The fs uses it to hold files that still have a temporary name and to
  // refuse types or empty files Immich would reject.
  virtual absl::Status SpoolPrecheck(const std::string& name, uint64_t size) = 0;
  // The filename Immich gets for a file's name (the fs's DecodeName: "a／b.jpg"
  // is uploaded as "a/b.jpg").
  virtual std::string UploadName(const std::string& name) = 0;
  // Runs on a worker thread once the file's latest generation is in Immich
  // and in the album and no handle is open, while the pending file is still
  // listed (so the owner can swap it for the asset without a visible gap).
  // While it runs, Read/Get/List still see the file but OpenHandle, Write,
  // Truncate, SetMtime, Rename and Unlink on its id fail with kNotFound (the
  // owner should then use the asset). When it returns, the pending file is
  // gone: Get() returns nullopt and calls on its id fail with kNotFound.
  // An Fsync with the file still open commits without calling this: the file
  // stays pending with replaces_asset_id = the new asset, and the call comes
  // once it is closed (with the result of its last commit).
  virtual void OnCommitted(const CommitResult& result) = 0;
  // Runs on a worker thread after a file was moved to failed/ (it is already
  // gone from the spool by then).
  virtual void OnFailed(PendingId id, const FailedFile& failed) = 0;
  // Runs once when a file becomes incomplete (a write, flush or fsync of it
  // failed), on the thread that saw the error, with no spool lock held: the
  // owner logs what happened and what to do. Must not block for long. Not
  // called before Start() (a file marked before is reported only by its
  // state).
  virtual void OnIncomplete(const PendingFile& file) = 0;
};

class Spool {
 public:
  // Opens (creating if needed) options.dir and loads its journal. Nothing is
  // committed until Start(). `api` must outlive the Spool.
  static absl::StatusOr<std::unique_ptr<Spool>> Open(SpoolOptions options,
                                                     immich::ImmichApi* api);
  // Stops the workers, waiting for commits in flight to end (the API calls
  // they are in are not interrupted). Pending data stays for the next Open().
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Starts the upload workers; every pending file found by Open() is queued
  // for commit (after the settle time). From now on the spool asks and tells
  // `owner` (which must outlive the Spool) about its files.
  void Start(SpoolOwner* owner);

  // A new, empty pending file with one open handle (a FUSE create). The name
  // is not checked for clashes: that is the fs layer's job.
  absl::StatusOr<PendingId> Create(const std::string& album_id, const std::string& name,
                                   absl::Time mtime, const std::string& replaces_asset_id = "");

  // Writing sets mtime to now, as a local disk would. A full disk returns
  // ErrnoError(ENOSPC) and leaves the file as it was, marked incomplete; a
  // size the spool disk cannot hold returns EFBIG or ENOSPC (see the top).
  absl::Status Write(PendingId id, uint64_t offset, const char* data, size_t size);
  // Short only at end of file.
  absl::StatusOr<size_t> Read(PendingId id, uint64_t offset, size_t size, char* buf) const;
  // Without an open handle (truncate(2)), this is durable when it returns.
  // Growing beyond what the spool disk holds: EFBIG or ENOSPC, file
  // unchanged. May clear the incomplete mark (see the top).
  absl::Status Truncate(PendingId id, uint64_t size);
  absl::Status SetMtime(PendingId id, absl::Time mtime);
  // Moves the file to another album and/or name. `replaces_asset_id`:
  // nullopt keeps the current one; a value (possibly empty) sets it, e.g.
  // the asset a rename lands on.
  absl::Status Rename(PendingId id, const std::string& album_id, const std::string& name,
                      std::optional<std::string> replaces_asset_id = std::nullopt);
  // Drops the file and its journal record. If a commit is in flight, it is
  // undone when it ends (the new asset is trashed, or removed from the album
  // if other albums hold it), so an unlinked file never stays in the album.
  absl::Status Unlink(PendingId id);

  // A FUSE open of an existing pending file. No commit starts while a handle
  // is open (Fsync aside).
  absl::Status OpenHandle(PendingId id);
  // A FUSE release. Makes data and journal durable before returning (its
  // error is what close() reports); when the last handle goes, the file
  // commits after the settle time. kFailedPrecondition without an open
  // handle.
  absl::Status Release(PendingId id);
  // Makes data and journal durable without giving up the handle: what a
  // FUSE flush (every close(2)) does, so close() reports ENOSPC or EIO.
  // OK for a file unlinked meanwhile.
  absl::Status Flush(PendingId id);
  // Makes the file durable, commits it now (even with handles open) and waits
  // for the outcome: OK once the asset is in Immich and in the album; an
  // incomplete file is not committed and its write error returned; else
  // the attempt's error (the spool keeps retrying in the background unless
  // the error was permanent and the file moved to failed/; with a handle
  // open, a permanent error moves it only after the last Release). Needs
  // Start(); kUnavailable if the spool is being destroyed. OK for a file
  // unlinked meanwhile.
  absl::Status Fsync(PendingId id);

  // Pending files in an album (all albums if album_id is empty), by id.
  // Files in failed/ are not listed: they are no longer headed for the album
  // (Stats().failed lists them).
  std::vector<PendingFile> List(const std::string& album_id) const;
  std::optional<PendingFile> Get(PendingId id) const;
  // Like Get, but also a file unlinked while a handle is still open (its
  // attributes for fstat on that handle).
  std::optional<PendingFile> GetOpen(PendingId id) const;
  // The listed pending file named `name` in the album (the lowest id if
  // several), or the one that replaces `asset_id` there. Cheap scans
  // without copying the others.
  std::optional<PendingFile> FindByName(const std::string& album_id,
                                        const std::string& name) const;
  std::optional<PendingFile> FindReplacing(const std::string& album_id,
                                           const std::string& asset_id) const;
  SpoolStats Stats() const;
  // The SHA-1s (hex) of closed files waiting out their settle time, the
  // soonest due first, at most `max`: what the commits will check next
  // (immich::BatchingApi asks about them ahead, in one call).
  std::vector<std::string> ChecksumsAhead(size_t max) const;
  const std::string& dir() const;

 private:
  class Impl;
  explicit Spool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace immichfs::cache

#endif  // IMMICHFS_SPOOL_SPOOL_H_
