// The spool's background half: what an upload worker does with the file it
// was given (spool_schedule.cc picks it): run the commit protocol (commit.h),
// and what happens after a commit succeeded, failed for now, or failed for
// good. Recovery at Open() is in spool_recover.cc.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/backoff.h"
#include "common/log.h"
#include "common/status.h"
#include "spool/spool.h"
#include "spool/spool_internal.h"

namespace immichfs::cache {

std::string WhatToDo(const absl::Status& error) {
  if (absl::StrContains(absl::AsciiStrToLower(error.message()), "unsupported")) {
    return "Immich does not accept this file type; convert it to a supported format or keep "
           "it elsewhere.";
  }
  switch (error.code()) {
    case absl::StatusCode::kNotFound:
      return "The album (or an asset it refers to) no longer exists; copy the file into an "
             "existing album.";
    case absl::StatusCode::kPermissionDenied:
      return "The API key lacks a permission (asset.upload, albumAsset.create); fix the key, "
             "then copy the file into the album again.";
    case absl::StatusCode::kDataLoss:
      return "Check the file; if it is complete, copy it into the album again.";
    default:
      return "Read the reason, fix what it names, then copy the file into the album again.";
  }
}

Spool::Impl::Options Spool::Impl::WithOwnerHooks(SpoolOptions options, const Impl* impl) {
  Options o;
  static_cast<SpoolOptions&>(o) = std::move(options);
  o.precheck = [impl](const std::string& name, uint64_t size) {
    SpoolOwner* owner = impl->owner_.load();
    return owner != nullptr ? owner->SpoolPrecheck(name, size) : absl::OkStatus();
  };
  o.upload_name = [impl](const std::string& name) {
    SpoolOwner* owner = impl->owner_.load();
    return owner != nullptr ? owner->UploadName(name) : name;
  };
  return o;
}

Spool::Impl::Impl(SpoolOptions options, immich::ImmichApi* api)
    : options_(WithOwnerHooks(std::move(options), this)),
      api_(api),
      callbacks_{[this](const CommitResult& r) {
                   if (SpoolOwner* owner = owner_.load()) owner->OnCommitted(r);
                 },
                 [this](PendingId id, const FailedFile& f) {
                   if (SpoolOwner* owner = owner_.load()) owner->OnFailed(id, f);
                 }},
      journal_(options_.dir) {}

Spool::Impl::~Impl() { Stop(); }

// Steps: snapshot the generation (under its io_mu) / route it (unlinked,
// incomplete, refused by the precheck, no upload link) / commit it, unless it
// is in Immich already / finish (FinishSuccess, FinishFailure).
void Spool::Impl::RunJob(const EntryPtr& e) {
  CommitJob job;
  uint64_t gen = 0;
  std::optional<absl::Time> settle_end;  // an early start's
  std::optional<CommitResult> finalize;  // this generation is in Immich already
  bool unlinked = false;
  bool incomplete = false;
  absl::Status link_error;
  {
    absl::MutexLock io(&e->io_mu);
    // An fsync while the file is open commits bytes written after its
    // fdatasync too: sync them before they are sent, or a failed writeback
    // (pages marked clean, then evicted or dropped) sends stale disk blocks
    // and the error is never reported. A no-op after a close. A failure
    // marks the file incomplete.
    (void)SyncData(*e);
    {
      absl::MutexLock l(&mu_);
      unlinked = e->unlinked;
      incomplete = !e->rec.write_error.empty();
      gen = e->job_generation = e->generation;
      if (e->early_job) settle_end = e->due;
      if (e->committed_generation == gen) finalize = e->committed;
      SnapshotJobLocked(*e, job);
    }
    if (options_.upload_name) job.upload_name = options_.upload_name(job.name);
    job.data_path = journal_.UploadPath(job.id);
    job.device_asset_id = absl::StrCat(options_.device_id, "-", job.id, "-", gen);
    if (!unlinked && !finalize) link_error = LinkForUpload(*e, job);
  }
  if (unlinked) {
    FinishFailure(e, gen, absl::CancelledError("unlinked"));
    return;
  }
  if (incomplete && !finalize) {
    ParkIncomplete(e, job);
    ReportIncomplete(e);
    return;
  }
  if (!finalize && options_.precheck) {
    if (absl::Status st = options_.precheck(job.name, job.size); !st.ok()) {
      ::unlink(job.data_path.c_str());
      {
        absl::MutexLock io(&e->io_mu);
        e->upload_linked = false;
      }
      FinishFailure(e, gen, st);
      return;
    }
  }
  if (!link_error.ok()) {
    FinishFailure(e, gen, link_error);
    return;
  }
  absl::StatusOr<CommitResult> result;
  if (finalize) {
    result = *finalize;
  } else {
    result = CommitSnapshot(e, job, gen, settle_end);
  }
  if (result.ok()) {
    FinishSuccess(e, job, gen, *result);
  } else {
    FinishFailure(e, gen, result.status());
  }
}

void Spool::Impl::SnapshotJobLocked(const Entry& e, CommitJob& job) const {
  job.id = e.rec.id;
  job.size = e.rec.size;
  job.album_id = e.rec.album_id;
  job.name = e.rec.name;
  job.mtime = e.rec.mtime;
  job.sha1_hex = e.rec.sha1_hex;
  job.replaces_asset_id = e.rec.replaces_asset_id;
  job.prev_album_id = e.rec.prev_album_id;
  job.restored_asset_id = e.rec.restored_asset_id;
}

absl::Status Spool::Impl::LinkForUpload(Entry& e, const CommitJob& job) {
  ::unlink(job.data_path.c_str());
  if (::link(journal_.DataPath(job.id).c_str(), job.data_path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("link ", job.data_path, " for upload: ", std::strerror(errno)));
  }
  e.upload_linked = true;
  return absl::OkStatus();
}

void Spool::Impl::ParkIncomplete(const EntryPtr& e, const CommitJob& job) {
  // A write, flush or fsync of it failed (just now, or before an fsync
  // asked for this commit): nothing is sent; it waits for a rewrite.
  ::unlink(job.data_path.c_str());
  absl::MutexLock io(&e->io_mu);
  e->upload_linked = false;
  absl::MutexLock l(&mu_);
  --in_flight_;
  e->state = PendingFile::State::kOpen;
  Schedule(*e, options_.settle);
  cv_.SignalAll();
}

absl::StatusOr<CommitResult> Spool::Impl::CommitSnapshot(const EntryPtr& e, CommitJob& job,
                                                         uint64_t gen,
                                                         std::optional<absl::Time> settle_end) {
  CommitHooks hooks;
  if (settle_end) {
    hooks.hold = [this, e, gen, end = *settle_end] { return HoldUntilSettled(*e, gen, end); };
  }
  hooks.set_restored = [this, e](const std::string& asset_id) -> absl::Status {
    absl::MutexLock io(&e->io_mu);
    JournalRecord record;
    {
      absl::MutexLock l(&mu_);
      if (e->unlinked) return absl::OkStatus();  // the record is gone: keep it so
      e->rec.restored_asset_id = asset_id;
      record = e->rec;
    }
    record.state = e->disk_state;
    return journal_.Write(record, /*sync=*/true);
  };
  hooks.still_needed = [this, id = job.id](const std::string& asset_id) {
    return StillNeeded(id, asset_id);
  };
  absl::StatusOr<CommitResult> result = Commit(*api_, job, hooks);
  ::unlink(job.data_path.c_str());
  absl::MutexLock io(&e->io_mu);
  e->upload_linked = false;
  absl::MutexLock l(&mu_);
  if (!job.sha1_hex.empty() && e->generation == gen) e->rec.sha1_hex = job.sha1_hex;
  return result;
}

// Steps: record the outcome in the entry and the journal (RecordSuccess) /
// then by what it says: undo the commit, or leave the file pending for its
// newer changes, or hand the asset over to the owner and drop the file.
void Spool::Impl::FinishSuccess(const EntryPtr& e, const CommitJob& job, uint64_t job_gen,
                                const CommitResult& result) {
  AfterCommit next;
  {
    absl::MutexLock io(&e->io_mu);
    next = RecordSuccess(*e, job, job_gen, result);
  }
  if (next == AfterCommit::kUndo) {
    if (absl::Status st = UndoCommit(*api_, result); !st.ok()) {
      LOG(kWarning, "spool: '%s' changed during its commit; asset %s could not be taken out "
          "of album %s again: %s", job.name, result.asset_id, result.album_id, st.ToString());
    }
    LOG(kInfo, "spool: undid the commit of '%s' (asset %s), which was unlinked or renamed "
        "meanwhile", job.name, result.asset_id);
    return;
  }
  if (next == AfterCommit::kCommitAgain) {
    LOG(kInfo, "spool: committed '%s' to album %s as asset %s; newer changes follow",
        job.name, job.album_id, result.asset_id);
    return;
  }
  LOG(kInfo, "spool: committed '%s' to album %s as asset %s (%s%s)", result.name,
      result.album_id, result.asset_id, result.uploaded ? "uploaded" : "already in Immich",
      result.replaced_asset_id.empty() ? "" : ", replacing " + result.replaced_asset_id);
  if (callbacks_.on_committed) callbacks_.on_committed(result);
  if (absl::Status st = journal_.Remove(job.id); !st.ok()) {
    // Harmless: the next start re-commits it and finds it in Immich.
    LOG(kWarning, "spool: could not remove committed '%s' from the spool: %s", job.name,
        st.ToString());
  }
  absl::MutexLock l(&mu_);
  auto it = entries_.find(job.id);
  if (it != entries_.end() && it->second == e) entries_.erase(it);
  e->gone = true;
  cv_.SignalAll();
}

Spool::Impl::AfterCommit Spool::Impl::RecordSuccess(Entry& e, const CommitJob& job,
                                                    uint64_t job_gen,
                                                    const CommitResult& result) {
  bool undo = false;   // unlinked meanwhile, or renamed onto another asset
  bool leave = false;  // the latest generation is in Immich: hand over
  bool persist = false;
  JournalRecord record;
  {
    absl::MutexLock l(&mu_);
    --in_flight_;
    if (!e.unlinked && e.committed_generation != job_gen) ++commits_done_;
    if (e.unlinked) {
      undo = true;
      if (e.handles == 0) {
        entries_.erase(job.id);
        e.gone = true;
      }
      e.state = PendingFile::State::kOpen;
    } else {
      e.committed_generation = job_gen;
      e.committed = result;
      e.rec.attempts = 0;
      e.last_error = absl::OkStatus();
      if (e.generation == job_gen && e.handles == 0) {
        e.finishing = true;
        leave = true;
      } else {
        // Changed (or still open) meanwhile: the next commit overwrites
        // the asset this one made, unless a rename chose another target.
        if (e.rec.replaces_asset_id != job.replaces_asset_id) {
          undo = true;
        } else {
          e.rec.replaces_asset_id = result.asset_id;
          e.rec.prev_album_id = result.album_id;
        }
        e.rec.restored_asset_id.clear();
        record = e.rec;
        persist = true;
        e.state = PendingFile::State::kOpen;
        Schedule(e, e.generation == job_gen ? absl::ZeroDuration() : options_.settle);
      }
    }
    cv_.SignalAll();
  }
  if (persist) {
    record.state = e.disk_state;
    if (absl::Status st = journal_.Write(record, /*sync=*/true); !st.ok()) {
      LOG(kError, "spool: journal update after committing '%s' failed: %s", job.name,
          st.ToString());
    }
  }
  if (undo) return AfterCommit::kUndo;
  return leave ? AfterCommit::kHandOver : AfterCommit::kCommitAgain;
}

// Steps: an unlinked file is dropped (and an earlier version of it taken out
// of the album); any other notes the attempt and is retried or, refused for
// good, moved to failed/ (RecordFailure); the owner hears of a failed file.
void Spool::Impl::FinishFailure(const EntryPtr& e, uint64_t job_gen, const absl::Status& error) {
  std::optional<FailedFile> failed;
  PendingId id;
  // Unlinked during this commit while an earlier version (fsync with the
  // file open) is in the album: the client deleted the file, so that
  // version leaves the album as well, as Unlink does when nothing is in flight.
  std::optional<CommitResult> earlier;
  bool dropped = false;
  {
    absl::MutexLock io(&e->io_mu);
    {
      absl::MutexLock l(&mu_);
      --in_flight_;
      id = e->rec.id;
      if (e->unlinked) {
        dropped = true;
        if (e->committed && e->committed_generation != job_gen) earlier = e->committed;
        e->committed.reset();
        if (e->handles == 0) {
          entries_.erase(id);
          e->gone = true;
        }
        e->state = PendingFile::State::kOpen;
        cv_.SignalAll();
      }
    }
    // The journal entry went with the unlink: nothing more to record then.
    if (!dropped) failed = RecordFailure(e, job_gen, error);
  }
  if (earlier) {
    if (absl::Status st = UndoCommit(*api_, *earlier); !st.ok()) {
      LOG(kWarning, "spool: a deleted file's earlier version (asset %s) stays in album %s: %s",
          earlier->asset_id, earlier->album_id, st.ToString());
    } else {
      LOG(kInfo, "spool: took the earlier version (asset %s) of a deleted file out of album %s",
          earlier->asset_id, earlier->album_id);
    }
  }
  if (failed && callbacks_.on_failed) callbacks_.on_failed(id, *failed);
}

std::optional<FailedFile> Spool::Impl::RecordFailure(const EntryPtr& e, uint64_t job_gen,
                                                     const absl::Status& error) {
  const bool retry = IsRetryable(error);
  bool fail_now = false;
  JournalRecord record;
  absl::Duration delay;
  // An early start that the file's change stopped (HoldUntilSettled) is
  // no failed attempt: the new version settles like any change.
  bool superseded = false;
  {
    absl::MutexLock l(&mu_);
    superseded = error.code() == absl::StatusCode::kAborted && e->generation != job_gen;
    if (superseded) {
      e->state = PendingFile::State::kOpen;
      Schedule(*e, options_.settle);
      cv_.SignalAll();
    }
  }
  if (superseded) {
    LOG(kDebug, "spool: %s", error.message());
    return std::nullopt;
  }
  {
    absl::MutexLock l(&mu_);
    ++e->rec.attempts;
    e->last_error = error;
    e->last_error_generation = job_gen;
    ++e->error_seq;
    RecordError(*e, error);
    // A permanent error is final only for the bytes it was about, and only
    // once nobody has the file open.
    fail_now = !retry && e->generation == job_gen && e->handles == 0;
    if (!fail_now) {
      ++commits_retried_;
      // Changed meanwhile (a rename, new bytes): the new version settles
      // like any change; the old one's error says nothing about it.
      delay = retry && e->generation == job_gen ? Backoff(e->rec.attempts) : options_.settle;
      e->state = PendingFile::State::kOpen;
      Schedule(*e, delay);
      record = e->rec;
    }
    cv_.SignalAll();
  }
  if (fail_now) return Fail(e, error);
  LOG(kWarning, "spool: commit of '%s' (album %s) failed, attempt %d: %s; retrying in %s",
      record.name, record.album_id, record.attempts, error.ToString(),
      absl::FormatDuration(delay));
  // The count is advisory, but the write replaces the durable record:
  // never without fsync, or a power cut can leave it empty or torn and
  // recovery would take the confirmed bytes for an orphan.
  record.state = e->disk_state;
  if (absl::Status st = journal_.Write(record, /*sync=*/true); !st.ok()) {
    LOG(kWarning, "spool: could not note the attempt count of '%s': %s", record.name,
        st.ToString());
  }
  return std::nullopt;
}

std::optional<FailedFile> Spool::Impl::Fail(const EntryPtr& e, const absl::Status& error) {
  JournalRecord record;
  {
    absl::MutexLock l(&mu_);
    record = e->rec;
  }
  const std::string what_to_do = WhatToDo(error);
  absl::StatusOr<FailedFile> f = journal_.MoveToFailed(record, absl::Now(), error, what_to_do);
  absl::MutexLock l(&mu_);
  if (!f.ok()) {
    LOG(kError, "spool: '%s' (album %s) was refused (%s) but could not be moved to failed/: "
        "%s; it stays pending and is retried", record.name, record.album_id, error.ToString(),
        f.status().ToString());
    // No worker owns it any more: idle again, or Schedule() would leave it
    // kCommitting for good (never retried, an fsync waiting forever).
    e->state = PendingFile::State::kOpen;
    e->last_error = absl::Status(error.code(), absl::StrCat(error.message(),
                                                            "; moving it to failed/ failed too: ",
                                                            f.status().message()));
    ++e->error_seq;
    Schedule(*e, Backoff(record.attempts));
    cv_.SignalAll();
    return std::nullopt;
  }
  auto it = entries_.find(record.id);
  if (it != entries_.end() && it->second == e) entries_.erase(it);
  e->gone = true;
  e->gone_status = error;
  cv_.SignalAll();
  LOG(kError, "spool: Immich will not take '%s' (album %s): %s. Moved to %s (reason in %s). "
      "%s", record.name, record.album_id, error.message(), f->path, f->reason_path, what_to_do);
  return *f;
}

bool Spool::Impl::StillNeeded(PendingId self, const std::string& asset_id) {
  absl::MutexLock l(&mu_);
  for (const auto& [id, e] : entries_) {
    if (id != self && !e->gone && !e->unlinked && e->rec.replaces_asset_id == asset_id) {
      return true;
    }
  }
  return false;
}

absl::Duration Spool::Impl::Backoff(int attempts) const {
  // The first retry waits min_backoff: one doubling per attempt after it.
  return ExponentialBackoff(options_.min_backoff, options_.max_backoff, attempts - 1);
}

void Spool::Impl::RecordError(const Entry& e, const absl::Status& st) {
  recent_errors_.push_back(SpoolStats::Error{absl::Now(), e.rec.id, e.rec.name, st});
  while (recent_errors_.size() > 8) recent_errors_.pop_front();
}

}  // namespace immichfs::cache
