// Namespace changes: mkdir, rmdir, unlink, rename, link, symlink, mapped to
// Immich's model (DESIGN.md "Deleting and moving"):
//
//  mkdir /A          POST /api/albums; elsewhere EPERM; names starting with
//                    '.' EPERM (reserved for immichfs's views, and keeps
//                    desktop trash dirs like .Trash-1000 out of Immich);
//                    Immich unreachable: EIO (no pending albums yet).
//                    The name is decoded (name_codec.h); a spelling that
//                    is not canonical: EINVAL (CheckNewName).
//  rmdir /A          DELETE /api/albums/{id} if it lists nothing and Immich
//                    counts no asset in it, else ENOTEMPTY.
//  unlink /A/x       pending: dropped, never uploaded. Uploaded: removed
//                    from A if another album holds it, else moved to the
//                    Immich trash (it keeps its album links, as Immich does).
//  mv /A /B          PATCH /api/albums/{id} (an empty /B is replaced).
//  mv /A/x /B/x      pending: moves in the spool. Uploaded: added to B,
//                    removed from A, no data sent; the name may not change
//                    (EPERM), and a file at /B/x is unlinked first.
//  mv /A/x /A/y      pending: renamed (rsync's temp file, WinSCP's
//                    .filepart). Uploaded: EPERM, logged (Immich cannot
//                    rename an asset).
//  mv onto a file    the file renamed onto it replaces it: a pending file
//                    commits as an overwrite of the asset there.
//  ln /A/x /B/x      uploaded: added to B (same name only, else EPERM);
//                    pending: EPERM until it is uploaded.
//  symlink, mknod of non-files: EPERM. Anything under /.immich: EROFS.
//
// Changes that need Immich fail with its error (unreachable: EIO) and
// change nothing locally; what succeeded is put into the catalog at once so
// a listing right after is right without a refetch.
#include <cerrno>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/iso_time.h"
#include "common/log.h"
#include "common/status.h"
#include "fs/filesystem.h"
#include "fs/name_codec.h"

