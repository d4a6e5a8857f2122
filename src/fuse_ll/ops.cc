#include "fuse_ll/ops.h"

#include <sys/uio.h>

#include <cerrno>
#include <iterator>
#include <new>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "fuse_ll/reply.h"

namespace immichfs::fuse_ll {
namespace {

SessionContext& Ctx(fuse_req_t req) {
  return *static_cast<SessionContext*>(fuse_req_userdata(req));
}
fs::Filesystem& Fs(fuse_req_t req) { return *Ctx(req).fs.load(); }

// No exception may cross into libfuse's C code: the last-resort answer is
// ENOMEM for allocation failure and EIO for anything else.
template <typename Body>
void Guarded(fuse_req_t req, const char* op, Body&& body) noexcept {
  try {
    body();
  } catch (const std::bad_alloc&) {
    LOG(kError, "%s: out of memory", op);
    fuse_reply_err(req, ENOMEM);
  } catch (const std::exception& e) {
    LOG(kError, "%s: unexpected exception: %s", op, e.what());
    fuse_reply_err(req, EIO);
  } catch (...) {
    LOG(kError, "%s: unexpected exception", op);
    fuse_reply_err(req, EIO);
  }
}

void Init(void* userdata, fuse_conn_info* conn) {
  auto* ctx = static_cast<SessionContext*>(userdata);
  // Large requests: fewer round trips through the kernel for big originals.
  conn->max_write = static_cast<unsigned>(ctx->max_io);
  conn->max_read = static_cast<unsigned>(ctx->max_io);
  conn->max_readahead = static_cast<unsigned>(ctx->max_io);
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO) conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  // Content can change on the server: let mtime/size changes drop the page cache.
  if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA) conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
  // O_TRUNC arrives with open(), not as open + setattr(size=0): an overwrite
  // of an asset is one decision (fs::Filesystem::Open).
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  // No FUSE_CAP_WRITEBACK_CACHE: writes reach the spool as they happen, so
  // flush and fsync see every byte and the settle timer starts at close.
}

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  Guarded(req, "lookup", [&] {
    absl::StatusOr<fs::Entry> entry = Fs(req).Lookup(parent, name);
    if (!entry.ok() && ToErrno(entry.status()) == ENOENT) {
      // A negative entry: the kernel remembers the miss for attr_timeout, so
      // a shell probing for files does not ask again and again. Creating a
      // file through the mount drops it at once.
      fuse_entry_param e{};
      e.ino = 0;
      e.entry_timeout = Fs(req).attr_timeout();
      fuse_reply_entry(req, &e);
      return;
    }
    if (!entry.ok()) return ReplyError(req, entry.status(), "lookup");
    fuse_entry_param e = ToEntryParam(*entry);
    fuse_reply_entry(req, &e);
  });
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) noexcept {
  Guarded(req, "forget", [&] {
    Fs(req).Forget(ino, nlookup);
    fuse_reply_none(req);
  });
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) noexcept {
  Guarded(req, "forget", [&] {
    for (size_t i = 0; i < count; ++i) Fs(req).Forget(forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
  });
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  Guarded(req, "getattr", [&] {
    std::optional<uint64_t> fh;
    if (fi != nullptr) fh = fi->fh;
    absl::StatusOr<fs::Attr> attr = Fs(req).GetAttr(ino, fh);
    if (!attr.ok()) return ReplyError(req, attr.status(), "getattr");
    struct stat st = ToStat(*attr);
    fuse_reply_attr(req, &st, Fs(req).attr_timeout());
  });
}

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  Guarded(req, "opendir", [&] {
    absl::StatusOr<uint64_t> fh = Fs(req).OpenDir(ino);
    if (!fh.ok()) return ReplyError(req, fh.status(), "opendir");
    fi->fh = *fh;
    fuse_reply_open(req, fi);
  });
}

