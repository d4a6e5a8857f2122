// Internals of the spool (spool.h), shared by spool.cc and spool_files.cc
// (the file operations the fs layer calls), spool_recover.cc (recovery),
// spool_schedule.cc (the workers' scheduling) and spool_worker.cc (what a
// worker does). Not part of the contract; include only from those.
//
// Lock order: Entry::io_mu before Impl::mu_. mu_ is never held across a
// syscall on data or an Immich call, except the cheap journal writes of
// metadata-only changes, which also hold io_mu.
#ifndef IMMICHFS_SPOOL_SPOOL_INTERNAL_H_
#define IMMICHFS_SPOOL_SPOOL_INTERNAL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/hash.h"
#include "common/unique_fd.h"
#include "spool/commit.h"
#include "spool/journal.h"
#include "spool/spool.h"

namespace immichfs::cache {

// One pending file. Fields under mu_ belong to Spool::Impl::mu_ (named in
// comments: the analysis cannot name another object's mutex here).
struct Entry {
  // --- guarded by io_mu: the bytes ---
  absl::Mutex io_mu;
  UniqueFd fd ABSL_GUARDED_BY(io_mu);
  // The record as last written to disk: kPending means a write must first
  // durably flip it to kWriting (a crash then sends the file to failed/).
  JournalRecord::State disk_state ABSL_GUARDED_BY(io_mu) = JournalRecord::State::kWriting;
  bool data_dirty ABSL_GUARDED_BY(io_mu) = false;  // written since the last fdatasync
  // Sticky: an fdatasync failed, so written bytes may be lost although a
  // later fdatasync returns 0. The file is incomplete (rec.write_lost) until
  // a truncate to 0 clears both.
  absl::Status io_error ABSL_GUARDED_BY(io_mu);
  // <id>.upload names the same inode as fd: copy before changing the bytes.
  bool upload_linked ABSL_GUARDED_BY(io_mu) = false;
  // Streaming SHA-1 of bytes [0, hashed_upto) while writes stay sequential.
  std::unique_ptr<Sha1> hasher ABSL_GUARDED_BY(io_mu) = std::make_unique<Sha1>();
  uint64_t hashed_upto ABSL_GUARDED_BY(io_mu) = 0;
  bool hash_ok ABSL_GUARDED_BY(io_mu) = true;
  // Writeback of [0, writeback_from) was started early (WriteBehind).
  uint64_t writeback_from ABSL_GUARDED_BY(io_mu) = 0;
  // [0, dropped_upto) was written back and dropped from the page cache.
  uint64_t dropped_upto ABSL_GUARDED_BY(io_mu) = 0;

  // --- guarded by Spool::Impl::mu_: the file's state ---
  JournalRecord rec;                  // name, album, size, mtime, sha1 (current)
  PendingFile::State state = PendingFile::State::kOpen;
  int handles = 0;
  uint64_t generation = 1;            // bumped by every change
  uint64_t durable_generation = 0;    // generation the record on disk describes
  uint64_t committed_generation = 0;  // 0: none committed yet
  std::optional<CommitResult> committed;  // of committed_generation
  uint64_t job_generation = 0;        // of the commit in flight
  uint64_t fsync_generation = 0;      // an Fsync wants this generation committed
  absl::Time due = absl::InfiniteFuture();  // kSettling: commit at or after this
  bool unlinked = false;              // Unlink()ed; gone once no handle is open
  bool finishing = false;             // OnCommitted running; no more changes
  bool gone = false;                  // left the spool (committed, failed, unlinked)
  absl::Status gone_status;           // why, for a waiting Fsync
  absl::Status last_error;            // of the latest failed attempt
  uint64_t last_error_generation = 0;
  uint64_t error_seq = 0;             // bumped by every failed attempt
  bool incomplete_unreported = false; // marked; OnIncomplete not called yet
  // The commit in flight started before the file settled (early start), and
  // the generation of the last early start (one per generation).
  bool early_job = false;
  uint64_t early_generation = 0;
};

class Spool::Impl {
 public:
  Impl(SpoolOptions options, immich::ImmichApi* api);
  ~Impl();

  // spool_recover.cc, spool_schedule.cc
  absl::Status Recover();
  void Start(SpoolOwner* owner);
  void Stop();