namespace immichfs::fs {
namespace {

absl::Status CheckAlbumResult(const std::vector<immich::BulkIdResult>& results,
                              const std::string& asset_id, bool removing,
                              const std::string& album_id) {
  for (const immich::BulkIdResult& r : results) {
    if (r.id != asset_id || r.success) continue;
    // Adding: "duplicate" = already there. Removing: "not_found" = not there.
    if (!removing && r.error == "duplicate") continue;
    if (removing && r.error == "not_found") continue;
    std::string what = absl::StrCat("Immich refused to ", removing ? "remove" : "add",
                                    " asset ", asset_id, removing ? " from" : " to", " album ",
                                    album_id, ": ", r.error);
    return ErrnoError(r.error == "no_permission" ? EACCES : EIO, what);
  }
  return absl::OkStatus();
}

absl::Status Reserved(const std::string& name, const char* op) {
  LOG(kWarning, "%s of '%s' at the root refused (EPERM): names starting with '.' are "
      "reserved for immichfs's own folders", op, name);
  return ErrnoError(EPERM, absl::StrCat("'", name, "': dot names are reserved at the root"));
}

}  // namespace

absl::StatusOr<Entry> Filesystem::MkDir(Ino parent, const std::string& name) {
  std::optional<NodeRef> ref = inodes_.Resolve(parent);
  if (!ref) return ErrnoError(ESTALE, absl::StrCat("inode ", parent, " is unknown"));
  if (IsControl(ref->kind)) return ErrnoError(EROFS, "/.immich is read-only");
  if (absl::Status st = CheckWritable("mkdir"); !st.ok()) return st;
  if (ref->kind != NodeKind::kRoot) {
    LOG(kWarning, "mkdir of '%s' inside an album refused (EPERM): albums do not nest", name);
    return ErrnoError(EPERM, absl::StrCat("'", name, "': albums do not nest"));
  }
  if (name.size() > kNameMax) return ErrnoError(ENAMETOOLONG, "mkdir of a too long name");
  if (name[0] == '.') return Reserved(name, "mkdir");
  if (absl::Status st = CheckNewName(name, "album"); !st.ok()) {
    LOG(kWarning, "mkdir: %s", st.message());
    return st;
  }
  (void)catalog_.RefreshRoot();
  absl::MutexLock lock(&ns_mu_);
  if (catalog_.AlbumByShown(name)) return ErrnoError(EEXIST, absl::StrCat("'", name, "' exists"));
  absl::StatusOr<immich::Album> album = api_->CreateAlbum(DecodeName(name));
  if (!album.ok()) {
    LOG(kWarning, "mkdir '%s': Immich did not create the album: %s", name,
        album.status().ToString());
    return album.status();
  }
  catalog_.PutAlbum(*album);
  LOG(kInfo, "created album '%s' (%s)", name, album->id);
  Ino ino = inodes_.Get(NodeKind::kAlbum, album->id);
  inodes_.AddLookup(ino);
  return DirEntry(ino, immichfs::ToTimespec(album->updated_at));
}

absl::Status Filesystem::RmDir(Ino parent, const std::string& name) {
  std::optional<NodeRef> ref = inodes_.Resolve(parent);
  if (!ref) return ErrnoError(ESTALE, absl::StrCat("inode ", parent, " is unknown"));
  if (IsControl(ref->kind) || (ref->kind == NodeKind::kRoot && name == ".immich")) {
    return ErrnoError(EROFS, "/.immich is read-only");
  }
  if (ref->kind != NodeKind::kRoot) return ErrnoError(ENOTDIR, "rmdir of a file");
  if (absl::Status st = CheckWritable("rmdir"); !st.ok()) return st;
  (void)catalog_.RefreshRoot();
  std::optional<AlbumView> album = catalog_.AlbumByShown(name);
  if (!album) return absl::NotFoundError(absl::StrCat("no album named '", name, "'"));
  if (absl::Status st = RefreshForAccess(album->id); !st.ok()) return st;
  absl::MutexLock lock(&ns_mu_);
  if (!Items(album->id).empty()) {
    return ErrnoError(ENOTEMPTY, absl::StrCat("album '", name, "' is not empty"));
  }
  // Judge by the server too: the listing may be older than the TTL.
  absl::StatusOr<immich::Album> fresh = api_->GetAlbum(album->id);
  if (!fresh.ok()) return fresh.status();
  if (fresh->asset_count > 0) {
    catalog_.Invalidate(album->id);
    return ErrnoError(ENOTEMPTY, absl::StrCat("album '", name, "' holds ", fresh->asset_count,
                                              " asset(s) in Immich"));
  }
  if (absl::Status st = api_->DeleteAlbum(album->id); !st.ok()) return st;
  catalog_.DropAlbum(album->id);
  LOG(kInfo, "deleted album '%s' (%s)", name, album->id);
  return absl::OkStatus();
}

absl::Status Filesystem::Unlink(Ino parent, const std::string& name) {
  std::optional<NodeRef> ref = inodes_.Resolve(parent);
  if (!ref) return ErrnoError(ESTALE, absl::StrCat("inode ", parent, " is unknown"));
  if (IsControl(ref->kind)) return ErrnoError(EROFS, "/.immich is read-only");
  if (ref->kind == NodeKind::kRoot) {
    if (name == ".immich" || catalog_.AlbumByShown(name)) {
      return ErrnoError(EISDIR, absl::StrCat("'", name, "' is a directory"));
    }
    return absl::NotFoundError(absl::StrCat("no '", name, "' at the root"));
  }
  if (ref->kind != NodeKind::kAlbum) return ErrnoError(ENOTDIR, "unlink in a file");
  if (absl::Status st = CheckWritable("unlink"); !st.ok()) return st;
  if (absl::Status st = RefreshForAccess(ref->id); !st.ok()) return st;
  absl::MutexLock lock(&ns_mu_);
  return UnlinkLocked(ref->id, name);
}

absl::Status Filesystem::UnlinkLocked(const std::string& album_id, const std::string& name) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    Item item = Find(album_id, name);
    if (item.kind == Item::Kind::kAsset) return UnlinkAsset(album_id, item.asset_id);
    if (item.kind == Item::Kind::kNone) break;
    const cache::PendingFile& f = item.pending;
    absl::Status st = spool_->Unlink(f.id);
    if (absl::IsNotFound(st)) {  // committed meanwhile: unlink the asset
      AwaitHandover(PendingIno(f.id), f.id);
      continue;
    }
    if (!st.ok()) return st;
    LOG(kInfo, "dropped pending '%s' in album %s: it will not be uploaded", name, album_id);
    // It overwrote an asset: the name stood for that asset too.
    if (!f.replaces_asset_id.empty() && f.replaces_asset_id != f.committed_asset_id) {
      if (auto it = rebound_.find(f.id); it != rebound_.end()) {
        inodes_.Rebind(PendingIno(f.id), NodeKind::kAsset, it->second);
        rebound_.erase(it);
      }
      return UnlinkAsset(album_id, f.replaces_asset_id);
    }
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("no '", name, "' in album ", album_id));
}

