// File data: open, create, read, write, setattr, flush, fsync, release.
// Uploaded assets are read through cache::ReadPath; pending files live in
// the spool (spool/spool.h); /.immich files in control_files.cc.
//
//  - Every open of a pending file (even O_RDONLY) holds a spool handle: no
//    commit starts while it is open, and fsync on any of its descriptors
//    commits it.
//  - open(O_TRUNC) of an uploaded asset: a new pending file replacing it
//    (replaces_asset_id), named as the asset is shown in the album it was
//    last looked up in; the asset's inode now stands for the pending file.
//  - open for writing without O_TRUNC of an uploaded asset: EPERM (logged).
//  - setattr: size of a pending file -> truncate; of an asset -> EPERM
//    unless unchanged. mtime (also UTIME_NOW) of a pending file -> the
//    mtime the upload gets (fileCreatedAt/fileModifiedAt), kept at ms
//    precision; of an asset -> accepted without effect (Immich cannot change
//    fileModifiedAt), like mode/uid/gid/atime. Directories: size EISDIR,
//    the rest accepted without effect.
//  - flush: data and journal durable (close(2) reports its error); release:
//    the file settles and commits after settle=; fsync: commits now and
//    returns when the asset is in Immich and in the album, or the error.
//    A file with a temporary name (name_policy.h) is only made durable by
//    fsync: it is not meant to reach Immich under that name. An incomplete
//    file (a write of it failed, spool/spool.h) is not committed: fsync
//    returns its error.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/iso_time.h"
#include "common/log.h"
#include "common/status.h"
#include "fs/filesystem.h"
#include "fs/name_codec.h"

namespace immichfs::fs {
namespace {

bool Writes(int flags) { return (flags & O_ACCMODE) != O_RDONLY; }

absl::Time MillisOf(absl::Time t) { return absl::FromUnixMillis(absl::ToUnixMillis(t)); }

// A handle that only writes a pending file bypasses the kernel's page cache
// (FOPEN_DIRECT_IO): the bytes go from the writer's buffer to the daemon
// without first being copied into the FUSE inode's cache, which nobody
// reads from through this handle. That is one copy of three and a page of
// fresh memory per page written: cp of 1 GiB spent ~30% of its CPU there.
// Not for O_RDWR: such a handle may be mmapped, which direct I/O refuses.
bool WriteOnlyDirect(int flags) { return (flags & O_ACCMODE) == O_WRONLY; }

std::optional<cache::PendingId> PendingIdOf(const NodeRef& ref) {
  uint64_t id = 0;
  if (ref.kind != NodeKind::kPending || !absl::SimpleAtoi(ref.id, &id)) return std::nullopt;
  return id;
}

}  // namespace

absl::StatusOr<OpenResult> Filesystem::Open(Ino ino, int flags) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::optional<NodeRef> ref = inodes_.Resolve(ino);
    if (!ref) return ErrnoError(ESTALE, absl::StrCat("inode ", ino, " is unknown"));
    switch (ref->kind) {
      case NodeKind::kRoot:
      case NodeKind::kAlbum:
      case NodeKind::kControlDir:
        return ErrnoError(EISDIR, "open of a directory as a file");
      case NodeKind::kControlFile:
        return OpenControl(*ref, flags);
      case NodeKind::kAsset: {
        absl::StatusOr<OpenResult> r = OpenAsset(ino, ref->id, flags);
        if (r.ok() && Writes(flags)) r->direct_io = WriteOnlyDirect(flags);
        return r;
      }
      case NodeKind::kPending: {
        cache::PendingId id = *PendingIdOf(*ref);
        absl::StatusOr<OpenResult> r = OpenPending(ino, id, flags);
        if (r.ok()) r->direct_io = WriteOnlyDirect(flags);
        if (!absl::IsNotFound(r.status())) return r;
        // Committed meanwhile: wait for the hand-over, then open the asset.
        absl::MutexLock lock(&ns_mu_);
        AwaitHandover(ino, id);
        continue;
      }
      default:
        return ErrnoError(EIO, "open of an unknown node kind");
    }
  }
  return absl::NotFoundError(absl::StrCat("inode ", ino, " is gone"));
}

