#include "fuse_ll/reply.h"

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "common/status.h"

namespace immichfs::fuse_ll {
namespace {

std::atomic<uint64_t> g_errors{0};

}  // namespace

void ReplyError(fuse_req_t req, const absl::Status& status, const char* op) {
  int err = ToErrno(status);
  if (err == 0) err = EIO;  // an OK status here is a bug; never reply success by accident
  ++g_errors;
  if (err == ENOENT || err == EEXIST || err == ENOTEMPTY) {
    LOG(kDebug, "%s: %s", op, status.ToString());
  } else {
    LOG(kWarning, "%s failed (%s): %s", op, std::strerror(err), status.ToString());
  }
  fuse_reply_err(req, err);
}

uint64_t ErrorsReplied() { return g_errors.load(); }

struct stat ToStat(const fs::Attr& a) {
  struct stat st;
  std::memset(&st, 0, sizeof(st));
  st.st_ino = a.ino;
  st.st_mode = a.mode;
  st.st_nlink = a.nlink;
  st.st_size = static_cast<off_t>(a.size);
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_blksize = 1 << 20;  // invites large reads and writes
  st.st_blocks = static_cast<blkcnt_t>((a.size + 511) / 512);
  st.st_atim = a.atime;
  st.st_mtim = a.mtime;
  st.st_ctim = a.ctime;
  return st;
}

fuse_entry_param ToEntryParam(const fs::Entry& e) {
  fuse_entry_param p;
  std::memset(&p, 0, sizeof(p));
  p.ino = e.attr.ino;
  p.generation = e.generation;
  p.attr = ToStat(e.attr);
  p.attr_timeout = e.attr_timeout;
  p.entry_timeout = e.entry_timeout;
  return p;
}

DirBuffer::DirBuffer(fuse_req_t req, size_t size, bool plus)
    : req_(req), plus_(plus), buf_(size) {}

bool DirBuffer::Add(absl::string_view name, const fs::Entry& entry, uint64_t next_offset) {
  name_.assign(name.data(), name.size());
  size_t room = buf_.size() - used_;
  size_t need;
  if (plus_) {
    fuse_entry_param p = ToEntryParam(entry);
    need = fuse_add_direntry_plus(req_, buf_.data() + used_, room, name_.c_str(), &p,
                                  static_cast<off_t>(next_offset));
  } else {
    struct stat st = ToStat(entry.attr);
    need = fuse_add_direntry(req_, buf_.data() + used_, room, name_.c_str(), &st,
                             static_cast<off_t>(next_offset));
  }
  if (need > room) return false;
  used_ += need;
  return true;
}

}  // namespace immichfs::fuse_ll