absl::Status Filesystem::UnlinkAsset(const std::string& album_id, const std::string& asset_id) {
  absl::StatusOr<std::vector<immich::Album>> albums = api_->ListAlbumsForAsset(asset_id);
  if (!albums.ok()) return albums.status();
  bool elsewhere = false;
  for (const immich::Album& a : *albums) elsewhere |= a.id != album_id;
  if (elsewhere) {
    absl::StatusOr<std::vector<immich::BulkIdResult>> r =
        api_->RemoveFromAlbum(album_id, {asset_id});
    if (!r.ok()) return r.status();
    if (absl::Status st = CheckAlbumResult(*r, asset_id, true, album_id); !st.ok()) return st;
    LOG(kInfo, "removed asset %s from album %s (other albums still hold it)", asset_id, album_id);
  } else {
    absl::Status st = api_->DeleteAssets({asset_id}, /*force=*/false);
    if (!st.ok() && !absl::IsNotFound(st)) return st;
    LOG(kInfo, "moved asset %s to the Immich trash (album %s was the only one holding it)",
        asset_id, album_id);
  }
  catalog_.DropAssetFromAlbum(album_id, asset_id);
  return absl::OkStatus();
}

absl::Status Filesystem::ReleaseReplaced(const cache::PendingFile& f) {
  if (f.replaces_asset_id.empty() || f.replaces_asset_id == f.committed_asset_id) {
    return absl::OkStatus();
  }
  if (auto it = rebound_.find(f.id); it != rebound_.end()) {
    // The file keeps the inode; the asset (in other albums) gets a new one.
    inodes_.Detach(NodeKind::kAsset, it->second);
    rebound_.erase(it);
  }
  return UnlinkAsset(f.album_id, f.replaces_asset_id);
}

absl::Status Filesystem::Rename(Ino parent, const std::string& name, Ino new_parent,
                                const std::string& new_name, unsigned flags) {
  if (flags & RENAME_EXCHANGE) return ErrnoError(EINVAL, "RENAME_EXCHANGE is not supported");
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE)) {
    return ErrnoError(EINVAL, absl::StrCat("rename flags ", flags, " are not supported"));
  }
  std::optional<NodeRef> src = inodes_.Resolve(parent);
  std::optional<NodeRef> dst = inodes_.Resolve(new_parent);
  if (!src || !dst) return ErrnoError(ESTALE, "rename between unknown inodes");
  if (IsControl(src->kind) || IsControl(dst->kind) ||
      (src->kind == NodeKind::kRoot && name == ".immich")) {
    return ErrnoError(EROFS, "/.immich is read-only");
  }
  if (absl::Status st = CheckWritable("rename"); !st.ok()) return st;
  if (new_name.size() > kNameMax) return ErrnoError(ENAMETOOLONG, "rename to a too long name");
  if (src->kind == NodeKind::kRoot && dst->kind == NodeKind::kRoot) {
    (void)catalog_.RefreshRoot();
    absl::MutexLock lock(&ns_mu_);
    return RenameAlbum(name, new_name, flags);
  }
  if (src->kind != NodeKind::kAlbum || dst->kind != NodeKind::kAlbum) {
    LOG(kWarning, "rename of '%s' to '%s' refused (EPERM): albums live at the root and files "
        "in albums", name, new_name);
    return ErrnoError(EPERM, "albums live at the root and files in albums");
  }
  if (absl::Status st = RefreshForAccess(src->id); !st.ok()) return st;
  if (absl::Status st = RefreshForAccess(dst->id); !st.ok()) return st;
  absl::MutexLock lock(&ns_mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    Item source = Find(src->id, name);
    if (source.kind == Item::Kind::kNone) {
      return absl::NotFoundError(absl::StrCat("no '", name, "' in album ", src->id));
    }
    if (src->id == dst->id && name == new_name) return absl::OkStatus();
    Item target = Find(dst->id, new_name);
    if (target.kind != Item::Kind::kNone && (flags & RENAME_NOREPLACE)) {
      return ErrnoError(EEXIST, absl::StrCat("'", new_name, "' exists"));
    }
    if (source.kind == Item::Kind::kAsset) {
      return MoveAsset(source.asset_id, name, src->id, dst->id, new_name, target);
    }
    absl::Status st = RenamePending(source.pending, src->id, dst->id, new_name, target);
    if (!absl::IsNotFound(st) || attempt > 0) return st;
    AwaitHandover(PendingIno(source.pending.id), source.pending.id);
  }
  return absl::NotFoundError(absl::StrCat("'", name, "' vanished during rename"));
}