void ReadDirCommon(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                   bool plus) {
  DirBuffer buf(req, size, plus);
  absl::Status s = Fs(req).ReadDir(ino, fi->fh, static_cast<uint64_t>(off), plus, buf);
  if (!s.ok()) return ReplyError(req, s, plus ? "readdirplus" : "readdir");
  fuse_reply_buf(req, buf.data(), buf.size());
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) noexcept {
  Guarded(req, "readdir", [&] { ReadDirCommon(req, ino, size, off, fi, false); });
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                 fuse_file_info* fi) noexcept {
  Guarded(req, "readdirplus", [&] { ReadDirCommon(req, ino, size, off, fi, true); });
}

void ReleaseDir(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* fi) noexcept {
  Guarded(req, "releasedir", [&] {
    Fs(req).ReleaseDir(fi->fh);
    fuse_reply_err(req, 0);
  });
}

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  Guarded(req, "open", [&] {
    absl::StatusOr<fs::OpenResult> r = Fs(req).Open(ino, fi->flags);
    if (!r.ok()) return ReplyError(req, r.status(), "open");
    fi->fh = r->fh;
    fi->keep_cache = r->keep_cache;
    fi->direct_io = r->direct_io;
    fuse_reply_open(req, fi);
  });
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) noexcept {
  Guarded(req, "read", [&] {
    // One scratch buffer per FUSE worker thread, reused across reads, for
    // bytes that are not already in memory; streamed bytes are replied from
    // where they are (cache::ReadResult), as an iovec: no copy here.
    thread_local std::vector<char> scratch;
    if (scratch.size() < size) scratch.resize(size);
    cache::ReadResult result;
    result.scratch = scratch.data();
    absl::Status s = Fs(req).ReadView(ino, fi->fh, static_cast<uint64_t>(off), size, &result);
    if (!s.ok()) return ReplyError(req, s, "read");
    iovec iov[8];
    std::vector<iovec> many;
    iovec* vec = iov;
    if (result.spans.size() > std::size(iov)) {
      many.resize(result.spans.size());
      vec = many.data();
    }
    for (size_t i = 0; i < result.spans.size(); ++i) {
      vec[i].iov_base = const_cast<char*>(result.spans[i].data);
      vec[i].iov_len = result.spans[i].size;
    }
    fuse_reply_iov(req, vec, static_cast<int>(result.spans.size()));
  });
}

void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  Guarded(req, "release", [&] {
    absl::Status s = Fs(req).Release(ino, fi->fh);
    if (!s.ok()) return ReplyError(req, s, "release");
    fuse_reply_err(req, 0);
  });
}

void StatFs(fuse_req_t req, fuse_ino_t /*ino*/) noexcept {
  Guarded(req, "statfs", [&] {
    absl::StatusOr<fs::FsStat> st = Fs(req).StatFs();
    if (!st.ok()) return ReplyError(req, st.status(), "statfs");
    struct statvfs v {};
    v.f_bsize = st->block_size;
    v.f_frsize = st->block_size;
    v.f_blocks = st->blocks;
    v.f_bfree = st->blocks_free;
    v.f_bavail = st->blocks_avail;
    v.f_files = st->files;
    v.f_namemax = st->name_max;
    fuse_reply_statfs(req, &v);
  });
}

// --- writes --------------------------------------------------------------------

void ReplyEntry(fuse_req_t req, const absl::StatusOr<fs::Entry>& entry, const char* op) {
  if (!entry.ok()) return ReplyError(req, entry.status(), op);
  fuse_entry_param e = ToEntryParam(*entry);
  fuse_reply_entry(req, &e);
}

void ReplyStatus(fuse_req_t req, const absl::Status& s, const char* op) {
  if (!s.ok()) return ReplyError(req, s, op);
  fuse_reply_err(req, 0);
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t /*mode*/,
            fuse_file_info* fi) noexcept {
  Guarded(req, "create", [&] {
    absl::StatusOr<fs::CreateResult> r = Fs(req).Create(parent, name, fi->flags);
    if (!r.ok()) return ReplyError(req, r.status(), "create");
    fi->fh = r->open.fh;
    fi->keep_cache = r->open.keep_cache;
    fi->direct_io = r->open.direct_io;
    fuse_entry_param e = ToEntryParam(r->entry);
    if (fuse_reply_create(req, &e, fi) != 0) {
      // The request was interrupted: nobody will release this handle.
      (void)Fs(req).Release(e.ino, fi->fh);
    }
  });
}

