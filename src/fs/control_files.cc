// /.immich: what is not in Immich yet, for people and scripts.
//
//   /.immich/status        read-only JSON, rendered at open (direct_io, so
//                          readers get the whole snapshot whatever st_size
//                          said); st_size is the size of a fresh rendering.
//   /.immich/failed/       the spool's failed/ directory, read-only: each
//                          refused file as "<spool id>-<name>" and its
//                          reason as "<spool id>-<name>.reason". To clear
//                          them, delete them in <cache_dir>/spool/failed/.
//
// Status fields: server_version, pending_files (list: album, name, size,
// mtime, state, attempts, last_error, incomplete, write_error), pending_bytes,
// commits_in_flight,
// commits_done, commits_retried, recent_errors (newest last: time, name,
// error), server_calls (what the commits cost Immich: bulk_upload_checks and
// the checksums_checked in them, checks_answered_ahead, album_adds and the
// assets_added in them, uploads, uploads_in_flight), failed_files (name,
// album, size, failed_at, reason).
// Everything under /.immich answers EROFS to writes.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/iso_time.h"
#include "common/status.h"
#include "fs/filesystem.h"

namespace immichfs::fs {
namespace {

constexpr char kControlRoot[] = "immich";
constexpr char kFailedDir[] = "failed";
constexpr char kStatus[] = "status";
constexpr char kFailedPrefix[] = "failed/";

std::string Json(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

const char* StateName(cache::PendingFile::State s) {
  switch (s) {
    case cache::PendingFile::State::kOpen: return "open";
    case cache::PendingFile::State::kSettling: return "settling";
    case cache::PendingFile::State::kCommitting: return "committing";
    case cache::PendingFile::State::kIncomplete: return "incomplete";
  }
  return "unknown";
}

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string Filesystem::FailedPath(const std::string& base) const {
  return absl::StrCat(spool_->dir(), "/failed/", base);
}

absl::StatusOr<Entry> Filesystem::LookupControl(const NodeRef& dir, const std::string& name) {
  NodeRef ref;
  if (dir.kind == NodeKind::kRoot) {
    ref = NodeRef{NodeKind::kControlDir, kControlRoot};
  } else if (dir.id == kControlRoot && name == kStatus) {
    ref = NodeRef{NodeKind::kControlFile, kStatus};
  } else if (dir.id == kControlRoot && name == kFailedDir) {
    ref = NodeRef{NodeKind::kControlDir, kFailedDir};
  } else if (dir.id == kFailedDir && spool_ != nullptr && name != "." && name != ".." &&
             name.find('/') == std::string::npos) {
    struct stat st;
    if (::stat(FailedPath(name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return absl::NotFoundError(absl::StrCat("no '", name, "' in /.immich/failed"));
    }
    ref = NodeRef{NodeKind::kControlFile, absl::StrCat(kFailedPrefix, name)};
  } else {
    return absl::NotFoundError(absl::StrCat("no '", name, "' in /.immich"));
  }
  Ino ino = inodes_.Get(ref.kind, ref.id);
  return ControlEntry(ino, ref);
}

absl::StatusOr<Entry> Filesystem::ControlEntry(Ino ino, const NodeRef& ref) {
  if (ref.kind == NodeKind::kControlDir) {
    Entry e = DirEntry(ino, mount_time_);
    e.attr.mode = S_IFDIR | (0555 & ~options_.umask);
    return e;
  }
  Entry e = BaseEntry(ino, S_IFREG, 0444);
  // The status changes all the time: the kernel must ask every time.
  e.attr_timeout = 0;
  e.entry_timeout = 1;
  if (ref.id == kStatus) {
    e.attr.size = StatusJson().size();
    timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    e.attr.atime = e.attr.mtime = e.attr.ctime = now;
    return e;
  }
  if (spool_ == nullptr) return absl::NotFoundError("no spool");
  struct stat st;
  const std::string path = FailedPath(ref.id.substr(sizeof(kFailedPrefix) - 1));
  if (::stat(path.c_str(), &st) != 0) return ErrnoFromSyscall(errno, absl::StrCat("stat ", path));
  e.attr.size = static_cast<uint64_t>(st.st_size);
  e.attr.atime = st.st_atim;
  e.attr.mtime = st.st_mtim;
  e.attr.ctime = st.st_ctim;
  return e;
}

absl::Status Filesystem::ListControl(Ino ino, const NodeRef& ref, DirSnapshot& snap) {
  absl::StatusOr<Entry> self = ControlEntry(ino, ref);
  if (!self.ok()) return self.status();
  snap.entries.emplace_back(".", *self);
  if (ref.id == kControlRoot) {
    snap.entries.emplace_back("..", RootEntry());
    for (const char* name : {kFailedDir, kStatus}) {
      absl::StatusOr<Entry> e = LookupControl(ref, name);
      if (e.ok()) snap.entries.emplace_back(name, *e);
    }
    return absl::OkStatus();
  }
  Ino parent = inodes_.Get(NodeKind::kControlDir, kControlRoot);
  snap.entries.emplace_back("..", ControlEntry(parent, NodeRef{NodeKind::kControlDir,
                                                               kControlRoot}).value());
  if (spool_ == nullptr) return absl::OkStatus();
  for (const cache::FailedFile& f : spool_->Stats().failed) {
    for (const std::string& path : {f.path, f.reason_path}) {
      std::string name = Basename(path);
      absl::StatusOr<Entry> e = LookupControl(ref, name);
      if (e.ok()) snap.entries.emplace_back(name, *e);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<OpenResult> Filesystem::OpenControl(const NodeRef& ref, int flags) {
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
    return ErrnoError(EROFS, "/.immich is read-only");
  }
  auto handle = std::make_unique<FileHandle>();
  if (ref.id == kStatus) {
    handle->kind = FileHandle::Kind::kText;
    handle->text = StatusJson();
  } else {
    if (spool_ == nullptr) return absl::NotFoundError("no spool");
    const std::string path = FailedPath(ref.id.substr(sizeof(kFailedPrefix) - 1));
    handle->kind = FileHandle::Kind::kFailedFile;
    handle->fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!handle->fd.valid()) return ErrnoFromSyscall(errno, absl::StrCat("open ", path));
  }
  OpenResult result;
  result.direct_io = true;  // sizes are not stable (status) or not worth caching
  result.fh = NewHandle(std::move(handle));
  return result;
}

std::string Filesystem::StatusJson() {
  std::string version;
  {
    absl::MutexLock lock(&info_mu_);
    version = server_version_;
  }
  std::string out = absl::StrCat("{\n  \"server_version\": ", Json(version));
  if (spool_ == nullptr) return absl::StrCat(out, ",\n  \"spool\": null\n}\n");
  cache::SpoolStats stats = spool_->Stats();
  absl::StrAppend(&out, ",\n  \"pending_files\": [");
  const char* sep = "\n";
  for (const cache::PendingFile& f : spool_->List("")) {
    std::optional<AlbumView> album = catalog_.AlbumById(f.album_id);
    absl::StrAppend(&out, sep, "    {\"album\": ", Json(album ? album->shown : f.album_id),
                    ", \"album_id\": ", Json(f.album_id), ", \"name\": ", Json(f.name),
                    ", \"size\": ", f.size, ", \"mtime\": ", Json(FormatIsoTime(f.mtime)),
                    ", \"state\": ", Json(StateName(f.state)), ", \"attempts\": ", f.attempts,
                    ", \"last_error\": ",
                    Json(f.last_error.ok() ? "" : f.last_error.ToString()),
                    ", \"incomplete\": ", f.write_error.ok() ? "false" : "true",
                    ", \"write_error\": ",
                    Json(f.write_error.ok() ? "" : std::string(f.write_error.message())), "}");
    sep = ",\n";
  }
  absl::StrAppend(&out, "\n  ],\n  \"pending_bytes\": ", stats.pending_bytes,
                  ",\n  \"commits_in_flight\": ", stats.commits_in_flight,
                  ",\n  \"commits_done\": ", stats.commits_done,
                  ",\n  \"commits_retried\": ", stats.commits_retried,
                  ",\n  \"recent_errors\": [");
  sep = "\n";
  for (const cache::SpoolStats::Error& e : stats.recent_errors) {
    absl::StrAppend(&out, sep, "    {\"time\": ", Json(FormatIsoTime(e.when)),
                    ", \"name\": ", Json(e.name), ", \"error\": ", Json(e.status.ToString()),
                    "}");
    sep = ",\n";
  }
  if (call_stats_) {
    // What the commits cost the server: calls and the items they carried.
    immich::BatchingStats b = call_stats_();
    absl::StrAppend(&out, "\n  ],\n  \"server_calls\": {\"bulk_upload_checks\": ", b.check_calls,
                    ", \"checksums_checked\": ", b.check_items,
                    ", \"checks_answered_ahead\": ", b.checks_ahead_used,
                    ", \"album_adds\": ", b.add_calls, ", \"assets_added\": ", b.add_items,
                    ", \"uploads\": ", b.uploads, ", \"uploads_in_flight\": ",
                    b.uploads_in_flight, "}");
    absl::StrAppend(&out, ",\n  \"failed_files\": [");
  } else {
    absl::StrAppend(&out, "\n  ],\n  \"failed_files\": [");
  }
  sep = "\n";
  for (const cache::FailedFile& f : stats.failed) {
    absl::StrAppend(&out, sep, "    {\"file\": ", Json(Basename(f.path)),
                    ", \"name\": ", Json(f.name), ", \"album_id\": ", Json(f.album_id),
                    ", \"size\": ", f.size, ", \"failed_at\": ", Json(FormatIsoTime(f.failed_at)),
                    ", \"reason\": ", Json(f.reason), "}");
    sep = ",\n";
  }
  absl::StrAppend(&out, "\n  ]\n}\n");
  return out;
}

}  // namespace immichfs::fs