absl::Status Filesystem::RenameAlbum(const std::string& name, const std::string& new_name,
                                     unsigned flags) {
  std::optional<AlbumView> album = catalog_.AlbumByShown(name);
  if (!album) return absl::NotFoundError(absl::StrCat("no album named '", name, "'"));
  if (name == new_name) return absl::OkStatus();
  if (new_name[0] == '.') return Reserved(new_name, "rename");
  if (absl::Status st = CheckNewName(new_name, "album"); !st.ok()) {
    LOG(kWarning, "rename of album '%s': %s", name, st.message());
    return st;
  }
  if (std::optional<AlbumView> target = catalog_.AlbumByShown(new_name)) {
    if (flags & RENAME_NOREPLACE) return ErrnoError(EEXIST, absl::StrCat("'", new_name, "' exists"));
    // POSIX: a directory may replace an empty one.
    if (absl::Status st = RefreshForAccess(target->id); !st.ok()) return st;
    absl::StatusOr<immich::Album> fresh = api_->GetAlbum(target->id);
    if (!fresh.ok()) return fresh.status();
    if (!Items(target->id).empty() || fresh->asset_count > 0) {
      return ErrnoError(ENOTEMPTY, absl::StrCat("album '", new_name, "' is not empty"));
    }
    if (absl::Status st = api_->DeleteAlbum(target->id); !st.ok()) return st;
    catalog_.DropAlbum(target->id);
    LOG(kInfo, "deleted empty album '%s' (%s), replaced by '%s'", new_name, target->id, name);
  }
  absl::StatusOr<immich::Album> renamed = api_->RenameAlbum(album->id, DecodeName(new_name));
  if (!renamed.ok()) return renamed.status();
  catalog_.PutAlbum(*renamed);
  LOG(kInfo, "renamed album '%s' to '%s' (%s)", name, new_name, album->id);
  return absl::OkStatus();
}

absl::Status Filesystem::RenamePending(const cache::PendingFile& f, const std::string& album_id,
                                       const std::string& new_album_id,
                                       const std::string& new_name, const Item& target) {
  if (absl::Status st = names_.CheckName(new_name); !st.ok()) {
    LOG(kWarning, "rename of '%s' refused: %s", f.name, st.message());
    return st;
  }
  std::optional<std::string> replaces;  // nullopt: keep what the file replaces
  if (target.kind == Item::Kind::kPending && target.pending.id == f.id) return absl::OkStatus();
  // Leaving its name: an asset it overwrote there is unlinked (its own
  // earlier commit, after an fsync, moves along with it in the spool).
  if (!f.replaces_asset_id.empty() && f.replaces_asset_id != f.committed_asset_id) {
    if (absl::Status st = ReleaseReplaced(f); !st.ok()) return st;
    replaces = "";
  }
  // What a replaced pending file overwrote, this one overwrites now.
  const bool takes_over = target.kind == Item::Kind::kPending &&
                          !target.pending.replaces_asset_id.empty() &&
                          target.pending.replaces_asset_id != target.pending.committed_asset_id;
  if (takes_over) {
    replaces = target.pending.replaces_asset_id;
  } else if (target.kind == Item::Kind::kAsset) {
    replaces = target.asset_id;
  }
  // The rename can fail (the file committed meanwhile, a journal write):
  // only once it held does a pending target, whose bytes exist only in the
  // spool, go.
  if (absl::Status st = spool_->Rename(f.id, new_album_id, new_name, replaces); !st.ok()) {
    return st;
  }
  if (target.kind == Item::Kind::kPending) {
    const cache::PendingFile& q = target.pending;
    if (absl::Status st = spool_->Unlink(q.id); !st.ok()) {
      LOG(kWarning, "rename of '%s' onto pending '%s': the replaced file could not be dropped: "
          "%s", f.name, q.name, st.ToString());
      return st;
    }
    if (takes_over) {
      if (auto it = rebound_.find(q.id); it != rebound_.end()) {
        inodes_.Rebind(PendingIno(q.id), NodeKind::kAsset, it->second);
        rebound_.erase(it);
      }
    }
  }
  LOG(kDebug, "renamed pending '%s' (album %s) to '%s' (album %s)%s", f.name, album_id, new_name,
      new_album_id,
      target.kind == Item::Kind::kAsset ? absl::StrCat(", replacing asset ", target.asset_id)
                                        : std::string());
  return absl::OkStatus();
}

