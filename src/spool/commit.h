// The commit protocol: how one snapshot of a pending file becomes an Immich
// asset in its album. Stateless; the spool (spool.cc) decides when to run it
// and what to do with the outcome.
//
//   1. SHA-1 of the bytes (from the journal, else hashed from the file now).
//   2. POST /api/assets/bulk-upload-check.
//      accept    -> multipart upload streamed from the file (x-immich-checksum,
//                   fileCreatedAt = fileModifiedAt = mtime, filename = name)
//      duplicate -> the existing asset; no upload
//      other     -> permanent failure (unsupported format, ...)
//   3. A trashed duplicate: the journal first notes that we restore it
//      (hooks.set_restored), then restore, then remove it from every album
//      but the target, then the note is cleared.
//   4. Overwrite (replaces_asset_id set and not the same asset): PUT
//      /api/assets/copy old -> new (albums, favorite, ...), unless the old one
//      is already gone or trashed (a rerun after a crash).
//   5. Add to the album ("duplicate" = already there = fine); remove from
//      prev_album_id if the file moved away from it.
//   6. Overwrite: trash the old asset unless another pending file still
//      replaces it (hooks.still_needed).
//
// Every step is safe to repeat: a rerun after a failure or a crash at any
// point finds the uploaded bytes by checksum and finishes the rest, so a file
// never becomes two assets.
#ifndef IMMICHFS_SPOOL_COMMIT_H_
#define IMMICHFS_SPOOL_COMMIT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "immich/api.h"
#include "spool/spool.h"

namespace immichfs::cache {

struct CommitJob {
  PendingId id = 0;
  std::string data_path;          // bytes that cannot change during the commit
  uint64_t size = 0;
  std::string album_id;
  std::string name;               // as the folder shows it
  std::string upload_name;        // the filename Immich gets; empty: `name`
  absl::Time mtime;
  std::string sha1_hex;           // empty: Commit() hashes data_path and fills it in
  std::string replaces_asset_id;
  std::string prev_album_id;
  std::string restored_asset_id;  // from the journal: a restore we started earlier
  std::string device_asset_id;
};

struct CommitHooks {
  // Durably notes (in the journal) that `asset_id` is being restored from the
  // trash; "" clears the note. A failure aborts the commit (retried).
  std::function<absl::Status(const std::string& asset_id)> set_restored;
  // True if another pending file still replaces `asset_id`, which must then
  // not be trashed yet.
  std::function<bool(const std::string& asset_id)> still_needed;
  // Set for a commit started before its file settled (an early start):
  // blocks until the settle time is over and returns OK, or returns
  // kAborted as soon as the file changed (it then commits again, after a
  // settle time of its own). The upload calls it before its last byte, so
  // the server makes no asset before it returns OK; a commit that uploads
  // nothing calls it before any change to Immich (restore, album add).
  std::function<absl::Status()> hold;
};

// Runs the protocol once. Errors are the failing call's status, with the
// file, album and step in the message; IsRetryable() tells what they mean.
absl::StatusOr<CommitResult> Commit(immich::ImmichApi& api, CommitJob& job,
                                    const CommitHooks& hooks);

// Undoes a commit whose file was unlinked meanwhile, but only what this
// commit did: nothing if the asset was in the album already; else removed
// from the album, and trashed only if the commit uploaded (or restored) it
// and no other album holds it. Never trashes an asset that was there before.
absl::Status UndoCommit(immich::ImmichApi& api, const CommitResult& result);

// Whether a later attempt may succeed where this one failed: the server or
// network was down, busy or slow, or a local read failed. False for what only
// a person can fix (rejected content, album gone, permission denied).
bool IsRetryable(const absl::Status& status);

// SHA-1 of a file, as 40 lower-case hex digits, read in chunks.
absl::StatusOr<std::string> HashFile(const std::string& path);

}  // namespace immichfs::cache

#endif  // IMMICHFS_SPOOL_COMMIT_H_
