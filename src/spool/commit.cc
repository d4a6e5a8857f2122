#include "spool/commit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace immichfs::cache {
namespace {

// The same status with the step and the file named in front of its message.
absl::Status Annotate(const absl::Status& st, const CommitJob& job, absl::string_view step) {
  absl::Status out(st.code(), absl::StrCat(step, " for '", job.name, "' (album ", job.album_id,
                                           "): ", st.message()));
  st.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

absl::Status CheckAlbumResults(const std::vector<immich::BulkIdResult>& results,
                               const std::string& asset_id, bool removing) {
  for (const immich::BulkIdResult& r : results) {
    if (r.id != asset_id || r.success) continue;
    // Adding: "duplicate" means it is already there. Removing: "not_found"
    // means it already is not.
    if (!removing && r.error == "duplicate") continue;
    if (removing && r.error == "not_found") continue;
    return absl::FailedPreconditionError(
        absl::StrCat("Immich refused asset ", asset_id, ": ", r.error));
  }
  return absl::OkStatus();
}

absl::Status RemoveFromAlbum(immich::ImmichApi& api, const std::string& album_id,
                             const std::string& asset_id) {
  absl::StatusOr<std::vector<immich::BulkIdResult>> r = api.RemoveFromAlbum(album_id, {asset_id});
  if (!r.ok()) {
    return r.status().code() == absl::StatusCode::kNotFound ? absl::OkStatus() : r.status();
  }
  return CheckAlbumResults(*r, asset_id, /*removing=*/true);
}

// Step 3: a duplicate we restored from the trash leaves the albums it had.
absl::Status LeaveOldAlbums(immich::ImmichApi& api, const CommitJob& job,
                            const std::string& asset_id) {
  absl::StatusOr<std::vector<immich::Album>> albums = api.ListAlbumsForAsset(asset_id);
  if (!albums.ok()) return Annotate(albums.status(), job, "listing albums of restored asset");
  for (const immich::Album& a : *albums) {
    if (a.id == job.album_id) continue;
    if (absl::Status st = RemoveFromAlbum(api, a.id, asset_id); !st.ok()) {
      return Annotate(st, job, absl::StrCat("removing restored asset from album ", a.id));
    }
  }
  return absl::OkStatus();
}

// Step 1 (checksum). Guarantees on success: job.sha1_hex holds the SHA-1 of
// the bytes at job.data_path (the journal's, or hashed from the file now).
absl::Status EnsureChecksum(CommitJob& job) {
  if (!job.sha1_hex.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> sha = HashFile(job.data_path);
  // A local read error is not the file's fault: retry.
  if (!sha.ok()) return absl::InternalError(Annotate(sha.status(), job, "hashing").message());
  job.sha1_hex = *sha;
  return absl::OkStatus();
}

// The asset that holds the file's bytes after step 2, and whether it is in
// the trash.
struct Holder {
  std::string asset_id;
  bool trashed = false;
};

// Step 2, the accepted branch (upload): streams the file as a new asset;
// an early start's upload holds its last byte until the file settled.
// Guarantees on success: an asset with these bytes exists; result.uploaded
// says whether this call made it (false: someone uploaded the same bytes
// since the check, and `trashed` says whether that asset is in the trash).
absl::StatusOr<Holder> UploadBytes(immich::ImmichApi& api, const CommitJob& job,
                                   const CommitHooks& hooks, CommitResult& result) {
  Holder holder;
  immich::UploadRequest req;
  req.path = job.data_path;
  req.size = static_cast<int64_t>(job.size);
  req.filename = job.upload_name.empty() ? job.name : job.upload_name;
  req.checksum_hex = job.sha1_hex;
  req.file_created_at = job.mtime;
  req.file_modified_at = job.mtime;
  req.device_asset_id = job.device_asset_id;
  req.hold_before_end = hooks.hold;
  absl::StatusOr<immich::UploadResult> up = api.Upload(req);
  if (!up.ok()) return Annotate(up.status(), job, "upload");
  holder.asset_id = up->id;
  result.uploaded = !up->duplicate;
  if (up->duplicate) {
    // Someone uploaded the same bytes since the check; it may be trashed.
    absl::StatusOr<immich::Asset> a = api.GetAsset(holder.asset_id);
    if (!a.ok()) return Annotate(a.status(), job, "reading the duplicate asset");
    holder.trashed = a->is_trashed;
  }
  return holder;
}

// Step 2 (decide): does Immich have these bytes already? Accepted: upload
// them; a duplicate: take the existing asset, no upload; anything else is a
// permanent refusal (kInvalidArgument). Guarantees on success: the returned
// asset holds exactly these bytes, so a rerun never makes a second one.
absl::StatusOr<Holder> FindOrUpload(immich::ImmichApi& api, const CommitJob& job,
                                    const CommitHooks& hooks, CommitResult& result) {
  std::string check_id = absl::StrCat(job.id);
  absl::StatusOr<std::vector<immich::BulkCheckResult>> checks =
      api.BulkUploadCheck({{check_id, job.sha1_hex}});
  if (!checks.ok()) return Annotate(checks.status(), job, "bulk-upload-check");
  const immich::BulkCheckResult* check = nullptr;
  for (const immich::BulkCheckResult& c : *checks) {
    if (c.id == check_id) check = &c;
  }
  if (check == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("bulk-upload-check for '", job.name, "': no answer for the file"));
  }
  if (check->accepted) return UploadBytes(api, job, hooks, result);
  if (check->reason == "duplicate" && !check->asset_id.empty()) {
    return Holder{check->asset_id, check->is_trashed};
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "Immich rejects '", job.name, "' (album ", job.album_id, "): ",
      check->reason.empty() ? "rejected by bulk-upload-check" : check->reason));
}

// Step 3 (restore): a trashed duplicate comes back and leaves its old
// albums. The journal notes the restore first: after it, the asset no longer
// looks trashed, and only the note tells a rerun to finish the job. Guarantees
// on success: the asset is out of the trash, in no album but (possibly) the
// target, and the note is cleared.
absl::Status RestoreTrashedDuplicate(immich::ImmichApi& api, CommitJob& job,
                                     const CommitHooks& hooks, const Holder& holder,
                                     CommitResult& result) {
  const std::string& asset_id = holder.asset_id;
  if (holder.trashed) {
    if (absl::Status st = hooks.set_restored(asset_id); !st.ok()) {
      return absl::InternalError(Annotate(st, job, "journal").message());
    }
    job.restored_asset_id = asset_id;
    if (absl::Status st = api.RestoreFromTrash({asset_id}); !st.ok()) {
      return Annotate(st, job, "restoring the trashed duplicate");
    }
  }
  if (job.restored_asset_id == asset_id) {
    result.restored = true;
    if (absl::Status st = LeaveOldAlbums(api, job, asset_id); !st.ok()) return st;
    if (absl::Status st = hooks.set_restored(""); !st.ok()) {
      return absl::InternalError(Annotate(st, job, "journal").message());
    }
    job.restored_asset_id.clear();
  }
  return absl::OkStatus();
}

// Step 4 (overwrite): the new asset takes the old one's albums, favorite,
// ..., unless the old one is already gone or trashed (a rerun after a
// crash). Guarantees on success: result.replaced_asset_id is set for an
// overwrite; returns whether step 6 must trash the old asset (no other
// pending file still replaces it).
absl::StatusOr<bool> TakeOverReplaced(immich::ImmichApi& api, const CommitJob& job,
                                      const CommitHooks& hooks, const std::string& asset_id,
                                      CommitResult& result) {
  const std::string& old_id = job.replaces_asset_id;
  bool trash_old = false;
  if (!old_id.empty() && old_id != asset_id) {
    absl::StatusOr<immich::Asset> old = api.GetAsset(old_id);
    if (old.ok() && !old->is_trashed) {
      if (absl::Status st = api.CopyAssetMetadata(old_id, asset_id); !st.ok()) {
        return Annotate(st, job, absl::StrCat("copying albums and metadata from ", old_id));
      }
      trash_old = !hooks.still_needed(old_id);
    } else if (!old.ok() && old.status().code() != absl::StatusCode::kNotFound) {
      return Annotate(old.status(), job, absl::StrCat("reading replaced asset ", old_id));
    }
    result.replaced_asset_id = old_id;
  }
  return trash_old;
}

// Step 5 (album placement): into the album ("duplicate" = already there =
// fine), and out of the one it was moved away from. Guarantees on success:
// the asset is in job.album_id and not in job.prev_album_id;
// result.added_to_album says whether this call put it there.
absl::Status PlaceInAlbum(immich::ImmichApi& api, const CommitJob& job,
                          const std::string& asset_id, CommitResult& result) {
  absl::StatusOr<std::vector<immich::BulkIdResult>> added =
      api.AddToAlbum(job.album_id, {asset_id});
  if (!added.ok()) return Annotate(added.status(), job, "adding to the album");
  if (absl::Status st = CheckAlbumResults(*added, asset_id, false); !st.ok()) {
    return Annotate(st, job, "adding to the album");
  }
  for (const immich::BulkIdResult& r : *added) {
    if (r.id == asset_id && r.success) result.added_to_album = true;
  }
  if (!job.prev_album_id.empty() && job.prev_album_id != job.album_id) {
    if (absl::Status st = RemoveFromAlbum(api, job.prev_album_id, asset_id); !st.ok()) {
      return Annotate(st, job, absl::StrCat("removing from previous album ", job.prev_album_id));
    }
  }
  return absl::OkStatus();
}

// Step 6 (retire the old asset): the replaced asset goes to the trash, never
// deleted for good. Guarantees on success: it is in the trash (or gone).
absl::Status TrashReplaced(immich::ImmichApi& api, const CommitJob& job) {
  const std::string& old_id = job.replaces_asset_id;
  absl::Status st = api.DeleteAssets({old_id}, /*force=*/false);
  if (!st.ok() && st.code() != absl::StatusCode::kNotFound) {
    return Annotate(st, job, absl::StrCat("trashing replaced asset ", old_id));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> HashFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoFromSyscall(errno, absl::StrCat("open ", path));
  Sha1 sha;
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoFromSyscall(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    sha.Update(buf.data(), static_cast<size_t>(n));
  }
  return ToHex(sha.Final());
}

bool IsRetryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kAlreadyExists:
      return false;
    default:
      // Unavailable, DeadlineExceeded, ResourceExhausted (429), Aborted,
      // Internal, DataLoss (truncated answer), Cancelled, Unauthenticated
      // (a key being rotated), Unknown.
      return true;
  }
}