absl::StatusOr<OpenResult> Filesystem::OpenPending(Ino /*ino*/, cache::PendingId id, int flags) {
  if (absl::Status st = spool_->OpenHandle(id); !st.ok()) return st;
  if (Writes(flags) && (flags & O_TRUNC)) {
    if (absl::Status st = spool_->Truncate(id, 0); !st.ok()) {
      (void)spool_->Release(id);
      return st;
    }
  }
  auto handle = std::make_unique<FileHandle>();
  handle->kind = FileHandle::Kind::kPending;
  handle->pending = id;
  OpenResult result;
  result.fh = NewHandle(std::move(handle));
  return result;
}

absl::StatusOr<OpenResult> Filesystem::OpenAsset(Ino ino, const std::string& asset_id,
                                                 int flags) {
  if (Writes(flags)) {
    if (absl::Status st = CheckWritable("open for writing"); !st.ok()) return st;
    if (!(flags & O_TRUNC)) {
      LOG(kWarning, "open for writing of uploaded asset %s refused (EPERM): Immich cannot "
          "change an asset's bytes in place; write it whole (O_TRUNC, or a new file renamed "
          "onto it) to replace it", asset_id);
      return ErrnoError(EPERM, absl::StrCat("asset ", asset_id, " cannot be modified in place"));
    }
    {
      absl::MutexLock lock(&ns_mu_);
      std::optional<NodeRef> ref = inodes_.Resolve(ino);
      if (ref && ref->kind == NodeKind::kAsset && ref->id == asset_id) {
        return OverwriteAsset(ino, asset_id);
      }
    }
    // Another overwrite made the inode a pending file meanwhile: open that.
    return Open(ino, flags);
  }
  std::optional<AssetRec> asset = catalog_.Asset(asset_id);
  if (!asset) return absl::NotFoundError(absl::StrCat("asset ", asset_id, " is gone"));
  auto handle = std::make_unique<FileHandle>();
  handle->kind = FileHandle::Kind::kAsset;
  handle->reader = reads_->Open(cache::AssetKey{asset->id, asset->checksum,
                                                static_cast<uint64_t>(asset->size)});
  OpenResult result;
  {
    absl::MutexLock lock(&handles_mu_);
    auto [it, inserted] = opened_checksum_.try_emplace(ino, asset->checksum);
    result.keep_cache = !inserted && it->second == asset->checksum;
    it->second = asset->checksum;
  }
  result.fh = NewHandle(std::move(handle));
  return result;
}

absl::StatusOr<OpenResult> Filesystem::OverwriteAsset(Ino ino, const std::string& asset_id) {
  std::string album_id;
  {
    absl::MutexLock lock(&handles_mu_);
    if (auto it = last_album_.find(ino); it != last_album_.end()) album_id = it->second;
  }
  std::optional<std::string> name;
  if (!album_id.empty()) name = catalog_.ShownNameOf(album_id, asset_id);
  if (!name) {
    for (const std::string& a : catalog_.AlbumsHolding(asset_id)) {
      if ((name = catalog_.ShownNameOf(a, asset_id))) {
        album_id = a;
        break;
      }
    }
  }
  if (!name) return absl::NotFoundError(absl::StrCat("asset ", asset_id, " is in no album"));
  absl::StatusOr<cache::PendingId> id =
      spool_->Create(album_id, *name, MillisOf(absl::Now()), asset_id);
  if (!id.ok()) return id.status();
  inodes_.Rebind(ino, NodeKind::kPending, absl::StrCat(*id));
  rebound_[*id] = asset_id;
  LOG(kInfo, "'%s' in album %s (asset %s) is being overwritten; the new content will replace "
      "it in Immich", *name, album_id, asset_id);
  auto handle = std::make_unique<FileHandle>();
  handle->kind = FileHandle::Kind::kPending;
  handle->pending = *id;
  OpenResult result;
  result.fh = NewHandle(std::move(handle));
  return result;
}