void MkNod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) noexcept {
  Guarded(req, "mknod", [&] { ReplyEntry(req, Fs(req).MkNod(parent, name, mode), "mknod"); });
}

void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
           fuse_file_info* fi) noexcept {
  Guarded(req, "write", [&] {
    absl::StatusOr<size_t> n = Fs(req).Write(ino, fi->fh, static_cast<uint64_t>(off), buf, size);
    if (!n.ok()) return ReplyError(req, n.status(), "write");
    fuse_reply_write(req, *n);
  });
}

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
             fuse_file_info* fi) noexcept {
  Guarded(req, "setattr", [&] {
    fs::SetAttrRequest r;
    if (to_set & FUSE_SET_ATTR_SIZE) r.size = static_cast<uint64_t>(attr->st_size);
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
      timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      r.mtime = now;
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
      r.mtime = attr->st_mtim;
    }
    r.ignored = to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
                          FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_CTIME);
    std::optional<uint64_t> fh;
    if (fi != nullptr) fh = fi->fh;
    absl::StatusOr<fs::Attr> a = Fs(req).SetAttr(ino, fh, r);
    if (!a.ok()) return ReplyError(req, a.status(), "setattr");
    struct stat st = ToStat(*a);
    fuse_reply_attr(req, &st, Fs(req).attr_timeout());
  });
}

void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  Guarded(req, "flush", [&] { ReplyStatus(req, Fs(req).Flush(ino, fi->fh), "flush"); });
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int /*datasync*/, fuse_file_info* fi) noexcept {
  Guarded(req, "fsync", [&] { ReplyStatus(req, Fs(req).Fsync(ino, fi->fh), "fsync"); });
}

void FsyncDir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) noexcept {
  fuse_reply_err(req, 0);  // directories are Immich's albums: nothing is held locally
}

void MkDir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t /*mode*/) noexcept {
  Guarded(req, "mkdir", [&] { ReplyEntry(req, Fs(req).MkDir(parent, name), "mkdir"); });
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  Guarded(req, "unlink", [&] { ReplyStatus(req, Fs(req).Unlink(parent, name), "unlink"); });
}

void RmDir(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  Guarded(req, "rmdir", [&] { ReplyStatus(req, Fs(req).RmDir(parent, name), "rmdir"); });
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
            const char* new_name, unsigned int flags) noexcept {
  Guarded(req, "rename", [&] {
    ReplyStatus(req, Fs(req).Rename(parent, name, new_parent, new_name, flags), "rename");
  });
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) noexcept {
  Guarded(req, "link", [&] { ReplyEntry(req, Fs(req).Link(ino, new_parent, new_name), "link"); });
}

void Symlink(fuse_req_t req, const char* /*target*/, fuse_ino_t parent,
             const char* name) noexcept {
  Guarded(req, "symlink", [&] { ReplyStatus(req, Fs(req).Symlink(parent, name), "symlink"); });
}

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = Init;
  ops.lookup = Lookup;
  ops.forget = Forget;
  ops.forget_multi = ForgetMulti;
  ops.getattr = GetAttr;
  ops.setattr = SetAttr;
  ops.mknod = MkNod;
  ops.mkdir = MkDir;
  ops.unlink = Unlink;
  ops.rmdir = RmDir;
  ops.symlink = Symlink;
  ops.rename = Rename;
  ops.link = Link;
  ops.open = Open;
  ops.read = Read;
  ops.write = Write;
  ops.flush = Flush;
  ops.fsync = Fsync;
  ops.fsyncdir = FsyncDir;
  ops.release = Release;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.readdirplus = ReadDirPlus;
  ops.releasedir = ReleaseDir;
  ops.statfs = StatFs;
  ops.create = Create;
  return ops;
}

}  // namespace

const fuse_lowlevel_ops& Operations() {
  static const fuse_lowlevel_ops ops = MakeOps();
  return ops;
}

}  // namespace immichfs::fuse_ll
