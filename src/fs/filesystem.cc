// Reading the namespace: lookups, attributes and listings of albums,
// assets and pending files (merged: a pending file shows under its name and
// hides the asset it replaces), and the file handle table. File data is in
// filesystem_io.cc, namespace changes in filesystem_ns.cc.
#include "fs/filesystem.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/iso_time.h"
#include "common/log.h"
#include "common/status.h"
#include "fs/memory.h"
#include "fs/name_codec.h"

namespace immichfs::fs {
namespace {

timespec Now() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// Snapshots at least this big free enough to give back (memory.h).
constexpr size_t kTrimAfter = 2000;

}  // namespace

Filesystem::Filesystem(immich::ImmichApi* api, cache::ReadPath* reads, FsOptions options)
    : api_(api),
      reads_(reads),
      options_(options),
      mount_time_(Now()),
      catalog_(api, options.dir_cache_ttl, options.clock),
      names_(api, options.media_types_retry, options.clock) {}

Filesystem::~Filesystem() = default;

absl::Status Filesystem::Prime() {
  absl::Status fresh = catalog_.RefreshRoot(/*force=*/true);
  if (!fresh.ok() && options_.offline_start) {
    absl::StatusOr<size_t> known = catalog_.LoadStoredAlbums();
    if (known.ok()) {
      LOG(kWarning, "showing the %d albums saved by an earlier mount until Immich answers; "
          "files copied into them wait in the spool", *known);
    } else {
      LOG(kWarning, "no saved album list (%s): the root stays empty until Immich answers",
          known.status().message());
    }
  }
  return fresh;
}

void Filesystem::SetServerVersion(std::string version) {
  absl::MutexLock lock(&info_mu_);
  server_version_ = std::move(version);
}

absl::Status Filesystem::ReadOnly(const char* op) const {
  return ErrnoError(EROFS, absl::StrCat(op, ": this filesystem has no write-back spool"));
}

absl::Status Filesystem::CheckWritable(const char* op) const {
  return spool_ == nullptr ? ReadOnly(op) : absl::OkStatus();
}

Entry Filesystem::BaseEntry(Ino ino, mode_t type, mode_t perms) const {
  Entry e;
  e.attr.ino = ino;
  e.attr.mode = type | (perms & ~options_.umask);
  e.attr.nlink = type == S_IFDIR ? 2 : 1;
  e.attr.uid = options_.uid;
  e.attr.gid = options_.gid;
  e.attr_timeout = Seconds(options_.attr_timeout);
  e.entry_timeout = Seconds(options_.dir_cache_ttl);  // names change no faster than listings
  return e;
}

Entry Filesystem::DirEntry(Ino ino, const timespec& mtime) const {
  Entry e = BaseEntry(ino, S_IFDIR, 0777);
  e.attr.atime = e.attr.mtime = e.attr.ctime = mtime;
  e.attr.size = 4096;
  return e;
}

Entry Filesystem::AssetEntry(Ino ino, const AssetRec& asset) const {
  return AssetEntry(ino, AssetAttrs{asset.size, asset.mtime, asset.ctime});
}

Entry Filesystem::AssetEntry(Ino ino, const AssetAttrs& asset) const {
  Entry e = BaseEntry(ino, S_IFREG, 0666);
  e.attr.size = static_cast<uint64_t>(asset.size);
  e.attr.mtime = immichfs::ToTimespec(asset.mtime);
  e.attr.atime = e.attr.mtime;
  e.attr.ctime = immichfs::ToTimespec(asset.ctime);
  return e;
}

Entry Filesystem::PendingEntry(Ino ino, const cache::PendingFile& file) const {
  Entry e = BaseEntry(ino, S_IFREG, 0666);
  e.attr.size = file.size;
  // Immich keeps milliseconds: show what the asset will show.
  e.attr.mtime = immichfs::ToTimespec(absl::FromUnixMillis(absl::ToUnixMillis(file.mtime)));
  e.attr.atime = e.attr.ctime = e.attr.mtime;
  return e;
}

Ino Filesystem::PendingIno(cache::PendingId id) {
  return inodes_.Get(NodeKind::kPending, absl::StrCat(id));
}

Entry Filesystem::ListedAssetEntry(const PackedId& asset_id, const AssetAttrs& attrs) {
  Ino ino = inodes_.Get(NodeKind::kAsset, asset_id);
  std::optional<NodeKey> key = inodes_.ResolveKey(ino);
  if (key && key->kind == NodeKind::kPending && spool_ != nullptr) {
    uint64_t id = 0;
    if (absl::SimpleAtoi(key->id.ToString(), &id)) {
      if (std::optional<cache::PendingFile> f = spool_->Get(id)) return PendingEntry(ino, *f);
    }
  }
  return AssetEntry(ino, attrs);
}

Entry Filesystem::RootEntry() const {
  Entry e = DirEntry(kRootIno, mount_time_);
  // "." and ".." plus one ".." in each album, as on a local disk (find's
  // leaf optimisation counts subdirectories this way).
  e.attr.nlink = 2 + catalog_.AlbumCount();
  return e;
}

absl::StatusOr<std::string> Filesystem::AlbumIdOf(Ino ino) const {
  std::optional<NodeRef> ref = inodes_.Resolve(ino);
  if (!ref) return ErrnoError(ESTALE, absl::StrCat("inode ", ino, " is unknown"));
  if (ref->kind != NodeKind::kAlbum) {
    return ErrnoError(ENOTDIR, absl::StrCat("inode ", ino, " is not an album"));
  }
  return ref->id;
}

absl::StatusOr<Entry> Filesystem::EntryFor(Ino ino) {
  std::optional<NodeRef> ref = inodes_.Resolve(ino);
  if (!ref) return ErrnoError(ESTALE, absl::StrCat("inode ", ino, " is unknown"));
  switch (ref->kind) {
    case NodeKind::kRoot:
      return RootEntry();
    case NodeKind::kAlbum: {
      std::optional<AlbumView> album = catalog_.AlbumById(ref->id);
      if (!album) return absl::NotFoundError(absl::StrCat("album ", ref->id, " is gone"));
      return DirEntry(ino, immichfs::ToTimespec(album->updated));
    }
    case NodeKind::kAsset: {
      std::optional<AssetRec> asset = catalog_.Asset(ref->id);
      if (!asset) return absl::NotFoundError(absl::StrCat("asset ", ref->id, " is gone"));
      return AssetEntry(ino, *asset);
    }
    case NodeKind::kPending: {
      uint64_t id = 0;
      std::optional<cache::PendingFile> f;
      if (spool_ != nullptr && absl::SimpleAtoi(ref->id, &id)) f = spool_->Get(id);
      if (f) return PendingEntry(ino, *f);
      // Handed over (or failed) between Resolve and Get: ask once more.
      std::optional<NodeRef> now = inodes_.Resolve(ino);
      if (now && now->kind != NodeKind::kPending) return EntryFor(ino);
      return absl::NotFoundError(absl::StrCat("pending file ", ref->id, " is gone"));
    }
    case NodeKind::kControlDir:
    case NodeKind::kControlFile:
      return ControlEntry(ino, *ref);
    default:
      return ErrnoError(EIO, absl::StrCat("inode ", ino, " has no attributes"));
  }
}

absl::StatusOr<Entry> Filesystem::Lookup(Ino parent, const std::string& name) {
  std::optional<NodeRef> ref = inodes_.Resolve(parent);
  if (!ref) return ErrnoError(ESTALE, absl::StrCat("inode ", parent, " is unknown"));
  if (name.size() > kNameMax) {
    return ErrnoError(ENAMETOOLONG, absl::StrCat("lookup of a ", name.size(), "-byte name"));
  }
  absl::StatusOr<Entry> entry;
  switch (ref->kind) {
    case NodeKind::kRoot:
      entry = LookupInRoot(name);
      break;
    case NodeKind::kAlbum:
      entry = LookupInAlbum(parent, ref->id, name);
      break;
    case NodeKind::kControlDir:
      entry = LookupControl(*ref, name);
      break;
    default:
      return ErrnoError(ENOTDIR, absl::StrCat("inode ", parent, " is not a directory"));
  }
  if (entry.ok()) inodes_.AddLookup(entry->attr.ino);
  return entry;
}

absl::StatusOr<Entry> Filesystem::LookupInRoot(const std::string& name) {
  if (name == ".immich") return LookupControl(NodeRef{NodeKind::kRoot, ""}, name);
  absl::Status fresh = catalog_.RefreshRoot();
  if (!fresh.ok() && !catalog_.HasAlbums()) return fresh;
  std::optional<AlbumView> album = catalog_.AlbumByShown(name);
  if (!album) return absl::NotFoundError(absl::StrCat("no album named '", name, "'"));
  return DirEntry(inodes_.Get(NodeKind::kAlbum, album->id), immichfs::ToTimespec(album->updated));
}

absl::Status Filesystem::RefreshForAccess(const std::string& album_id) {
  absl::Status fresh = catalog_.RefreshAlbum(album_id);
  if (!fresh.ok()) {
    if (absl::IsNotFound(fresh)) return fresh;
    LOG(kWarning, "album %s: %s; answering from what is known", album_id, fresh.ToString());
  }
  return absl::OkStatus();
}

absl::Status Filesystem::RefreshForListing(const std::string& album_id) {
  absl::Status fresh = catalog_.RefreshAlbum(album_id);
  if (absl::IsNotFound(fresh)) return fresh;
  if (!catalog_.ContentsKnown(album_id)) {
    // An empty folder here would tell `rsync --delete` from the mount to a
    // backup that the album's assets are gone. Lookups and creates still
    // answer from what is known (pending files, writes while Immich is down).
    std::string why = fresh.ok() ? "its listing failed less than dir_cache_ttl ago"
                                 : std::string(fresh.message());
    LOG(kWarning,
        "album %s: %s; its contents were never listed, so it is not shown as empty: "
        "listing it fails with EIO until Immich answers",
        album_id, why);
    return ErrnoError(EIO, absl::StrCat("album ", album_id, " cannot be listed: ", why));
  }
  if (!fresh.ok()) {
    LOG(kWarning, "album %s: %s; answering from what is known", album_id, fresh.ToString());
  }
  return absl::OkStatus();
}

Filesystem::Item Filesystem::Find(const std::string& album_id, const std::string& name) {
  Item item;
  if (spool_ != nullptr) {
    if (std::optional<cache::PendingFile> f = spool_->FindByName(album_id, name)) {
      item.kind = Item::Kind::kPending;
      item.pending = *std::move(f);
      return item;
    }
  }
  std::optional<std::string> asset_id = catalog_.AssetInAlbum(album_id, name);
  if (!asset_id) return item;
  // An asset a pending file replaces is shown by that file (under its name).
  if (spool_ != nullptr && spool_->FindReplacing(album_id, *asset_id)) return item;
  item.kind = Item::Kind::kAsset;
  item.asset_id = *asset_id;
  return item;
}

Filesystem::AlbumItems Filesystem::Items(const std::string& album_id) {
  AlbumItems out;
  if (spool_ != nullptr) out.pending = spool_->List(album_id);
  // The lowest id keeps a name (List gives them by id).
  std::vector<cache::PendingFile>& pending = out.pending;
  absl::flat_hash_set<PackedId> replaced;
  for (const cache::PendingFile& f : pending) {
    if (!f.replaces_asset_id.empty()) replaced.insert(PackedId::Of(f.replaces_asset_id));
  }
  std::stable_sort(pending.begin(), pending.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  pending.erase(std::unique(pending.begin(), pending.end(),
                            [](const auto& a, const auto& b) { return a.name == b.name; }),
                pending.end());
  absl::flat_hash_set<absl::string_view> names;  // views into `pending`, now fixed
  for (const cache::PendingFile& f : pending) names.insert(f.name);
  out.assets = catalog_.ListAssets(album_id);
  if (!pending.empty()) {
    // A pending file holding the name hides the asset until it commits
    // (an upload elsewhere that arrived under the same name meanwhile).
    std::erase_if(out.assets, [&](const ListedAsset& a) {
      return replaced.contains(a.id) || names.contains(a.shown);
    });
  }
  return out;
}

absl::StatusOr<Entry> Filesystem::LookupInAlbum(Ino /*parent*/, const std::string& album_id,
                                                const std::string& name) {
  if (absl::Status st = RefreshForAccess(album_id); !st.ok()) return st;
  Item item = Find(album_id, name);
  switch (item.kind) {
    case Item::Kind::kPending:
      return PendingEntry(PendingIno(item.pending.id), item.pending);
    case Item::Kind::kAsset: {
      std::optional<AssetRec> asset = catalog_.Asset(item.asset_id);
      if (!asset) return absl::NotFoundError(absl::StrCat("asset ", item.asset_id, " is gone"));
      Entry e = ListedAssetEntry(PackedId::Of(asset->id),
                                 AssetAttrs{asset->size, asset->mtime, asset->ctime});
      absl::MutexLock lock(&handles_mu_);
      last_album_[e.attr.ino] = album_id;
      return e;
    }
    case Item::Kind::kNone:
      break;
  }
  return absl::NotFoundError(absl::StrCat("no '", name, "' in album ", album_id));
}

void Filesystem::Forget(Ino ino, uint64_t nlookup) { inodes_.Forget(ino, nlookup); }

absl::StatusOr<Attr> Filesystem::GetAttr(Ino ino, std::optional<uint64_t> fh) {
  absl::StatusOr<Entry> e = EntryFor(ino);
  if (absl::IsNotFound(e.status()) && fh && spool_ != nullptr) {
    if (FileHandle* h = HandleOf(*fh); h && h->kind == FileHandle::Kind::kPending) {
      if (std::optional<cache::PendingFile> f = spool_->GetOpen(h->pending)) {
        e = PendingEntry(ino, *f);
      }
    }
  }
  if (!e.ok()) return e.status();
  return e->attr;
}

absl::StatusOr<uint64_t> Filesystem::OpenDir(Ino ino) {
  std::optional<NodeRef> ref = inodes_.Resolve(ino);
  if (!ref) return ErrnoError(ESTALE, absl::StrCat("inode ", ino, " is unknown"));
  auto snap = std::make_unique<DirSnapshot>();
  switch (ref->kind) {
    case NodeKind::kRoot: {
      absl::Status fresh = catalog_.RefreshRoot();
      if (!fresh.ok()) {
        if (!catalog_.HasAlbums() && !options_.offline_start) return fresh;
        LOG(kWarning, "album list: %s; showing what is known", fresh.ToString());
      }
      snap->entries.emplace_back(".", RootEntry());
      snap->entries.emplace_back("..", RootEntry());
      for (const AlbumView& a : catalog_.Albums()) {
        snap->entries.emplace_back(
            a.shown, DirEntry(inodes_.Get(NodeKind::kAlbum, a.id), immichfs::ToTimespec(a.updated)));
      }
      break;
    }
    case NodeKind::kAlbum: {
      if (absl::Status st = RefreshForListing(ref->id); !st.ok()) return st;
      absl::StatusOr<Entry> self = EntryFor(ino);
      if (!self.ok()) return self.status();
      AlbumItems items = Items(ref->id);
      snap->entries.reserve(2 + items.pending.size() + items.assets.size());
      snap->entries.emplace_back(".", *self);
      snap->entries.emplace_back("..", RootEntry());
      // Both sorted by name, no name in both: merge.
      size_t p = 0, a = 0;
      while (p < items.pending.size() || a < items.assets.size()) {
        if (a == items.assets.size() ||
            (p < items.pending.size() && items.pending[p].name < items.assets[a].shown)) {
          const cache::PendingFile& f = items.pending[p++];
          snap->entries.emplace_back(f.name, PendingEntry(PendingIno(f.id), f));
        } else {
          ListedAsset& l = items.assets[a++];
          snap->entries.emplace_back(std::move(l.shown), ListedAssetEntry(l.id, l.attrs));
        }
      }
      break;
    }
    case NodeKind::kControlDir:
      if (absl::Status st = ListControl(ino, *ref, *snap); !st.ok()) return st;
      break;
    default:
      return ErrnoError(ENOTDIR, absl::StrCat("inode ", ino, " is not a directory"));
  }
  absl::MutexLock lock(&handles_mu_);
  uint64_t fh = next_fh_++;
  dirs_[fh] = std::move(snap);
  return fh;
}

absl::Status Filesystem::ReadDir(Ino /*ino*/, uint64_t fh, uint64_t offset, bool plus,
                                 DirSink& sink) {
  DirSnapshot* snap;
  {
    absl::MutexLock lock(&handles_mu_);
    auto it = dirs_.find(fh);
    if (it == dirs_.end()) return ErrnoError(EBADF, "readdir on a directory not opened");
    snap = it->second.get();  // stays alive until ReleaseDir, which the kernel orders after us
  }
  for (uint64_t i = offset; i < snap->entries.size(); ++i) {
    const auto& [name, entry] = snap->entries[i];
    if (!sink.Add(name, entry, i + 1)) break;
    if (plus && name != "." && name != "..") inodes_.AddLookup(entry.attr.ino);
  }
  return absl::OkStatus();
}

void Filesystem::ReleaseDir(uint64_t fh) {
  std::unique_ptr<DirSnapshot> snap;
  {
    absl::MutexLock lock(&handles_mu_);
    auto it = dirs_.find(fh);
    if (it == dirs_.end()) return;
    snap = std::move(it->second);
    dirs_.erase(it);
  }
  const bool big = snap->entries.size() >= kTrimAfter;
  snap.reset();
  if (big) ReturnFreedMemory();  // memory.h
}

uint64_t Filesystem::NewHandle(std::unique_ptr<FileHandle> handle) {
  absl::MutexLock lock(&handles_mu_);
  uint64_t fh = next_fh_++;
  files_[fh] = std::move(handle);
  return fh;
}

Filesystem::FileHandle* Filesystem::HandleOf(uint64_t fh) {
  absl::MutexLock lock(&handles_mu_);
  auto it = files_.find(fh);
  // Alive until Release, which the kernel orders after every use of fh.
  return it == files_.end() ? nullptr : it->second.get();
}

absl::StatusOr<FsStat> Filesystem::StatFs() {
  absl::MutexLock lock(&statfs_mu_);
  // df and file managers call statfs often; the server's numbers move slowly.
  if (options_.clock() - statfs_at_ < absl::Seconds(10)) return statfs_;
  absl::StatusOr<immich::Storage> storage = api_->GetStorage();
  if (!storage.ok()) {
    if (statfs_at_ != absl::InfinitePast()) return statfs_;
    return storage.status();
  }
  FsStat st;
  st.blocks = static_cast<uint64_t>(storage->size_bytes) / st.block_size;
  st.blocks_free = static_cast<uint64_t>(storage->available_bytes) / st.block_size;
  st.blocks_avail = st.blocks_free;
  st.files = catalog_.AssetCount();
  statfs_ = st;
  statfs_at_ = options_.clock();
  return st;
}

}  // namespace immichfs::fs