absl::StatusOr<CreateResult> Filesystem::Create(Ino parent, const std::string& name, int flags) {
  std::optional<NodeRef> ref = inodes_.Resolve(parent);
  if (!ref) return ErrnoError(ESTALE, absl::StrCat("inode ", parent, " is unknown"));
  if (IsControl(ref->kind)) return ErrnoError(EROFS, "/.immich is read-only");
  if (absl::Status st = CheckWritable("create"); !st.ok()) return st;
  if (ref->kind == NodeKind::kRoot) {
    LOG(kWarning, "create of '%s' at the root refused (EPERM): files live in albums", name);
    return ErrnoError(EPERM, absl::StrCat("'", name, "': only albums live at the root"));
  }
  if (ref->kind != NodeKind::kAlbum) return ErrnoError(ENOTDIR, "create in a file");
  if (name.size() > kNameMax) return ErrnoError(ENAMETOOLONG, "create of a too long name");
  const std::string album_id = ref->id;
  if (absl::Status st = RefreshForAccess(album_id); !st.ok()) return st;
  if (absl::Status st = names_.CheckName(name); !st.ok()) {
    LOG(kWarning, "create refused: %s", st.message());
    return st;
  }
  CreateResult out;
  {
    absl::MutexLock lock(&ns_mu_);
    Item existing = Find(album_id, name);
    if (existing.kind == Item::Kind::kNone) {
      absl::StatusOr<cache::PendingId> id = spool_->Create(album_id, name, MillisOf(absl::Now()));
      if (!id.ok()) return id.status();
      std::optional<cache::PendingFile> f = spool_->Get(*id);
      if (!f) return absl::InternalError("a created pending file vanished");
      Ino ino = PendingIno(*id);
      inodes_.AddLookup(ino);
      out.entry = PendingEntry(ino, *f);
      auto handle = std::make_unique<FileHandle>();
      handle->kind = FileHandle::Kind::kPending;
      handle->pending = *id;
      out.open.fh = NewHandle(std::move(handle));
      out.open.direct_io = WriteOnlyDirect(flags);
      return out;
    }
    if (flags & O_EXCL) return ErrnoError(EEXIST, absl::StrCat("'", name, "' exists"));
  }
  // The kernel's negative entry was stale: open what is there now.
  absl::StatusOr<Entry> entry = Lookup(parent, name);
  if (!entry.ok()) return entry.status();
  absl::StatusOr<OpenResult> opened = Open(entry->attr.ino, flags);
  if (!opened.ok()) {
    Forget(entry->attr.ino, 1);
    return opened.status();
  }
  absl::StatusOr<Entry> now = EntryFor(entry->attr.ino);  // O_TRUNC changed the size
  out.entry = now.ok() ? *now : *entry;
  out.open = *opened;
  return out;
}

absl::StatusOr<Entry> Filesystem::MkNod(Ino parent, const std::string& name, mode_t mode) {
  if (!S_ISREG(mode)) {
    return ErrnoError(EPERM, absl::StrCat("'", name, "': only regular files can be created"));
  }
  absl::StatusOr<CreateResult> created = Create(parent, name, O_CREAT | O_EXCL | O_WRONLY);
  if (!created.ok()) return created.status();
  if (absl::Status st = Release(created->entry.attr.ino, created->open.fh); !st.ok()) return st;
  return created->entry;
}

absl::StatusOr<size_t> Filesystem::Read(Ino /*ino*/, uint64_t fh, uint64_t offset, size_t size,
                                        char* buf) {
  FileHandle* h = HandleOf(fh);
  if (h == nullptr) return ErrnoError(EBADF, "read on a file not opened");
  switch (h->kind) {
    case FileHandle::Kind::kAsset:
      return h->reader->Read(offset, size, buf);
    case FileHandle::Kind::kPending:
      return spool_->Read(h->pending, offset, size, buf);
    case FileHandle::Kind::kText: {
      if (offset >= h->text.size()) return 0;
      size_t n = std::min(size, h->text.size() - offset);
      std::memcpy(buf, h->text.data() + offset, n);
      return n;
    }
    case FileHandle::Kind::kFailedFile: {
      ssize_t n = ::pread(h->fd.get(), buf, size, static_cast<off_t>(offset));
      if (n < 0) return ErrnoFromSyscall(errno, "read of a file in failed/");
      return static_cast<size_t>(n);
    }
  }
  return ErrnoError(EIO, "read on an unknown handle kind");
}

absl::Status Filesystem::ReadView(Ino ino, uint64_t fh, uint64_t offset, size_t size,
                                  cache::ReadResult* out) {
  FileHandle* h = HandleOf(fh);
  if (h != nullptr && h->kind == FileHandle::Kind::kAsset) {
    return h->reader->ReadView(offset, size, out);
  }
  absl::StatusOr<size_t> n = Read(ino, fh, offset, size, out->scratch);
  if (!n.ok()) return n.status();
  out->Add(out->scratch, *n);
  return absl::OkStatus();
}