bool Filesystem::IsNameOf(const std::string& asset_id, const std::string& name) const {
  if (std::optional<AssetRec> rec = catalog_.Asset(asset_id); rec && EncodeName(rec->name) == name) {
    return true;
  }
  for (const std::string& album : catalog_.AlbumsHolding(asset_id)) {
    if (catalog_.ShownNameOf(album, asset_id) == name) return true;
  }
  return false;
}

absl::Status Filesystem::MoveAsset(const std::string& asset_id, const std::string& name,
                                   const std::string& album_id, const std::string& new_album_id,
                                   const std::string& new_name, const Item& target) {
  if (album_id == new_album_id) {
    LOG(kWarning, "rename of uploaded '%s' to '%s' refused (EPERM): Immich cannot rename an "
        "asset (its name is fixed at upload); copy it to the new name and delete the old one",
        name, new_name);
    return ErrnoError(EPERM, absl::StrCat("asset ", asset_id, " cannot be renamed"));
  }
  if (name != new_name && !IsNameOf(asset_id, new_name)) {
    LOG(kWarning, "move of uploaded '%s' to another album as '%s' refused (EPERM): Immich "
        "cannot rename an asset; move it under its own name", name, new_name);
    return ErrnoError(EPERM, absl::StrCat("asset ", asset_id, " cannot be renamed"));
  }
  const bool already_there = target.kind == Item::Kind::kAsset && target.asset_id == asset_id;
  if (!already_there) {
    // The step that can fail comes first: the target (perhaps a pending file
    // whose bytes exist only in the spool) goes only once the move holds.
    absl::StatusOr<std::vector<immich::BulkIdResult>> added =
        api_->AddToAlbum(new_album_id, {asset_id});
    if (!added.ok()) return added.status();
    if (absl::Status st = CheckAlbumResult(*added, asset_id, false, new_album_id); !st.ok()) {
      return st;
    }
    if (target.kind != Item::Kind::kNone) {
      if (absl::Status st = UnlinkLocked(new_album_id, new_name); !st.ok()) return st;
    }
  }
  absl::StatusOr<std::vector<immich::BulkIdResult>> removed =
      api_->RemoveFromAlbum(album_id, {asset_id});
  if (!removed.ok()) return removed.status();
  if (absl::Status st = CheckAlbumResult(*removed, asset_id, true, album_id); !st.ok()) return st;
  if (std::optional<AssetRec> rec = catalog_.Asset(asset_id)) {
    catalog_.PutAssetInAlbum(new_album_id, *rec, new_name);
  }
  catalog_.DropAssetFromAlbum(album_id, asset_id);
  LOG(kInfo, "moved asset %s ('%s') from album %s to album %s (no data sent)", asset_id, name,
      album_id, new_album_id);
  return absl::OkStatus();
}

