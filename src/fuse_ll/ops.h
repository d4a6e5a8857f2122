// The fuse_lowlevel_ops table. Each handler unpacks its arguments, calls one
// fs::Filesystem method and replies exactly once; no locks, no I/O here.
#ifndef IMMICHFS_FUSE_LL_OPS_H_
#define IMMICHFS_FUSE_LL_OPS_H_

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>

#include "fs/filesystem.h"

namespace immichfs::fuse_ll {

// What the handlers reach through fuse_req_userdata(). `fs` is set after the
// daemon has forked and started its threads, before the session loop runs.
struct SessionContext {
  std::atomic<fs::Filesystem*> fs{nullptr};
  size_t max_io = 1 << 20;  // max_read / max_write offered to the kernel
};

const fuse_lowlevel_ops& Operations();

}  // namespace immichfs::fuse_ll

#endif  // IMMICHFS_FUSE_LL_OPS_H_
