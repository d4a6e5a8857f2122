// The spool's recovery at Open(): every journal record and spool file left by
// an earlier mount (or a crash) becomes a pending file again, or goes to
// failed/, or is dropped as an orphan -- see spool.h for the rules.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "spool/spool.h"
#include "spool/spool_internal.h"

namespace immichfs::cache {

namespace {

// Step 2 (exclusive use): two mounts on one spool would commit, undo and
// fail each other's files, so the second one refuses to start. Guarantees on
// success: the returned fd holds an flock() on <dir>/lock, for as long as it
// stays open, and the file names our pid (best effort: a second mount quotes
// it in its refusal).
absl::StatusOr<UniqueFd> LockSpoolDir(const std::string& dir) {
  const std::string lock_path = absl::StrCat(dir, "/lock");
  UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoFromSyscall(errno, absl::StrCat("open ", lock_path));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return ErrnoFromSyscall(errno, absl::StrCat("lock ", lock_path));
    char buf[32] = {};
    ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(absl::StripAsciiWhitespace(absl::string_view(
                                  buf, static_cast<size_t>(n))))
                            : "";
    std::string cache_dir = dir;
    if (size_t slash = cache_dir.find_last_of('/'); slash != std::string::npos && slash > 0) {
      cache_dir.resize(slash);
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "cache_dir ", cache_dir, " is in use by another immichfs mount",
        pid.empty() ? "" : absl::StrCat(" (pid ", pid, ")"),
        "; give each mount its own -o cache_dir="));
  }
  std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    LOG(kWarning, "spool %s: could not note the pid in %s: %s", dir, lock_path,
        std::strerror(errno));
  }
  return fd;
}

// The size of a file's data, nullopt if it cannot be stat()ed (then *err
// says why: only ENOENT means there is nothing).
std::optional<uint64_t> DataSize(const Journal& journal, PendingId id, int* err = nullptr) {
  struct stat st;
  if (::stat(journal.DataPath(id).c_str(), &st) != 0) {
    if (err != nullptr) *err = errno;
    return std::nullopt;
  }
  return static_cast<uint64_t>(st.st_size);
}

// Sends a file no client was told is written to failed/, with `why`. Never
// fails: a file that cannot be moved stays in the spool (logged), for the
// next start.
void FailAtRecovery(const Journal& journal, const JournalRecord& rec, const absl::Status& why,
                    absl::Time now) {
  absl::StatusOr<FailedFile> f = journal.MoveToFailed(rec, now, why, WhatToDo(why));
  if (!f.ok()) {
    LOG(kError, "spool %s: could not move '%s' to failed/: %s; it stays in the spool",
        journal.dir(), rec.name, f.status().ToString());
    return;
  }
  LOG(kError, "spool: '%s' (album %s) was not committed: %s. Moved to %s; %s", rec.name,
      rec.album_id, why.message(), f->path, WhatToDo(why));
}

// Step 4 (orphans): data without a readable record. Guarantees: an empty one
// is removed, any other is in failed/ (or logged as staying), named
// "unnamed" since its album and name are unknown.
void FailOrphans(const Journal& journal, const std::vector<PendingId>& orphans, absl::Time now) {
  for (PendingId id : orphans) {
    int err = 0;
    std::optional<uint64_t> size = DataSize(journal, id, &err);
    if (!size && err != ENOENT) {
      // Not known to be empty (EIO, EACCES): never removed on a guess.
      LOG(kError, "spool %s: cannot stat %s (%s); it stays in the spool for the next start",
          journal.dir(), journal.DataPath(id), std::strerror(err));
      continue;
    }
    if (size.value_or(0) == 0) {
      (void)journal.Remove(id);
      continue;
    }
    JournalRecord rec;
    rec.id = id;
    rec.name = "unnamed";
    rec.size = *size;
    FailAtRecovery(journal, rec,
                   absl::DataLossError("found in the spool without a valid journal record "
                                       "(immichfs stopped before the file was closed, or the "
                                       "record is damaged); album and name are unknown"),
                   now);
  }
}

