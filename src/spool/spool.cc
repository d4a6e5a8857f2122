// The spool's file operations, called by the fs layer on FUSE threads.
// Shared per-file mechanics are in spool_files.cc; recovery, scheduling and
// the upload workers in spool_worker.cc.
#include "spool/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "spool/spool_internal.h"

namespace immichfs::cache {

// --- Spool: forwards to Impl --------------------------------------------------

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(SpoolOptions options,
                                                   immich::ImmichApi* api) {
  auto impl = std::make_unique<Impl>(std::move(options), api);
  if (absl::Status st = impl->Recover(); !st.ok()) return st;
  return std::unique_ptr<Spool>(new Spool(std::move(impl)));
}

Spool::Spool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Spool::~Spool() = default;
void Spool::Start(SpoolOwner* owner) { impl_->Start(owner); }

absl::StatusOr<PendingId> Spool::Create(const std::string& album_id, const std::string& name,
                                        absl::Time mtime, const std::string& replaces_asset_id) {
  return impl_->Create(album_id, name, mtime, replaces_asset_id);
}
absl::Status Spool::Write(PendingId id, uint64_t offset, const char* data, size_t size) {
  return impl_->Write(id, offset, data, size);
}
absl::StatusOr<size_t> Spool::Read(PendingId id, uint64_t offset, size_t size, char* buf) const {
  return impl_->Read(id, offset, size, buf);
}
absl::Status Spool::Truncate(PendingId id, uint64_t size) { return impl_->Truncate(id, size); }
absl::Status Spool::SetMtime(PendingId id, absl::Time mtime) { return impl_->SetMtime(id, mtime); }
absl::Status Spool::Rename(PendingId id, const std::string& album_id, const std::string& name,
                           std::optional<std::string> replaces_asset_id) {
  return impl_->Rename(id, album_id, name, std::move(replaces_asset_id));
}
absl::Status Spool::Unlink(PendingId id) { return impl_->Unlink(id); }
absl::Status Spool::OpenHandle(PendingId id) { return impl_->OpenHandle(id); }
absl::Status Spool::Release(PendingId id) { return impl_->Release(id); }
absl::Status Spool::Fsync(PendingId id) { return impl_->Fsync(id); }
absl::Status Spool::Flush(PendingId id) { return impl_->Flush(id); }
std::optional<PendingFile> Spool::FindByName(const std::string& album_id,
                                             const std::string& name) const {
  return impl_->FindIf(album_id, name, "");
}
std::optional<PendingFile> Spool::FindReplacing(const std::string& album_id,
                                                const std::string& asset_id) const {
  if (asset_id.empty()) return std::nullopt;
  return impl_->FindIf(album_id, "", asset_id);
}
std::vector<PendingFile> Spool::List(const std::string& album_id) const {
  return impl_->List(album_id);
}
std::optional<PendingFile> Spool::Get(PendingId id) const { return impl_->Get(id); }
std::optional<PendingFile> Spool::GetOpen(PendingId id) const {
  return impl_->Get(id, /*open_unlinked=*/true);
}
SpoolStats Spool::Stats() const { return impl_->Stats(); }
std::vector<std::string> Spool::ChecksumsAhead(size_t max) const {
  return impl_->ChecksumsAhead(max);
}
const std::string& Spool::dir() const { return impl_->dir(); }

// --- file operations ---------------------------------------------------------

absl::StatusOr<PendingId> Spool::Impl::Create(const std::string& album_id,
                                              const std::string& name, absl::Time mtime,
                                              const std::string& replaces_asset_id) {
  PendingId id;
  {
    absl::MutexLock l(&mu_);
    id = ++next_id_;
  }
  auto e = std::make_shared<Entry>();
  e->rec.id = id;
  e->rec.state = JournalRecord::State::kWriting;
  e->rec.album_id = album_id;
  e->rec.name = name;
  e->rec.mtime = mtime;
  e->rec.replaces_asset_id = replaces_asset_id;
  std::string path = journal_.DataPath(id);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return ErrnoFromSyscall(errno, absl::StrCat("create spool file ", path, " for '", name,
                                                "' in album ", album_id));
  }
  // Not synced: until the first Release() nothing is owed, and a record that
  // did not make it leaves an orphan that recovery moves to failed/.
  if (absl::Status st = journal_.Write(e->rec, /*sync=*/false); !st.ok()) {
    ::unlink(path.c_str());
    return st;
  }
  {
    absl::MutexLock io(&e->io_mu);
    e->fd = std::move(fd);
    e->disk_state = JournalRecord::State::kWriting;
  }
  absl::MutexLock l(&mu_);
  e->handles = 1;
  entries_[id] = e;
  LOG(kDebug, "spool: created %s", Describe(*e));
  return id;
}

