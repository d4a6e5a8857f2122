// The spool's per-file mechanics shared by the file operations (spool.cc)
// and the workers (spool_worker.cc): finding entries, sending data to disk
// behind a writer, making data and journal durable, marking a file
// incomplete, the size check, keeping an upload's bytes apart from later
// writes; and the read-only queries (List, Get, FindIf, Stats).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "spool/spool.h"
#include "spool/spool_internal.h"

namespace immichfs::cache {
namespace {

// Written data is sent towards the disk in steps of this much (WriteBehind).
constexpr uint64_t kEarlyWriteback = 8 << 20;
// Kept free on the spool's filesystem for journal records and failed/
// reasons (CheckFits): at most this, at most 1/64 of the filesystem.
constexpr uint64_t kSpoolMargin = 1 << 20;

}  // namespace

absl::StatusOr<Spool::Impl::EntryPtr> Spool::Impl::Find(PendingId id, bool allow_unlinked) {
  absl::MutexLock l(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second->gone ||
      (it->second->unlinked && !allow_unlinked)) {
    return absl::NotFoundError(absl::StrCat("no pending file with spool id ", id));
  }
  return it->second;
}

std::string Spool::Impl::Describe(const Entry& e) const {
  return absl::StrCat("'", e.rec.name, "' in album ", e.rec.album_id, " (spool id ", e.rec.id,
                      ")");
}

PendingFile Spool::Impl::ToPendingFile(const Entry& e) const {
  PendingFile f;
  f.id = e.rec.id;
  f.album_id = e.rec.album_id;
  f.name = e.rec.name;
  f.size = e.rec.size;
  f.mtime = e.rec.mtime;
  f.replaces_asset_id = e.rec.replaces_asset_id;
  f.state = e.state;
  f.attempts = e.rec.attempts;
  f.last_error = e.last_error;
  if (e.committed) f.committed_asset_id = e.committed->asset_id;
  if (!e.rec.write_error.empty()) f.write_error = ErrnoError(e.rec.write_errno, e.rec.write_error);
  return f;
}

void Spool::Impl::Schedule(Entry& e, absl::Duration delay) {
  if (e.state == PendingFile::State::kCommitting) return;  // its worker decides
  if (e.handles > 0) {
    e.state = PendingFile::State::kOpen;
    return;
  }
  if (!e.rec.write_error.empty()) {
    e.state = PendingFile::State::kIncomplete;  // never picked by a worker
    return;
  }
  e.state = PendingFile::State::kSettling;
  e.due = absl::Now() + delay;
  cv_.SignalAll();
}

ssize_t Spool::Impl::PWrite(int fd, const char* data, size_t size, off_t offset) const {
  if (options_.pwrite_for_test) return options_.pwrite_for_test(fd, data, size, offset);
  return ::pwrite(fd, data, size, offset);
}

void Spool::Impl::WriteBehind(Entry& e, uint64_t end, const std::string& what) {
  // Start writing a sequential file's data to disk while it streams in, so
  // the fdatasync at close waits for the last few MiB, not the whole file
  // (1 GiB took ~0.75 s there). The step started one step ago is waited for
  // and its pages dropped: the next writes reuse pages just freed instead of
  // fresh ones (on the bench VM, writes into fresh page-cache pages were 41%
  // of the daemon's CPU while a 1 GiB file was copied in), and a big file
  // does not push everything else out of the page cache. The upload reads
  // the file back from disk, faster than any server takes it.
  if (end < e.writeback_from + kEarlyWriteback) return;
  const int fd = e.fd.get();
  (void)::sync_file_range(fd, static_cast<off_t>(e.writeback_from),
                          static_cast<off_t>(end - e.writeback_from), SYNC_FILE_RANGE_WRITE);
  if (e.dropped_upto < e.writeback_from && e.io_error.ok()) {
    const off_t from = static_cast<off_t>(e.dropped_upto);
    const off_t length = static_cast<off_t>(e.writeback_from - e.dropped_upto);
    const int rc = options_.writeback_wait_for_test
                       ? options_.writeback_wait_for_test(fd, from, length)
                       : ::sync_file_range(fd, from, length,
                                           SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                               SYNC_FILE_RANGE_WAIT_AFTER);
    if (rc != 0) {
      // Waiting consumed the kernel's one report of a writeback error: a
      // later fdatasync would return 0. Sticky, as fdatasync's own.
      const int err = errno;
      e.io_error = ErrnoFromSyscall(err, absl::StrCat("writeback of ", what));
      LOG(kError, "spool: %s", e.io_error.message());
      MarkIncomplete(e, e.io_error, /*lost=*/true);
    } else {
      (void)::posix_fadvise(fd, from, length, POSIX_FADV_DONTNEED);
      e.dropped_upto = e.writeback_from;
    }
  }
  e.writeback_from = end;
}

absl::Status Spool::Impl::SyncData(Entry& e) {
  if (!e.io_error.ok()) return e.io_error;
  if (!e.data_dirty) return absl::OkStatus();
  const int rc = options_.fdatasync_for_test ? options_.fdatasync_for_test(e.fd.get())
                                             : ::fdatasync(e.fd.get());
  if (rc != 0) {
    const int err = errno;
    {
      absl::MutexLock l(&mu_);
      // The kernel reports a writeback error once: remember it, or a later
      // fdatasync returns 0 and bytes that never reached the disk commit.
      e.io_error = ErrnoFromSyscall(err, absl::StrCat("fdatasync of ", Describe(e)));
    }
    MarkIncomplete(e, e.io_error, /*lost=*/true);
    return e.io_error;
  }
  e.data_dirty = false;
  return absl::OkStatus();
}

absl::Status Spool::Impl::MakeDurable(Entry& e) {
  // A failed sync marks the file incomplete; the record still goes to disk
  // (as pending, with the mark), so a restart keeps it and does not commit.
  // A record that cannot be written marks it too: the close, flush or fsync
  // returns the error, so the file must not commit after the settle time.
  const absl::Status synced = SyncData(e);
  absl::Status recorded = PersistRecord(e, synced.ok());
  if (synced.ok() && !recorded.ok()) MarkIncomplete(e, recorded, /*lost=*/false);
  return synced.ok() ? recorded : synced;
}

absl::Status Spool::Impl::PersistRecord(Entry& e, bool data_synced) {
  JournalRecord record;
  uint64_t generation = 0;
  {
    absl::MutexLock l(&mu_);
    if (e.unlinked) return absl::OkStatus();
    if (data_synced && e.rec.sha1_hex.empty() && e.hash_ok && e.hashed_upto == e.rec.size) {
      e.rec.sha1_hex = ToHex(e.hasher->Final());
      e.hash_ok = false;  // Final() consumed the state; later appends rehash at commit
    }
    if (e.durable_generation == e.generation && e.disk_state == JournalRecord::State::kPending) {
      return absl::OkStatus();
    }
    record = e.rec;
    generation = e.generation;
  }
  record.state = JournalRecord::State::kPending;
  if (absl::Status st = journal_.Write(record, /*sync=*/true); !st.ok()) return st;
  e.disk_state = JournalRecord::State::kPending;
  absl::MutexLock l(&mu_);
  e.durable_generation = std::max(e.durable_generation, generation);
  return absl::OkStatus();
}

void Spool::Impl::MarkIncomplete(Entry& e, const absl::Status& error, bool lost) {
  JournalRecord record;
  uint64_t generation = 0;
  {
    absl::MutexLock l(&mu_);
    if (e.unlinked || e.gone) return;
    const bool fresh = e.rec.write_error.empty();
    if (!fresh && (e.rec.write_lost || !lost)) return;
    e.rec.write_error = std::string(error.message());
    e.rec.write_errno = ToErrno(error);
    e.rec.write_lost = e.rec.write_lost || lost;
    ++e.generation;
    if (fresh) e.incomplete_unreported = true;
    if (e.handles == 0) Schedule(e, absl::ZeroDuration());
    cv_.SignalAll();  // an Fsync waiting for a commit that will not come
    LOG(kWarning, "spool: %s is incomplete (%s); it is not committed until it is written "
        "again from the start (O_TRUNC), or deleted", Describe(e), error.message());
    if (e.disk_state != JournalRecord::State::kPending) return;  // kWriting: never commits
    record = e.rec;
    generation = e.generation;
  }
  // The record on disk says "commit me": say "incomplete" instead, at once.
  record.state = JournalRecord::State::kPending;
  if (absl::Status st = journal_.Write(record, /*sync=*/true); !st.ok()) {
    LOG(kError, "spool: could not note in the journal that '%s' is incomplete: %s",
        record.name, st.ToString());
    return;
  }
  absl::MutexLock l(&mu_);
  e.durable_generation = std::max(e.durable_generation, generation);
}

void Spool::Impl::ReportIncomplete(const EntryPtr& e) {
  PendingFile f;
  {
    absl::MutexLock l(&mu_);
    if (!e->incomplete_unreported) return;
    e->incomplete_unreported = false;
    f = ToPendingFile(*e);
  }
  if (SpoolOwner* owner = owner_.load()) owner->OnIncomplete(f);
}

absl::Status Spool::Impl::IncompleteError(const Entry& e) const {
  return ErrnoError(e.rec.write_errno,
                    absl::StrCat(Describe(e), " is incomplete and not committed: ",
                                 e.rec.write_error, "; write it again or delete it"));
}

absl::Status Spool::Impl::CheckFits(Entry& e, uint64_t size, bool appending,
                                    const std::string& what) {
  struct statvfs vfs;
  if (::statvfs(dir().c_str(), &vfs) != 0) {
    return ErrnoFromSyscall(errno, absl::StrCat("statvfs of the spool ", dir()));
  }
  struct stat st;
  if (::fstat(e.fd.get(), &st) != 0) return ErrnoFromSyscall(errno, "fstat of " + what);
  const uint64_t unit = vfs.f_frsize != 0 ? vfs.f_frsize : vfs.f_bsize;
  // What an unprivileged writer could use with the filesystem empty (root's
  // reserve left out), and what is free for us now.
  const uint64_t reserved = vfs.f_bfree > vfs.f_bavail ? vfs.f_bfree - vfs.f_bavail : 0;
  const uint64_t usable = (vfs.f_blocks > reserved ? vfs.f_blocks - reserved : 0) * unit;
  const uint64_t margin = std::min<uint64_t>(kSpoolMargin, usable / 64);
  const uint64_t occupied = static_cast<uint64_t>(st.st_blocks) * 512;
  const uint64_t room = vfs.f_bavail * unit + occupied;
  if (size + margin > usable && !appending) {
    return ErrnoError(EFBIG, absl::StrCat(
        what, ": ", std::strerror(EFBIG), ": a size of ", size,
        " bytes can never fit in the spool (its filesystem, ", dir(),
        ", holds ", usable - margin, " bytes at most); pending files must fit on the spool "
        "disk: keep the file smaller, or mount with cache_dir= on a bigger disk"));
  }
  if (size + margin > room) {
    return ErrnoError(ENOSPC, absl::StrCat(
        what, ": ", std::strerror(ENOSPC), ": a size of ", size,
        " bytes does not fit in the spool now (",
        room > margin ? room - margin : 0, " bytes free for it in ", dir(),
        "); wait for pending files to upload or free space there, then write it again"));
  }
  return absl::OkStatus();
}

absl::Status Spool::Impl::BeginDataChange(Entry& e) {
  bool unlinked;
  JournalRecord record;
  {
    absl::MutexLock l(&mu_);
    unlinked = e.unlinked;
    record = e.rec;
  }
  if (unlinked) {
    // Nobody will commit these bytes, but a commit in flight may still be
    // uploading the old ones from the same inode: copy away from it.
    return e.upload_linked ? BreakUploadLink(e, /*unlinked=*/true) : absl::OkStatus();
  }
  if (e.disk_state == JournalRecord::State::kPending) {
    // A crash from here until the next Release() leaves bytes nobody
    // confirmed: the record says so, and recovery sends them to failed/.
    record.state = JournalRecord::State::kWriting;
    if (absl::Status st = journal_.Write(record, /*sync=*/true); !st.ok()) return st;
    e.disk_state = JournalRecord::State::kWriting;
  }
  return e.upload_linked ? BreakUploadLink(e, /*unlinked=*/false) : absl::OkStatus();
}

absl::Status Spool::Impl::BreakUploadLink(Entry& e, bool unlinked) {
  // An upload reads <id>.upload, the same inode as fd. Give the writer a
  // copy as the new <id>.data, so the upload's bytes stay as they were.
  // Bytes written since the last fdatasync are synced first: if their
  // writeback failed, the kernel marked the pages clean (and the upload may
  // have dropped them), so the copy would take stale blocks from disk with
  // the error never reported.
  if (absl::Status st = SyncData(e); !st.ok()) return st;
  PendingId id;
  {
    absl::MutexLock l(&mu_);
    id = e.rec.id;
  }
  std::string tmp = journal_.TempPath(id, "data");
  UniqueFd out(::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out.valid()) return ErrnoFromSyscall(errno, absl::StrCat("create ", tmp));
  struct stat st;
  if (::fstat(e.fd.get(), &st) != 0) return ErrnoFromSyscall(errno, "fstat " + tmp);
  off_t in_off = 0, out_off = 0;
  while (in_off < st.st_size) {
    ssize_t n = ::copy_file_range(e.fd.get(), &in_off, out.get(), &out_off,
                                  static_cast<size_t>(st.st_size - in_off), 0);
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::unlink(tmp.c_str());
      return ErrnoFromSyscall(err, absl::StrCat("copy spool file to ", tmp));
    }
  }
  if (unlinked) {
    // Its names are gone from the spool: the copy lives on through fd only
    // (a <id>.data would be an orphan at the next start).
    ::unlink(tmp.c_str());
    e.fd = std::move(out);
    e.upload_linked = false;
    return absl::OkStatus();
  }
  if (::rename(tmp.c_str(), journal_.DataPath(id).c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoFromSyscall(err, absl::StrCat("rename ", tmp));
  }
  e.fd = std::move(out);
  e.upload_linked = false;
  e.data_dirty = true;  // the copy is synced (and the rename) by MakeDurable
  return absl::OkStatus();
}

absl::Status Spool::Impl::PersistClosed(Entry& e) {
  // Bytes the disk lost stay lost (the file is incomplete and says so at
  // every close): a truncate, rename or utimens of it only needs its record.
  absl::Status st = e.io_error.ok() ? MakeDurable(e) : PersistRecord(e, /*data_synced=*/false);
  absl::MutexLock l(&mu_);
  Schedule(e, options_.settle);
  return st;
}

// --- queries ------------------------------------------------------------------

std::optional<PendingFile> Spool::Impl::FindIf(const std::string& album_id,
                                               const std::string& name,
                                               const std::string& replaces_asset_id) {
  absl::MutexLock l(&mu_);
  const Entry* best = nullptr;
  for (const auto& [id, e] : entries_) {
    if (e->gone || e->unlinked || e->rec.album_id != album_id) continue;
    bool match = name.empty() ? e->rec.replaces_asset_id == replaces_asset_id
                              : e->rec.name == name;
    if (match && (best == nullptr || e->rec.id < best->rec.id)) best = e.get();
  }
  if (best == nullptr) return std::nullopt;
  return ToPendingFile(*best);
}

std::vector<PendingFile> Spool::Impl::List(const std::string& album_id) {
  std::vector<PendingFile> out;
  absl::MutexLock l(&mu_);
  for (const auto& [id, e] : entries_) {
    if (e->gone || e->unlinked) continue;
    if (album_id.empty() || e->rec.album_id == album_id) out.push_back(ToPendingFile(*e));
  }
  std::sort(out.begin(), out.end(),
            [](const PendingFile& a, const PendingFile& b) { return a.id < b.id; });
  return out;
}

std::optional<PendingFile> Spool::Impl::Get(PendingId id, bool open_unlinked) {
  absl::MutexLock l(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second->gone) return std::nullopt;
  if (it->second->unlinked && !(open_unlinked && it->second->handles > 0)) return std::nullopt;
  return ToPendingFile(*it->second);
}

std::vector<std::string> Spool::Impl::ChecksumsAhead(size_t max) const {
  std::vector<std::pair<absl::Time, const std::string*>> due;
  absl::MutexLock l(&mu_);
  for (const auto& [id, e] : entries_) {
    if (e->state != PendingFile::State::kSettling || e->gone || e->unlinked || e->handles > 0 ||
        e->rec.sha1_hex.empty() || !e->rec.write_error.empty()) {
      continue;
    }
    due.emplace_back(e->due, &e->rec.sha1_hex);
  }
  const size_t n = std::min(max, due.size());
  std::partial_sort(due.begin(), due.begin() + static_cast<ptrdiff_t>(n), due.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(*due[i].second);
  return out;
}

SpoolStats Spool::Impl::Stats() {
  SpoolStats s;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [id, e] : entries_) {
      if (e->gone || e->unlinked) continue;
      ++s.pending_files;
      s.pending_bytes += e->rec.size;
    }
    s.commits_in_flight = in_flight_;
    s.commits_done = commits_done_;
    s.commits_retried = commits_retried_;
    s.recent_errors.assign(recent_errors_.begin(), recent_errors_.end());
  }
  s.failed = journal_.ListFailed();
  return s;
}

}  // namespace immichfs::cache
