#include "fs/filesystem.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/iso_time.h"
#include "common/log.h"
#include "common/status.h"
#include "fs/name_codec.h"

namespace immichfs::fs {
namespace {

timespec Now() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

}  // namespace

Filesystem::Filesystem(immich::ImmichApi* api, cache::ReadPath* reads, FsOptions options)
    : api_(api),
      reads_(reads),
      options_(options),
      mount_time_(Now()),
      catalog_(api, options.dir_cache_ttl, options.clock) {}

Filesystem::~Filesystem() = default;

absl::Status Filesystem::Prime() { return catalog_.RefreshRoot(/*force=*/true); }

absl::Status Filesystem::ReadOnly(const char* op) const {
  return ErrnoError(EROFS, absl::StrCat(op, ": immichfs is read-only in this version"));
}

Entry Filesystem::DirEntry(Ino ino, const timespec& mtime) const {
  Entry e;
  e.attr.ino = ino;
  e.attr.mode = S_IFDIR | (0777 & ~options_.umask);
  e.attr.nlink = 2;
  e.attr.uid = options_.uid;
  e.attr.gid = options_.gid;
  e.attr.atime = e.attr.mtime = e.attr.ctime = mtime;
  e.attr.size = 4096;
  e.attr_timeout = Seconds(options_.attr_timeout);
  e.entry_timeout = Seconds(options_.dir_cache_ttl);  // names change no faster than listings
  return e;
}

Entry Filesystem::AssetEntry(Ino ino, const AssetRec& asset) const {
  Entry e;
  e.attr.ino = ino;
  e.attr.mode = S_IFREG | (0666 & ~options_.umask);
  e.attr.nlink = 1;
  e.attr.uid = options_.uid;
  e.attr.gid = options_.gid;
  e.attr.size = static_cast<uint64_t>(asset.size);
  e.attr.mtime = immichfs::ToTimespec(asset.mtime);
  e.attr.atime = e.attr.mtime;
  e.attr.ctime = immichfs::ToTimespec(asset.ctime);
  e.attr_timeout = Seconds(options_.attr_timeout);
  e.entry_timeout = Seconds(options_.dir_cache_ttl);
  return e;
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
    default:
      return ErrnoError(ENOTDIR, absl::StrCat("inode ", parent, " is not a directory"));
  }
  if (entry.ok()) inodes_.AddLookup(entry->attr.ino);
  return entry;
}

absl::StatusOr<Entry> Filesystem::LookupInRoot(const std::string& name) {
  absl::Status fresh = catalog_.RefreshRoot();
  if (!fresh.ok() && !catalog_.HasAlbums()) return fresh;
  std::optional<AlbumView> album = catalog_.AlbumByShown(name);
  if (!album) return absl::NotFoundError(absl::StrCat("no album named '", name, "'"));
  return DirEntry(inodes_.Get(NodeKind::kAlbum, album->id), immichfs::ToTimespec(album->updated));
}

absl::StatusOr<Entry> Filesystem::LookupInAlbum(Ino /*parent*/, const std::string& album_id,
                                                const std::string& name) {
  absl::Status fresh = catalog_.RefreshAlbum(album_id);
  if (!fresh.ok()) {
    if (absl::IsNotFound(fresh)) return fresh;
    LOG(kWarning, "album %s: %s; answering from what is known", album_id, fresh.ToString());
  }
  std::optional<std::string> asset_id = catalog_.AssetInAlbum(album_id, name);
  if (!asset_id) {
    return absl::NotFoundError(absl::StrCat("no '", name, "' in album ", album_id));
  }
  std::optional<AssetRec> asset = catalog_.Asset(*asset_id);
  if (!asset) return absl::NotFoundError(absl::StrCat("asset ", *asset_id, " is gone"));
  return AssetEntry(inodes_.Get(NodeKind::kAsset, *asset_id), *asset);
}

void Filesystem::Forget(Ino ino, uint64_t nlookup) { inodes_.Forget(ino, nlookup); }

absl::StatusOr<Attr> Filesystem::GetAttr(Ino ino) {
  absl::StatusOr<Entry> e = EntryFor(ino);
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
      absl::Status fresh = catalog_.RefreshAlbum(ref->id);
      if (!fresh.ok()) {
        if (absl::IsNotFound(fresh)) return fresh;
        LOG(kWarning, "album %s: %s; showing what is known", ref->id, fresh.ToString());
      }
      absl::StatusOr<Entry> self = EntryFor(ino);
      if (!self.ok()) return self.status();
      snap->entries.emplace_back(".", *self);
      snap->entries.emplace_back("..", RootEntry());
      for (const auto& [shown, asset_id] : catalog_.Listing(ref->id)) {
        std::optional<AssetRec> asset = catalog_.Asset(asset_id);
        if (!asset) continue;
        snap->entries.emplace_back(shown,
                                   AssetEntry(inodes_.Get(NodeKind::kAsset, asset_id), *asset));
      }
      break;
    }
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
  absl::MutexLock lock(&handles_mu_);
  dirs_.erase(fh);
}

absl::StatusOr<OpenResult> Filesystem::Open(Ino ino, int flags) {
  std::optional<NodeRef> ref = inodes_.Resolve(ino);
  if (!ref) return ErrnoError(ESTALE, absl::StrCat("inode ", ino, " is unknown"));
  if (ref->kind == NodeKind::kRoot || ref->kind == NodeKind::kAlbum) {
    return ErrnoError(EISDIR, "open of a directory as a file");
  }
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) return ReadOnly("open for writing");
  if (ref->kind != NodeKind::kAsset) return ErrnoError(EIO, "open of an unknown node kind");
  std::optional<AssetRec> asset = catalog_.Asset(ref->id);
  if (!asset) return absl::NotFoundError(absl::StrCat("asset ", ref->id, " is gone"));

  auto handle = std::make_unique<FileHandle>();
  handle->reader = reads_->Open(cache::AssetKey{asset->id, asset->checksum,
                                                static_cast<uint64_t>(asset->size)});
  OpenResult result;
  absl::MutexLock lock(&handles_mu_);
  auto [it, inserted] = opened_checksum_.try_emplace(ino, asset->checksum);
  result.keep_cache = !inserted && it->second == asset->checksum;
  it->second = asset->checksum;
  result.fh = next_fh_++;
  files_[result.fh] = std::move(handle);
  return result;
}

absl::StatusOr<size_t> Filesystem::Read(Ino /*ino*/, uint64_t fh, uint64_t offset, size_t size,
                                        char* buf) {
  cache::ReadHandle* reader;
  {
    absl::MutexLock lock(&handles_mu_);
    auto it = files_.find(fh);
    if (it == files_.end()) return ErrnoError(EBADF, "read on a file not opened");
    reader = it->second->reader.get();  // alive until Release, ordered after us
  }
  return reader->Read(offset, size, buf);
}

absl::Status Filesystem::Release(Ino /*ino*/, uint64_t fh) {
  std::unique_ptr<FileHandle> handle;
  {
    absl::MutexLock lock(&handles_mu_);
    auto it = files_.find(fh);
    if (it == files_.end()) return absl::OkStatus();
    handle = std::move(it->second);
    files_.erase(it);
  }
  return absl::OkStatus();  // the reader's streams stop as `handle` dies, outside the lock
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
