// The FUSE session's life: create, mount, detach, serve, unmount. Split in
// two so that main() can fork into the background after the mount succeeded
// (errors still reach the terminal) and before any thread starts.
#ifndef IMMICHFS_FUSE_LL_SESSION_H_
#define IMMICHFS_FUSE_LL_SESSION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "fs/filesystem.h"

namespace immichfs::fuse_ll {

struct SessionOptions {
  std::string mountpoint;
  std::vector<std::string> fuse_options;  // each handed to libfuse as "-o X"
  bool debug = false;
  bool single_thread = false;
  std::string fsname;                     // shown in /proc/mounts
};

class Session {
 public:
  ~Session();
  // Creates the session and mounts. kFailedPrecondition when the mountpoint
  // is unusable; the message says why.
  static absl::StatusOr<std::unique_ptr<Session>> Mount(const SessionOptions& options);
  // Forks into the background unless `foreground`; the parent exits 0.
  absl::Status Daemonize(bool foreground);
  // Serves requests until unmounted or signalled. Blocks.
  absl::Status Run(fs::Filesystem* fs);
  // Tells the kernel about changes it did not make itself (fs/types.h). Valid
  // for the life of the Session; callers must stop using it before.
  fs::KernelNotifier* notifier();

 private:
  Session() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace immichfs::fuse_ll

#endif  // IMMICHFS_FUSE_LL_SESSION_H_