  // spool.cc
  absl::StatusOr<PendingId> Create(const std::string& album_id, const std::string& name,
                                   absl::Time mtime, const std::string& replaces_asset_id);
  absl::Status Write(PendingId id, uint64_t offset, const char* data, size_t size);
  absl::StatusOr<size_t> Read(PendingId id, uint64_t offset, size_t size, char* buf);
  absl::Status Truncate(PendingId id, uint64_t size);
  absl::Status SetMtime(PendingId id, absl::Time mtime);
  absl::Status Rename(PendingId id, const std::string& album_id, const std::string& name,
                      std::optional<std::string> replaces_asset_id);
  absl::Status Unlink(PendingId id);
  absl::Status OpenHandle(PendingId id);
  absl::Status Release(PendingId id);
  absl::Status Fsync(PendingId id);
  absl::Status Flush(PendingId id);
  std::vector<PendingFile> List(const std::string& album_id);
  std::optional<PendingFile> Get(PendingId id, bool open_unlinked = false);
  std::optional<PendingFile> FindIf(const std::string& album_id, const std::string& name,
                                    const std::string& replaces_asset_id);
  SpoolStats Stats();
  std::vector<std::string> ChecksumsAhead(size_t max) const;
  const std::string& dir() const { return journal_.dir(); }

 private:
  using EntryPtr = std::shared_ptr<Entry>;