absl::StatusOr<size_t> Filesystem::Write(Ino /*ino*/, uint64_t fh, uint64_t offset,
                                         const char* data, size_t size) {
  FileHandle* h = HandleOf(fh);
  if (h == nullptr) return ErrnoError(EBADF, "write on a file not opened");
  if (h->kind != FileHandle::Kind::kPending) {
    return ErrnoError(EBADF, "write on a file not opened for writing");
  }
  if (absl::Status st = spool_->Write(h->pending, offset, data, size); !st.ok()) return st;
  return size;
}

absl::StatusOr<Attr> Filesystem::SetAttr(Ino ino, std::optional<uint64_t> fh,
                                         const SetAttrRequest& req) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::optional<NodeRef> ref = inodes_.Resolve(ino);
    if (!ref) return ErrnoError(ESTALE, absl::StrCat("inode ", ino, " is unknown"));
    std::optional<cache::PendingId> id = PendingIdOf(*ref);
    if (fh) {
      if (FileHandle* h = HandleOf(*fh); h && h->kind == FileHandle::Kind::kPending) {
        id = h->pending;
      }
    }
    switch (ref->kind) {
      case NodeKind::kRoot:
      case NodeKind::kAlbum:
      case NodeKind::kControlDir:
        if (req.size) return ErrnoError(EISDIR, "truncate of a directory");
        return GetAttr(ino);  // rsync -a sets directory times: accepted, no effect
      case NodeKind::kControlFile:
        if (req.size || req.mtime) return ErrnoError(EROFS, "/.immich is read-only");
        return GetAttr(ino);
      default:
        break;
    }
    if (id) {
      absl::Status st;
      if (req.size) st = spool_->Truncate(*id, *req.size);
      if (st.ok() && req.mtime) {
        st = spool_->SetMtime(*id, MillisOf(immichfs::FromTimespec(*req.mtime)));
      }
      if (absl::IsNotFound(st) && ref->kind == NodeKind::kPending) {
        absl::MutexLock lock(&ns_mu_);
        AwaitHandover(ino, *id);
        continue;  // now an asset: its rules apply
      }
      if (!st.ok()) return st;
      return GetAttr(ino);
    }
    if (ref->kind != NodeKind::kAsset) return ErrnoError(EIO, "setattr of an unknown node");
    std::optional<AssetRec> asset = catalog_.Asset(ref->id);
    if (!asset) return absl::NotFoundError(absl::StrCat("asset ", ref->id, " is gone"));
    if (req.size && *req.size != static_cast<uint64_t>(asset->size)) {
      LOG(kWarning, "truncate of uploaded asset %s ('%s') refused (EPERM): Immich cannot change "
          "an asset in place; write it whole with O_TRUNC to replace it", asset->id, asset->name);
      return ErrnoError(EPERM, absl::StrCat("asset ", asset->id, " cannot be truncated"));
    }
    if (req.mtime) {
      LOG(kDebug, "mtime of uploaded asset %s left as it is: Immich keeps fileModifiedAt "
          "from the upload", asset->id);
    }
    return GetAttr(ino);
  }
  return absl::NotFoundError(absl::StrCat("inode ", ino, " is gone"));
}

absl::Status Filesystem::Flush(Ino /*ino*/, uint64_t fh) {
  FileHandle* h = HandleOf(fh);
  if (h == nullptr || h->kind != FileHandle::Kind::kPending) return absl::OkStatus();
  return spool_->Flush(h->pending);
}

absl::Status Filesystem::Fsync(Ino /*ino*/, uint64_t fh) {
  FileHandle* h = HandleOf(fh);
  if (h == nullptr || h->kind != FileHandle::Kind::kPending) return absl::OkStatus();
  std::optional<cache::PendingFile> f = spool_->Get(h->pending);
  if (f && IsTempName(f->name)) {
    absl::Status st = spool_->Flush(h->pending);
    // Not committed either way, but an incomplete file says so (spool.h).
    std::optional<cache::PendingFile> now = spool_->Get(h->pending);
    if (st.ok() && now && !now->write_error.ok()) st = now->write_error;
    return st;
  }
  absl::Status st = spool_->Fsync(h->pending);
  if (!st.ok()) {
    LOG(kWarning, "fsync of '%s': not in Immich yet: %s", f ? f->name : "?", st.ToString());
  }
  return st;
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
  if (handle->kind == FileHandle::Kind::kPending) return spool_->Release(handle->pending);
  return absl::OkStatus();  // a reader's streams stop as `handle` dies, outside the lock
}

}  // namespace immichfs::fs
