#include "fuse_ll/ops.h"

#include <cerrno>
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

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) noexcept {
  Guarded(req, "getattr", [&] {
    absl::StatusOr<fs::Attr> attr = Fs(req).GetAttr(ino);
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
    // One buffer per FUSE worker thread, reused across reads.
    thread_local std::vector<char> buf;
    if (buf.size() < size) buf.resize(size);
    absl::StatusOr<size_t> n = Fs(req).Read(ino, fi->fh, static_cast<uint64_t>(off), size,
                                             buf.data());
    if (!n.ok()) return ReplyError(req, n.status(), "read");
    fuse_reply_buf(req, buf.data(), *n);
  });
}

void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  Guarded(req, "release", [&] {
    absl::Status s = Fs(req).Release(ino, fi->fh);
    if (!s.ok()) return ReplyError(req, s, "release");
    fuse_reply_err(req, 0);
  });
}

void Flush(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) noexcept {
  fuse_reply_err(req, 0);
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

// --- writes: not yet supported ------------------------------------------------

void ReplyReadOnly(fuse_req_t req, const char* op) {
  Guarded(req, op, [&] { ReplyError(req, Fs(req).ReadOnly(op), op); });
}

void SetAttr(fuse_req_t req, fuse_ino_t /*ino*/, struct stat* /*attr*/, int /*to_set*/,
             fuse_file_info* /*fi*/) noexcept {
  ReplyReadOnly(req, "setattr");
}
void MkDir(fuse_req_t req, fuse_ino_t, const char*, mode_t) noexcept { ReplyReadOnly(req, "mkdir"); }
void Unlink(fuse_req_t req, fuse_ino_t, const char*) noexcept { ReplyReadOnly(req, "unlink"); }
void RmDir(fuse_req_t req, fuse_ino_t, const char*) noexcept { ReplyReadOnly(req, "rmdir"); }
void Rename(fuse_req_t req, fuse_ino_t, const char*, fuse_ino_t, const char*,
            unsigned int) noexcept {
  ReplyReadOnly(req, "rename");
}
void Link(fuse_req_t req, fuse_ino_t, fuse_ino_t, const char*) noexcept {
  ReplyReadOnly(req, "link");
}
void Create(fuse_req_t req, fuse_ino_t, const char*, mode_t, fuse_file_info*) noexcept {
  ReplyReadOnly(req, "create");
}
void MkNod(fuse_req_t req, fuse_ino_t, const char*, mode_t, dev_t) noexcept {
  ReplyReadOnly(req, "mknod");
}
void Symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) noexcept {
  ReplyReadOnly(req, "symlink");
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
  ops.flush = Flush;
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
