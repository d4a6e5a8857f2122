// The spool's owner (cache::SpoolOwner): a committed pending file becomes
// its asset, a refused one leaves the album, and the precheck that holds
// temporary names.
//
// Hand-over (OnCommitted), on a spool worker while the pending file is still
// listed (spool.h), so the listing never has a gap:
//  1. the asset's attributes: an asset the commit uploaded has what the
//     upload sent (no call); an existing one (a duplicate) is read back
//     (GET /api/assets/{id}); if that fails, they are made from the pending
//     file (the next listing revalidation corrects them);
//  2. the catalog puts it into the album under the pending file's name
//     (sticky: a duplicate keeps the name the user wrote, not Immich's
//     originalFileName, for as long as it stays in the album; if the asset
//     already was in the album, it keeps the name it had there and the
//     pending name goes away);
//  3. an overwrite: the new asset takes the old one's place (and name) in
//     every album the catalog knows to hold it, as PUT /api/assets/copy did;
//  4. the pending file's inode is rebound to the asset: same inode, name,
//     size. If the asset already had an inode of its own (its content was
//     in the mount before), the listing shows that one and the kernel is
//     told to look the name up again;
//  5. the kernel is told that the inode's attributes (ctime, and a
//     duplicate's mtime) changed; its page cache stays (same bytes).
// Notifications go out after ns_mu_ is released (filesystem.h).
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/status.h"
#include "fs/filesystem.h"
#include "fs/name_codec.h"

namespace immichfs::fs {

std::string Filesystem::UploadName(const std::string& name) { return DecodeName(name); }

absl::Status Filesystem::SpoolPrecheck(const std::string& name, uint64_t size) {
  return names_.Precheck(name, size);
}

void Filesystem::AwaitHandover(Ino ino, cache::PendingId id) {
  const std::string key = absl::StrCat(id);
  const absl::Time deadline = absl::Now() + options_.handover_wait;
  for (;;) {
    std::optional<NodeRef> ref = inodes_.Resolve(ino);
    if (!ref || ref->kind != NodeKind::kPending || ref->id != key) return;
    if (spool_ == nullptr || !spool_->Get(id).has_value()) return;
    // OnCommitted/OnFailed signal once they have rebound the inode; the
    // deadline only guards against a lost callback.
    if (handover_cv_.WaitWithDeadline(&ns_mu_, deadline)) {
      LOG(kWarning, "pending file %d: no hand-over after %s", id,
          absl::FormatDuration(options_.handover_wait));
      return;
    }
  }
}

void Filesystem::Emit(const std::vector<Notice>& notices) {
  if (notifier_ == nullptr) return;
  for (const Notice& n : notices) {
    if (n.name.empty()) {
      notifier_->InvalAttr(n.ino);
    } else {
      notifier_->InvalEntry(n.ino, n.name);
    }
  }
}

// The asset's attributes for the catalog: what the upload sent, for an
// asset this commit created (Immich keeps exactly that: the filename, the
// mtime as fileModifiedAt at millisecond precision, the size and SHA-1);
// else read back, since an existing asset keeps its own.
AssetRec Filesystem::CommittedAsset(const cache::CommitResult& r) {
  AssetRec rec;
  rec.id = r.asset_id;
  rec.name = r.upload_name;
  rec.size = static_cast<int64_t>(r.size);
  rec.mtime = absl::FromUnixMillis(absl::ToUnixMillis(r.mtime));
  rec.ctime = rec.uploaded = absl::Now();
  if (std::optional<Sha1Digest> digest = ParseSha1(r.sha1_hex)) rec.checksum = ToBase64(*digest);
  if (r.uploaded) return rec;
  absl::StatusOr<immich::Asset> asset = api_->GetAsset(r.asset_id);
  if (asset.ok() && asset->size >= 0) return Catalog::ToRec(*asset);
  LOG(kWarning, "asset %s ('%s') was committed but could not be read back (%s); showing "
      "what was written until the album is listed again", r.asset_id, r.name,
      asset.ok() ? "no size yet" : asset.status().ToString());
  catalog_.Invalidate(r.album_id);
  return rec;
}

void Filesystem::OnCommitted(const cache::CommitResult& r) {
  AssetRec rec = CommittedAsset(r);
  std::vector<Notice> notices;
  {
    absl::MutexLock lock(&ns_mu_);
    const std::string key = absl::StrCat(r.id);
    std::optional<Ino> ino = inodes_.Find(NodeKind::kPending, key);
    std::optional<Ino> album_ino = inodes_.Find(NodeKind::kAlbum, r.album_id);
    const std::string& old_id = r.replaced_asset_id;
    if (!old_id.empty() && old_id != r.asset_id) {
      for (const std::string& album : catalog_.AlbumsHolding(old_id)) {
        std::optional<std::string> shown = catalog_.ShownNameOf(album, old_id);
        catalog_.DropAssetFromAlbum(album, old_id);
        if (album == r.album_id) continue;
        catalog_.PutAssetInAlbum(album, rec, shown.value_or(""));
        if (std::optional<Ino> other = inodes_.Find(NodeKind::kAlbum, album); other && shown) {
          notices.push_back(Notice{*other, *shown});
        }
      }
    }
    catalog_.PutAssetInAlbum(r.album_id, rec, r.name);
    std::optional<std::string> shown = catalog_.ShownNameOf(r.album_id, r.asset_id);
    if (ino) {
      inodes_.Rebind(*ino, NodeKind::kAsset, r.asset_id);
      notices.push_back(Notice{*ino, ""});
      Ino listed = inodes_.Get(NodeKind::kAsset, r.asset_id);
      if ((listed != *ino || shown != r.name) && album_ino) {
        notices.push_back(Notice{*album_ino, r.name});
      }
    }
    rebound_.erase(r.id);
    handover_cv_.SignalAll();
    if (shown != r.name) {
      LOG(kInfo, "'%s' in album %s is asset %s, which the album already shows as '%s'", r.name,
          r.album_id, r.asset_id, shown.value_or("?"));
    }
  }
  Emit(notices);
}

void Filesystem::OnFailed(cache::PendingId id, const cache::FailedFile& failed) {
  std::vector<Notice> notices;
  {
    absl::MutexLock lock(&ns_mu_);
    std::optional<Ino> ino = inodes_.Find(NodeKind::kPending, absl::StrCat(id));
    std::optional<Ino> album_ino = inodes_.Find(NodeKind::kAlbum, failed.album_id);
    if (auto it = rebound_.find(id); it != rebound_.end()) {
      // The overwrite failed: the inode is the old asset's again.
      if (ino) {
        inodes_.Rebind(*ino, NodeKind::kAsset, it->second);
        notices.push_back(Notice{*ino, ""});
      }
      rebound_.erase(it);
    } else if (album_ino) {
      notices.push_back(Notice{*album_ino, failed.name});
    }
    handover_cv_.SignalAll();
  }
  LOG(kError, "'%s' left album %s without reaching Immich: %s; the file is kept in %s "
      "(see /.immich/failed/)", failed.name, failed.album_id, failed.reason, failed.path);
  Emit(notices);
}

void Filesystem::OnIncomplete(const cache::PendingFile& file) {
  std::optional<AlbumView> album = catalog_.AlbumById(file.album_id);
  const int err = ToErrno(file.write_error);
  LOG(kError, "'%s' in '%s': a write failed (%s); kept pending and not uploaded; write it "
      "again (from the start) or delete it [%s]", file.name,
      album ? album->shown : file.album_id, std::strerror(err), file.write_error.message());
}

}  // namespace immichfs::fs
