// Plain types the filesystem hands to the FUSE layer: attributes, entries,
// and the sink a directory listing is written into. No libfuse here.
#ifndef IMMICHFS_FS_TYPES_H_
#define IMMICHFS_FS_TYPES_H_

#include <sys/types.h>

#include <cstdint>
#include <ctime>
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