absl::StatusOr<Entry> Filesystem::Link(Ino ino, Ino new_parent, const std::string& new_name) {
  std::optional<NodeRef> ref = inodes_.Resolve(ino);
  std::optional<NodeRef> dst = inodes_.Resolve(new_parent);
  if (!ref || !dst) return ErrnoError(ESTALE, "link between unknown inodes");
  if (IsControl(ref->kind) || IsControl(dst->kind)) return ErrnoError(EROFS, "/.immich is read-only");
  if (absl::Status st = CheckWritable("link"); !st.ok()) return st;
  if (dst->kind != NodeKind::kAlbum) return ErrnoError(EPERM, "links go into albums");
  if (ref->kind == NodeKind::kPending) {
    // An album link is of an asset: commit the file now (what fsync does),
    // then link the asset it became.
    if (absl::Status st = CommitForLink(ino, *ref, new_name); !st.ok()) return st;
    ref = inodes_.Resolve(ino);
    if (!ref) return ErrnoError(ESTALE, "link of an unknown inode");
  }
  if (ref->kind != NodeKind::kAsset) return ErrnoError(EPERM, "only files can be linked");
  if (new_name.size() > kNameMax) return ErrnoError(ENAMETOOLONG, "link to a too long name");
  const std::string asset_id = ref->id;
  if (absl::Status st = RefreshForAccess(dst->id); !st.ok()) return st;
  absl::MutexLock lock(&ns_mu_);
  if (Find(dst->id, new_name).kind != Item::Kind::kNone) {
    return ErrnoError(EEXIST, absl::StrCat("'", new_name, "' exists"));
  }
  if (std::optional<std::string> shown = catalog_.ShownNameOf(dst->id, asset_id)) {
    return ErrnoError(EEXIST, absl::StrCat("asset ", asset_id, " is already in the album as '",
                                           *shown, "'"));
  }
  if (!IsNameOf(asset_id, new_name)) {
    LOG(kWarning, "ln of asset %s as '%s' refused (EPERM): Immich cannot rename an asset; link "
        "it under its own name", asset_id, new_name);
    return ErrnoError(EPERM, absl::StrCat("asset ", asset_id, " cannot take another name"));
  }
  std::optional<AssetRec> rec = catalog_.Asset(asset_id);
  if (!rec) return absl::NotFoundError(absl::StrCat("asset ", asset_id, " is gone"));
  absl::StatusOr<std::vector<immich::BulkIdResult>> added = api_->AddToAlbum(dst->id, {asset_id});
  if (!added.ok()) return added.status();
  if (absl::Status st = CheckAlbumResult(*added, asset_id, false, dst->id); !st.ok()) return st;
  catalog_.PutAssetInAlbum(dst->id, *rec, new_name);
  inodes_.AddLookup(ino);
  LOG(kInfo, "linked asset %s ('%s') into album %s", asset_id, new_name, dst->id);
  return AssetEntry(ino, *rec);
}

absl::Status Filesystem::CommitForLink(Ino ino, const NodeRef& ref, const std::string& new_name) {
  cache::PendingId id = 0;
  std::optional<cache::PendingFile> f;
  if (absl::SimpleAtoi(ref.id, &id)) f = spool_->Get(id);
  if (!f) return ErrnoError(ENOENT, "link of a pending file that is gone");
  if (IsTempName(f->name)) {
    LOG(kWarning, "ln of '%s' as '%s' refused (EPERM): it still has a temporary name and is "
        "not uploaded until it is renamed", f->name, new_name);
    return ErrnoError(EPERM, absl::StrCat("'", f->name, "' has a temporary name"));
  }
  if (absl::Status st = spool_->Fsync(id); !st.ok()) {
    LOG(kWarning, "ln of '%s': it could not be committed first: %s", f->name, st.ToString());
    return st;
  }
  absl::MutexLock lock(&ns_mu_);
  AwaitHandover(ino, id);
  std::optional<NodeRef> now = inodes_.Resolve(ino);
  if (!now || now->kind != NodeKind::kAsset) {
    // Committed, but still open for writing elsewhere: it stays a pending
    // file (its next version follows), which Immich cannot hold in two albums.
    LOG(kWarning, "ln of '%s' refused (EPERM): it is still open for writing; link it after "
        "it is closed", f->name);
    return ErrnoError(EPERM, absl::StrCat("'", f->name, "' is still open for writing"));
  }
  return absl::OkStatus();
}

absl::Status Filesystem::Symlink(Ino parent, const std::string& name) {
  std::optional<NodeRef> ref = inodes_.Resolve(parent);
  if (ref && IsControl(ref->kind)) return ErrnoError(EROFS, "/.immich is read-only");
  LOG(kWarning, "symlink '%s' refused (EPERM): Immich has no symbolic links", name);
  return ErrnoError(EPERM, absl::StrCat("'", name, "': Immich has no symbolic links"));
}

}  // namespace immichfs::fs
