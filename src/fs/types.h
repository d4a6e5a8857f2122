// Plain types the filesystem hands to the FUSE layer: attributes, entries,
// and the sink a directory listing is written into. No libfuse here.
#ifndef IMMICHFS_FS_TYPES_H_
#define IMMICHFS_FS_TYPES_H_

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

#include "fs/inode_table.h"

namespace immichfs::fs {

struct Attr {
  Ino ino = 0;
  mode_t mode = 0;
  nlink_t nlink = 1;
  uint64_t size = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  timespec atime{};
  timespec mtime{};
  timespec ctime{};
};

struct Entry {
  Attr attr;
  uint64_t generation = 0;
  double attr_timeout = 1.0;
  double entry_timeout = 1.0;
};

// Receives a directory listing. Add returns false when the reply buffer is
// full; the entry was then not taken and the listing resumes at its offset.
class DirSink {
 public:
  virtual ~DirSink() = default;
  virtual bool Add(absl::string_view name, const Entry& entry, uint64_t next_offset) = 0;
};

struct OpenResult {
  uint64_t fh = 0;
  bool keep_cache = false;   // the kernel's cached pages of this file are still right
  bool direct_io = false;    // for files whose size is not known ahead (status JSON)
};

// What a setattr asks for. Fields left unset are not to be changed.
struct SetAttrRequest {
  std::optional<uint64_t> size;
  std::optional<timespec> mtime;  // resolved by the caller (UTIME_NOW -> now)
  // mode, uid, gid, atime, ctime: accepted and ignored (DESIGN.md: chmod and
  // chown succeed and change nothing); true when any of them was asked for.
  bool ignored = false;
};

struct CreateResult {
  Entry entry;
  OpenResult open;
};

// Tells the kernel that what it cached is no longer true: a name now means
// another inode or nothing, or an inode's attributes changed. Implemented in
// fuse_ll/ (fuse_lowlevel_notify_inval_*). The fs calls it only from threads
// that serve no FUSE request (the spool's workers) and with no lock held,
// because the kernel may hold the directory's lock while it waits for a
// request that needs one of ours.
class KernelNotifier {
 public:
  virtual ~KernelNotifier() = default;
  virtual void InvalEntry(Ino parent, const std::string& name) = 0;
  // Attributes only: the page cache stays (the bytes did not change).
  virtual void InvalAttr(Ino ino) = 0;
};

struct FsStat {
  uint64_t block_size = 4096;
  uint64_t blocks = 0;
  uint64_t blocks_free = 0;
  uint64_t blocks_avail = 0;
  uint64_t files = 0;
  uint64_t name_max = 255;
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_TYPES_H_
