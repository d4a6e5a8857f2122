// Turning filesystem results into FUSE replies: the one place a Status
// becomes an errno (and is logged and counted), and the conversions from
// fs:: types to libfuse structs.
#ifndef IMMICHFS_FUSE_LL_REPLY_H_
#define IMMICHFS_FUSE_LL_REPLY_H_

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "fs/types.h"

namespace immichfs::fuse_ll {

// Replies with the status's errno. ENOENT is common and expected (shells
// probe for files), so it is logged at debug; other errors at warning.
void ReplyError(fuse_req_t req, const absl::Status& status, const char* op);

struct stat ToStat(const fs::Attr& attr);
fuse_entry_param ToEntryParam(const fs::Entry& entry);

// Errors replied since the mount started, by errno, for the status file.
uint64_t ErrorsReplied();

// Collects a listing into a buffer of the kernel's requested size, with
// fuse_add_direntry or fuse_add_direntry_plus.
class DirBuffer final : public fs::DirSink {
 public:
  DirBuffer(fuse_req_t req, size_t size, bool plus);
  bool Add(absl::string_view name, const fs::Entry& entry, uint64_t next_offset) override;
  const char* data() const { return buf_.data(); }
  size_t size() const { return used_; }

 private:
  fuse_req_t req_;
  bool plus_;
  std::vector<char> buf_;
  size_t used_ = 0;
  std::string name_;  // NUL-terminated copy for libfuse
};

}  // namespace immichfs::fuse_ll

#endif  // IMMICHFS_FUSE_LL_REPLY_H_