// Step 5 (records), one record: a file that was still open ("writing") or
// whose size differs from its record goes to failed/ (or, created and never
// written, is removed); a file that cannot be opened stays for the next
// start. Returns the rest as a new entry with its data open and its
// incomplete mark restored, nullptr for the others. rec is left for the
// caller to move into the entry.
std::shared_ptr<Entry> ReopenRecord(const Journal& journal, JournalRecord& rec,
                                    absl::Time now) {
  int err = 0;
  std::optional<uint64_t> size = DataSize(journal, rec.id, &err);
  if (!size && err != ENOENT) {
    // Not known to be empty or short (EIO, EACCES): never removed on a guess.
    LOG(kError, "spool %s: cannot stat %s (%s); it stays in the spool for the next start",
        journal.dir(), journal.DataPath(rec.id), std::strerror(err));
    return nullptr;
  }
  if (rec.state == JournalRecord::State::kWriting || size != rec.size) {
    if (rec.state == JournalRecord::State::kWriting && size.value_or(0) == 0) {
      (void)journal.Remove(rec.id);  // created, never written, never closed
      return nullptr;
    }
    rec.size = size.value_or(0);
    FailAtRecovery(journal, rec,
                   absl::DataLossError(
                       rec.state == JournalRecord::State::kWriting
                           ? "immichfs stopped while the file was being written (it was never "
                             "closed), so it may be incomplete"
                           : "its size differs from the journal record"),
                   now);
    return nullptr;
  }
  UniqueFd fd(::open(journal.DataPath(rec.id).c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    LOG(kError, "spool: cannot open %s: %s; it stays in the spool for the next start",
        journal.DataPath(rec.id), std::strerror(errno));
    return nullptr;
  }
  auto e = std::make_shared<Entry>();
  {
    absl::MutexLock io(&e->io_mu);
    e->fd = std::move(fd);
    e->disk_state = JournalRecord::State::kPending;
    e->hash_ok = false;  // the hasher never saw these bytes
    // Bytes the disk lost before the restart are still lost: the file
    // answers as it did until a truncate to 0.
    if (rec.write_lost) e->io_error = ErrnoError(rec.write_errno, rec.write_error);
  }
  if (!rec.write_error.empty()) {
    LOG(kWarning, "spool: '%s' (album %s) is incomplete (%s); it is not committed until it "
        "is written again from the start (O_TRUNC), or deleted", rec.name, rec.album_id,
        rec.write_error);
  }
  return e;
}

}  // namespace

// Steps: 1 the directories, 2 the lock, 3 the journal scan, 4 orphaned data,
// 5 the records, each resumed as a pending file or sent to failed/.
absl::Status Spool::Impl::Recover() {
  if (absl::Status st = journal_.Init(); !st.ok()) return st;
  absl::StatusOr<UniqueFd> lock = LockSpoolDir(dir());
  if (!lock.ok()) return lock.status();
  lock_fd_ = std::move(*lock);
  absl::StatusOr<Journal::Scan> scan = journal_.Load();
  if (!scan.ok()) return scan.status();
  for (const std::string& p : scan->problems) LOG(kWarning, "spool %s: %s", dir(), p);
  {
    absl::MutexLock l(&mu_);
    next_id_ = scan->max_id;
  }
  const absl::Time now = absl::Now();
  FailOrphans(journal_, scan->orphans, now);
  int resumed = 0;
  for (JournalRecord& rec : scan->records) {
    std::shared_ptr<Entry> e = ReopenRecord(journal_, rec, now);
    if (e == nullptr) continue;
    absl::MutexLock l(&mu_);
    e->rec = std::move(rec);
    e->durable_generation = e->generation;
    e->state = e->rec.write_error.empty() ? PendingFile::State::kSettling
                                          : PendingFile::State::kIncomplete;
    entries_[e->rec.id] = e;
    ++resumed;
  }
  LOG(kInfo, "spool %s: %d pending file(s) to commit, %zu in failed/", dir(), resumed,
      journal_.ListFailed().size());
  return absl::OkStatus();
}

}  // namespace immichfs::cache