absl::Status Spool::Impl::Write(PendingId id, uint64_t offset, const char* data, size_t size) {
  absl::StatusOr<EntryPtr> found = Find(id, /*allow_unlinked=*/true);
  if (!found.ok()) return found.status();
  absl::Status st = WriteLocked(**found, offset, data, size);
  ReportIncomplete(*found);
  return st;
}

absl::Status Spool::Impl::WriteLocked(Entry& e, uint64_t offset, const char* data,
                                      size_t size) {
  absl::MutexLock io(&e.io_mu);
  uint64_t old_size;
  std::string what;
  {
    absl::MutexLock l(&mu_);
    if (e.finishing || (e.gone && !e.unlinked)) return absl::NotFoundError("file was committed");
    old_size = e.rec.size;
    what = Describe(e);
  }
  // Earlier bytes may not have reached the disk: say so now rather than
  // take gigabytes more and fail at close.
  if (!e.io_error.ok()) return e.io_error;
  // Every failure from here on is a failed write: the file is incomplete.
  if (offset + size > old_size) {
    if (absl::Status st =
            CheckFits(e, offset + size, /*appending=*/offset <= old_size, "write to " + what);
        !st.ok()) {
      MarkIncomplete(e, st, /*lost=*/false);  // logs it
      return st;
    }
  }
  if (absl::Status st = BeginDataChange(e); !st.ok()) {
    MarkIncomplete(e, st, /*lost=*/false);
    return st;
  }
  size_t done = 0;
  int err = 0;
  while (done < size) {
    ssize_t n = PWrite(e.fd.get(), data + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err != 0) {
    // Leave the file as it was: drop whatever part of the write extended it.
    struct stat st;
    if (::fstat(e.fd.get(), &st) == 0 && static_cast<uint64_t>(st.st_size) > old_size) {
      (void)::ftruncate(e.fd.get(), static_cast<off_t>(old_size));
    }
    if (done > 0) {
      e.hash_ok = false;
      e.data_dirty = true;
      absl::MutexLock l(&mu_);
      e.rec.sha1_hex.clear();
      ++e.generation;
    }
    LOG(kWarning, "spool: write of %zu bytes at %d to %s failed: %s", size, offset, what,
        std::strerror(err));
    absl::Status error =
        ErrnoError(err, absl::StrCat("write to ", what, ": ", std::strerror(err)));
    MarkIncomplete(e, error, /*lost=*/false);
    return error;
  }
  if (e.hash_ok && offset == e.hashed_upto) {
    e.hasher->Update(data, size);
    e.hashed_upto += size;
  } else {
    e.hash_ok = false;  // out of order: hashed from the file at commit
  }
  WriteBehind(e, offset + size, what);
  e.data_dirty = true;
  absl::MutexLock l(&mu_);
  e.rec.size = std::max(old_size, offset + size);
  e.rec.mtime = absl::Now();
  e.rec.sha1_hex.clear();
  ++e.generation;
  return absl::OkStatus();
}

absl::StatusOr<size_t> Spool::Impl::Read(PendingId id, uint64_t offset, size_t size, char* buf) {
  absl::StatusOr<EntryPtr> found = Find(id, /*allow_unlinked=*/true);
  if (!found.ok()) return found.status();
  Entry& e = **found;
  absl::ReaderMutexLock io(&e.io_mu);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(e.fd.get(), buf + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::MutexLock l(&mu_);
      return ErrnoFromSyscall(errno, absl::StrCat("read of ", Describe(e)));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

absl::Status Spool::Impl::Truncate(PendingId id, uint64_t size) {
  absl::StatusOr<EntryPtr> found = Find(id, /*allow_unlinked=*/true);
  if (!found.ok()) return found.status();
  absl::Status st = TruncateLocked(**found, size);
  ReportIncomplete(*found);  // a closed file's sync can fail here
  return st;
}

absl::Status Spool::Impl::TruncateLocked(Entry& e, uint64_t size) {
  absl::MutexLock io(&e.io_mu);
  bool closed;
  std::string what;
  {
    absl::MutexLock l(&mu_);
    if (e.finishing || (e.gone && !e.unlinked)) return absl::NotFoundError("file was committed");
    closed = e.handles == 0 && !e.unlinked;
    what = Describe(e);
  }
  uint64_t old_size;
  {
    absl::MutexLock l(&mu_);
    old_size = e.rec.size;
  }
  if (size > old_size) {
    // Refused, the file stays as it was (and complete if it was).
    if (absl::Status st = CheckFits(e, size, /*appending=*/false, "truncate of " + what);
        !st.ok()) {
      return st;
    }
  }
  if (absl::Status st = BeginDataChange(e); !st.ok()) return st;
  if (::ftruncate(e.fd.get(), static_cast<off_t>(size)) != 0) {
    return ErrnoFromSyscall(errno, absl::StrCat("truncate of ", what));
  }
  if (size == 0) {
    e.hasher->Reset();
    e.hashed_upto = 0;
    e.hash_ok = true;
  } else if (size != e.hashed_upto) {
    e.hash_ok = false;
  }
  // Rewritten from `size` on: early writeback resumes there.
  e.writeback_from = std::min(e.writeback_from, size);
  e.dropped_upto = std::min(e.dropped_upto, size);
  e.data_dirty = true;
  {
    absl::MutexLock l(&mu_);
    e.rec.size = size;
    e.rec.mtime = absl::Now();
    e.rec.sha1_hex.clear();
    ++e.generation;
    // Only a rewrite (to 0) drops every byte the failure touched: a cut
    // within the file may keep a hole or old bytes where a write failed in
    // the middle (concurrent writes, an in-place pwrite).
    if (!e.rec.write_error.empty() && size == 0) {
      LOG(kInfo, "spool: %s was truncated to %d bytes after a failed write (%s); it commits "
          "once it is closed cleanly", what, size, e.rec.write_error);
      e.rec.write_error.clear();
      e.rec.write_errno = 0;
      e.rec.write_lost = false;
      e.incomplete_unreported = false;
      e.io_error = absl::OkStatus();
    } else if (!e.rec.write_error.empty()) {
      LOG(kInfo, "spool: %s stays incomplete after a truncate to %d bytes (%s); write it again "
          "from the start (O_TRUNC) or delete it", what, size, e.rec.write_error);
    }
  }
  return closed ? PersistClosed(e) : absl::OkStatus();
}

absl::Status Spool::Impl::SetMtime(PendingId id, absl::Time mtime) {
  absl::StatusOr<EntryPtr> found = Find(id, /*allow_unlinked=*/false);
  if (!found.ok()) return found.status();
  absl::Status st = SetMtimeLocked(**found, mtime);
  ReportIncomplete(*found);  // a closed file's sync can fail here
  return st;
}

absl::Status Spool::Impl::SetMtimeLocked(Entry& e, absl::Time mtime) {
  absl::MutexLock io(&e.io_mu);
  bool closed;
  {
    absl::MutexLock l(&mu_);
    if (e.finishing || e.gone) return absl::NotFoundError("file was committed");
    e.rec.mtime = mtime;
    ++e.generation;
    closed = e.handles == 0;
  }
  return closed ? PersistClosed(e) : absl::OkStatus();
}

absl::Status Spool::Impl::Rename(PendingId id, const std::string& album_id,
                                 const std::string& name,
                                 std::optional<std::string> replaces_asset_id) {
  absl::StatusOr<EntryPtr> found = Find(id, /*allow_unlinked=*/false);
  if (!found.ok()) return found.status();
  absl::Status st = RenameLocked(**found, album_id, name, std::move(replaces_asset_id));
  ReportIncomplete(*found);  // a closed file's sync can fail here
  return st;
}

absl::Status Spool::Impl::RenameLocked(Entry& e, const std::string& album_id,
                                       const std::string& name,
                                       std::optional<std::string> replaces_asset_id) {
  absl::MutexLock io(&e.io_mu);
  bool closed;
  {
    absl::MutexLock l(&mu_);
    if (e.finishing || e.gone) return absl::NotFoundError("file was committed");
    LOG(kDebug, "spool: renaming %s to '%s' in album %s", Describe(e), name, album_id);
    e.rec.album_id = album_id;
    e.rec.name = name;
    if (replaces_asset_id && *replaces_asset_id != e.rec.replaces_asset_id) {
      // A new target: an earlier generation's asset is no longer ours to move.
      e.rec.replaces_asset_id = *std::move(replaces_asset_id);
      e.rec.prev_album_id.clear();
    }
    ++e.generation;
    closed = e.handles == 0;
  }
  return closed ? PersistClosed(e) : absl::OkStatus();
}

absl::Status Spool::Impl::Unlink(PendingId id) {
  absl::StatusOr<EntryPtr> found = Find(id, /*allow_unlinked=*/false);
  if (!found.ok()) return found.status();
  EntryPtr e = *found;
  absl::MutexLock io(&e->io_mu);
  bool committing;
  std::optional<CommitResult> committed;
  std::string what;
  {
    absl::MutexLock l(&mu_);
    if (e->finishing || e->gone) return absl::NotFoundError("file was committed");
    e->unlinked = true;
    committing = e->state == PendingFile::State::kCommitting;
    if (!committing) committed = e->committed;
    if (e->handles == 0 && !committing) {
      entries_.erase(id);
      e->gone = true;
    }
    what = Describe(*e);
    cv_.SignalAll();
  }
  // Open handles keep reading and writing the unlinked inode through fd.
  absl::Status st = journal_.Remove(id, /*keep_upload=*/committing);
  if (committed) {
    // An earlier generation is already in the album (fsync with the file
    // open): take it out again, as the fs would for an uploaded asset.
    if (absl::Status undo = UndoCommit(*api_, *committed);
        !undo.ok()) {
      LOG(kWarning, "spool: %s was unlinked but asset %s stays in Immich: %s", what,
          committed->asset_id, undo.ToString());
    }
  }
  LOG(kInfo, "spool: dropped pending %s%s", what,
      committing ? " (its commit in flight will be undone)" : "");
  return st;
}

absl::Status Spool::Impl::OpenHandle(PendingId id) {
  absl::StatusOr<EntryPtr> found = Find(id, /*allow_unlinked=*/false);
  if (!found.ok()) return found.status();
  Entry& e = **found;
  absl::MutexLock l(&mu_);
  if (e.finishing || e.gone) return absl::NotFoundError("file was committed");
  ++e.handles;
  if (e.state == PendingFile::State::kSettling || e.state == PendingFile::State::kIncomplete) {
    e.state = PendingFile::State::kOpen;
  }
  return absl::OkStatus();
}

absl::Status Spool::Impl::Release(PendingId id) {
  absl::StatusOr<EntryPtr> found = Find(id, /*allow_unlinked=*/true);
  if (!found.ok()) return found.status();
  absl::Status st = ReleaseLocked(*found);
  ReportIncomplete(*found);
  return st;
}

absl::Status Spool::Impl::ReleaseLocked(const EntryPtr& e) {
  const PendingId id = e->rec.id;
  absl::MutexLock io(&e->io_mu);
  bool unlinked;
  {
    absl::MutexLock l(&mu_);
    if (e->handles <= 0) {
      return absl::FailedPreconditionError(absl::StrCat("release of ", Describe(*e),
                                                        " without an open handle"));
    }
    unlinked = e->unlinked;
  }
  absl::Status st = unlinked ? absl::OkStatus() : MakeDurable(*e);
  absl::MutexLock l(&mu_);
  if (--e->handles > 0) return st;
  if (unlinked) {
    if (e->state != PendingFile::State::kCommitting) {
      auto it = entries_.find(id);
      if (it != entries_.end() && it->second == e) entries_.erase(it);
      e->gone = true;
      cv_.SignalAll();
    }
    return st;
  }
  if (!st.ok()) {
    // The client hears of it; a failed fdatasync also marked it incomplete.
    LOG(kError, "spool: could not make %s durable: %s", Describe(*e), st.ToString());
  }
  Schedule(*e, e->committed_generation == e->generation ? absl::ZeroDuration() : options_.settle);
  return st;
}

absl::Status Spool::Impl::Fsync(PendingId id) {
  absl::StatusOr<EntryPtr> found = Find(id, /*allow_unlinked=*/true);
  if (!found.ok()) return found.status();
  EntryPtr e = *found;
  absl::Status durable;
  {
    absl::MutexLock io(&e->io_mu);
    durable = MakeDurable(*e);
  }
  ReportIncomplete(e);
  if (!durable.ok()) return durable;
  // A commit refused for good (bad content, album gone) is an I/O error of
  // this fsync, not EINVAL/ENOENT of the call: EIO, with the reason.
  auto as_io_error = [](const absl::Status& st) {
    if (st.code() != absl::StatusCode::kInvalidArgument &&
        st.code() != absl::StatusCode::kNotFound &&
        st.code() != absl::StatusCode::kFailedPrecondition) {
      return st;
    }
    return ErrnoError(EIO, st.message());
  };
  absl::MutexLock l(&mu_);
  if (e->unlinked) return absl::OkStatus();
  if (!e->rec.write_error.empty()) return IncompleteError(*e);
  const uint64_t want = e->generation;
  if (e->committed_generation >= want) return absl::OkStatus();
  if (e->gone) return as_io_error(e->gone_status);
  const uint64_t seq = e->error_seq;
  e->fsync_generation = std::max(e->fsync_generation, want);
  cv_.SignalAll();
  for (;;) {
    if (e->committed_generation >= want) return absl::OkStatus();
    if (e->gone) return e->unlinked ? absl::OkStatus() : as_io_error(e->gone_status);
    if (!e->unlinked && !e->rec.write_error.empty()) {
      // The request goes with this fsync: once the mark is cleared, a
      // rewrite still open must not be taken at once as "fsync waits".
      e->fsync_generation = 0;
      return IncompleteError(*e);
    }
    if (e->error_seq != seq && e->last_error_generation >= want) {
      return as_io_error(e->last_error);
    }
    if (stopping_) {
      return absl::UnavailableError(
          absl::StrCat("spool is shutting down; ", Describe(*e), " stays pending"));
    }
    cv_.Wait(&mu_);
  }
}

absl::Status Spool::Impl::Flush(PendingId id) {
  absl::StatusOr<EntryPtr> found = Find(id, /*allow_unlinked=*/true);
  if (!found.ok()) return found.status();
  EntryPtr e = *found;
  absl::Status st;
  {
    absl::MutexLock io(&e->io_mu);
    {
      absl::MutexLock l(&mu_);
      if (e->unlinked) return absl::OkStatus();
    }
    st = MakeDurable(*e);
  }
  ReportIncomplete(e);
  return st;
}

}  // namespace immichfs::cache