  // spool.cc
  // Write and Release once the entry is found; the callers report a new
  // incomplete mark after the locks are gone.
  absl::Status WriteLocked(Entry& e, uint64_t offset, const char* data, size_t size);
  absl::Status ReleaseLocked(const EntryPtr& e);
  // The bodies of Truncate, SetMtime and Rename (they take e.io_mu), so that
  // ReportIncomplete runs after the lock is released, as for Write.
  absl::Status TruncateLocked(Entry& e, uint64_t size);
  absl::Status SetMtimeLocked(Entry& e, absl::Time mtime);
  absl::Status RenameLocked(Entry& e, const std::string& album_id, const std::string& name,
                            std::optional<std::string> replaces_asset_id);
  // The entry for id, also when unlinked but still open (for Read/Write/
  // Release); kNotFound if there is none or it is finishing.
  absl::StatusOr<EntryPtr> Find(PendingId id, bool allow_unlinked);
  // fdatasync the bytes, finish the streaming hash, and write the record as
  // kPending with sync, so that the file survives a crash and commits.
  absl::Status MakeDurable(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.io_mu);
  // Its second half: the record as kPending, with sync (data_synced: the
  // streaming hash may be finished and recorded).
  absl::Status PersistRecord(Entry& e, bool data_synced) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.io_mu);
  // After a write that ended at `end`: every 8 MiB, starts writeback of the
  // new step and waits for and drops the pages of the previous one (a wait
  // error becomes the sticky io_error). `what` names the file in errors.
  void WriteBehind(Entry& e, uint64_t end, const std::string& what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.io_mu);
  // fdatasync of the data file if anything was written since the last one; a
  // failure becomes the file's sticky io_error.
  absl::Status SyncData(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.io_mu);
  // Before the bytes change: flips a kPending record to kWriting (durably)
  // and copies the data away from an upload in flight.
  absl::Status BeginDataChange(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.io_mu);
  // unlinked: the entry has no names in the spool; the copy stays nameless.
  absl::Status BreakUploadLink(Entry& e, bool unlinked) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.io_mu);
  // After a metadata change of a closed file: durable record, settle again.
  absl::Status PersistClosed(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.io_mu);
  ssize_t PWrite(int fd, const char* data, size_t size, off_t offset) const;
  // Marks the file incomplete after `error`, a failed write, flush or fsync
  // (spool.h); `lost`: the disk may have lost written bytes. A new mark
  // bumps the generation (a commit in flight does not finish the file) and,
  // if the record on disk says kPending, is journaled at once.
  void MarkIncomplete(Entry& e, const absl::Status& error, bool lost)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.io_mu);
  // Calls the owner's OnIncomplete for a new mark. No lock held.
  void ReportIncomplete(const EntryPtr& e);
  // What Fsync of an incomplete file returns.
  absl::Status IncompleteError(const Entry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the file may grow to `size` bytes on the spool's filesystem:
  // EFBIG if it never could, ENOSPC if not now (spool.h).
  // `appending`: the file grows from its end (a writer filling the disk),
  // where ENOSPC is the answer whatever the size.
  absl::Status CheckFits(Entry& e, uint64_t size, bool appending, const std::string& what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.io_mu);
  std::string Describe(const Entry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  PendingFile ToPendingFile(const Entry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Schedule(Entry& e, absl::Duration delay) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordError(const Entry& e, const absl::Status& st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // spool_schedule.cc: WorkerLoop, NextJob, EarlyStartable, HoldUntilSettled;
  // spool_worker.cc: the rest.
  void WorkerLoop();
  // The next entry ready to commit, marked kCommitting; nullptr on Stop().
  EntryPtr NextJob();
  void RunJob(const EntryPtr& e);
  // RunJob's steps. The snapshot: the job's fields from the record, as of
  // the generation being committed.
  void SnapshotJobLocked(const Entry& e, CommitJob& job) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hard-links the data to job.data_path, so the upload's bytes stay put
  // while the file changes (upload_linked). The error is the job's outcome.
  absl::Status LinkForUpload(Entry& e, const CommitJob& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.io_mu);
  // An incomplete file: sends nothing, drops the upload link and idles the
  // file (kOpen, settling again) until a rewrite. Takes io_mu, then mu_.
  void ParkIncomplete(const EntryPtr& e, const CommitJob& job);
  // Runs the commit protocol on the snapshot, with the journal and the other
  // pending files as its hooks; then the upload link is gone and a hash it
  // computed is kept for the generation it describes. Takes no lock across
  // the Immich calls.
  // settle_end: set for an early start, when its hold ends.
  absl::StatusOr<CommitResult> CommitSnapshot(const EntryPtr& e, CommitJob& job, uint64_t gen,
                                              std::optional<absl::Time> settle_end);
  // The hold of an early start (CommitHooks::hold): until settle_end, or
  // kAborted once the file changed or was unlinked, or the spool stops; an
  // fsync ends it at once.
  absl::Status HoldUntilSettled(const Entry& e, uint64_t gen, absl::Time settle_end);
  // Whether a settling file may start its commit early (early_start_bytes).
  bool EarlyStartable(const Entry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishSuccess(const EntryPtr& e, const CommitJob& job, uint64_t job_gen,
                     const CommitResult& result);
  // What FinishSuccess does next.
  enum class AfterCommit {
    kUndo,         // unlinked meanwhile, or renamed onto another asset
    kCommitAgain,  // changed or still open: pending, the next commit overwrites it
    kHandOver,     // the latest generation is in Immich: hand over, drop the file
  };
  // FinishSuccess's first step: the outcome goes into the entry (committed
  // generation, or gone if unlinked and closed) and, for a file that stays
  // pending, durably into its journal record; workers and Fsync are woken.
  AfterCommit RecordSuccess(Entry& e, const CommitJob& job, uint64_t job_gen,
                            const CommitResult& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(e.io_mu);
  void FinishFailure(const EntryPtr& e, uint64_t job_gen, const absl::Status& error);
  // FinishFailure for a file that was not unlinked: notes the attempt
  // (count, last error, recent errors) and schedules a retry (backoff, or
  // the settle time if the file changed meanwhile) with the count durably in
  // the journal; or, for a permanent error about the current bytes of a
  // closed file, moves it to failed/ (Fail), which it returns.
  std::optional<FailedFile> RecordFailure(const EntryPtr& e, uint64_t job_gen,
                                          const absl::Status& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->io_mu);
  // Moves a closed file to failed/; nullopt if that failed (it stays pending).
  std::optional<FailedFile> Fail(const EntryPtr& e, const absl::Status& error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(e->io_mu);
  bool StillNeeded(PendingId self, const std::string& asset_id);
  absl::Duration Backoff(int attempts) const;

  // The owner's questions and answers as the worker code (RunJob,
  // FinishSuccess, FinishFailure) calls them: hooks that forward to owner_.
  // This shape keeps those functions unchanged while they are split in
  // another branch; they can call owner_ directly after that merge.
  struct Options : SpoolOptions {
    std::function<absl::Status(const std::string& name, uint64_t size)> precheck;
    std::function<std::string(const std::string& name)> upload_name;
  };
  struct Callbacks {
    std::function<void(const CommitResult&)> on_committed;
    std::function<void(PendingId, const FailedFile&)> on_failed;
  };
  static Options WithOwnerHooks(SpoolOptions options, const Impl* impl);

  // Set once by Start(), before any worker runs; null before.
  std::atomic<SpoolOwner*> owner_{nullptr};
  const Options options_;
  immich::ImmichApi* const api_;
  const Callbacks callbacks_;
  const Journal journal_;
  // <dir>/lock, flock()ed for as long as this spool is open: one mount per
  // spool directory.
  UniqueFd lock_fd_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<PendingId, EntryPtr> entries_ ABSL_GUARDED_BY(mu_);
  PendingId next_id_ ABSL_GUARDED_BY(mu_) = 0;
  // Fsync waits on it for outcomes, holds for changes, and one worker (the
  // timekeeper) for due entries; every change signals it.
  absl::CondVar cv_;
  // The other idle workers wait on it; a worker that took a job wakes one,
  // which looks for the next (or becomes the timekeeper).
  absl::CondVar idle_cv_;
  bool timekeeper_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t commits_done_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t commits_retried_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<SpoolStats::Error> recent_errors_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;  // touched only by Start/Stop
};

// What a person can do about a file that went to failed/ (its reason file).
std::string WhatToDo(const absl::Status& error);

}  // namespace immichfs::cache

#endif  // IMMICHFS_SPOOL_SPOOL_INTERNAL_H_