// The steps of commit.h, in order; each stops the commit at its first error.
absl::StatusOr<CommitResult> Commit(immich::ImmichApi& api, CommitJob& job,
                                    const CommitHooks& hooks) {
  CommitResult result;
  result.id = job.id;
  result.album_id = job.album_id;
  result.name = job.name;

  if (absl::Status st = EnsureChecksum(job); !st.ok()) return st;
  result.sha1_hex = job.sha1_hex;
  result.size = job.size;
  result.mtime = job.mtime;
  result.upload_name = job.upload_name.empty() ? job.name : job.upload_name;
  absl::StatusOr<Holder> holder = FindOrUpload(api, job, hooks, result);
  if (!holder.ok()) return holder.status();
  // An early start that found the bytes in Immich changes nothing there
  // before the file has settled (an upload held its last byte for that).
  if (!result.uploaded && hooks.hold) {
    if (absl::Status st = hooks.hold(); !st.ok()) return st;
  }
  const std::string& asset_id = holder->asset_id;
  result.asset_id = asset_id;
  if (absl::Status st = RestoreTrashedDuplicate(api, job, hooks, *holder, result); !st.ok()) {
    return st;
  }
  absl::StatusOr<bool> trash_old = TakeOverReplaced(api, job, hooks, asset_id, result);
  if (!trash_old.ok()) return trash_old.status();
  if (absl::Status st = PlaceInAlbum(api, job, asset_id, result); !st.ok()) return st;
  if (*trash_old) {
    if (absl::Status st = TrashReplaced(api, job); !st.ok()) return st;
  }
  return result;
}

absl::Status UndoCommit(immich::ImmichApi& api, const CommitResult& result) {
  const std::string& album_id = result.album_id;
  const std::string& asset_id = result.asset_id;
  // In the album before this commit (e.g. the same bytes under another
  // name): the commit changed nothing there, so the undo changes nothing.
  if (!result.added_to_album) return absl::OkStatus();
  // An asset that existed (outside the trash) before this commit is someone
  // else's too: it only leaves the album.
  if (!result.uploaded && !result.restored) return RemoveFromAlbum(api, album_id, asset_id);
  absl::StatusOr<std::vector<immich::Album>> albums = api.ListAlbumsForAsset(asset_id);
  if (!albums.ok()) return albums.status();
  bool elsewhere = false;
  for (const immich::Album& a : *albums) elsewhere |= a.id != album_id;
  if (elsewhere) return RemoveFromAlbum(api, album_id, asset_id);
  absl::Status st = api.DeleteAssets({asset_id}, /*force=*/false);
  return st.code() == absl::StatusCode::kNotFound ? absl::OkStatus() : st;
}

}  // namespace immichfs::cache
