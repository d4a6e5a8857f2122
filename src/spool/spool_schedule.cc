// The spool's scheduling: starting and stopping the upload workers, which
// file a worker commits next (due, fsync'd, or a big one starting early), and
// the hold of an early start. What a worker does with a file is in
// spool_worker.cc.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "spool/spool.h"
#include "spool/spool_internal.h"

namespace immichfs::cache {

void Spool::Impl::Start(SpoolOwner* owner) {
  absl::MutexLock l(&mu_);
  if (!workers_.empty() || stopping_) return;
  owner_.store(owner);
  for (auto& [id, e] : entries_) {
    if (e->state == PendingFile::State::kSettling) e->due = absl::Now() + options_.settle;
  }
  for (int i = 0; i < std::max(1, options_.commit_workers); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

void Spool::Impl::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    cv_.SignalAll();
    idle_cv_.SignalAll();
  }
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void Spool::Impl::WorkerLoop() {
  while (EntryPtr e = NextJob()) RunJob(e);
}

Spool::Impl::EntryPtr Spool::Impl::NextJob() {
  absl::MutexLock l(&mu_);
  for (;;) {
    if (stopping_) return nullptr;
    const absl::Time now = absl::Now();
    absl::Time next = absl::InfiniteFuture();
    EntryPtr best;
    EntryPtr early;  // taken only when nothing is due
    for (const auto& [id, e] : entries_) {
      if (e->gone || e->finishing || e->unlinked) continue;
      if (e->state == PendingFile::State::kCommitting) continue;
      if (!e->rec.write_error.empty()) continue;  // incomplete: never as it stands
      if (e->fsync_generation > e->committed_generation) {
        best = e;  // fsync waits: ahead of everything settling
        break;
      }
      if (e->state != PendingFile::State::kSettling || e->handles > 0) continue;
      if (e->due > now) {
        next = std::min(next, e->due);
        if (EarlyStartable(*e) && (early == nullptr || e->due < early->due)) early = e;
      } else if (best == nullptr || e->due < best->due) {
        best = e;
      }
    }
    if (best != nullptr) best->early_job = false;
    if (best == nullptr && early != nullptr) {
      best = early;
      best->early_job = true;
      best->early_generation = best->generation;
    }
    if (best != nullptr) {
      best->state = PendingFile::State::kCommitting;
      best->fsync_generation = 0;
      ++in_flight_;
      // There may be more: the next idle worker looks (a chain, one scan
      // per job, rather than every worker scanning on every wake-up).
      idle_cv_.Signal();
      return best;
    }
    if (timekeeper_) {
      // Another worker watches the clock and the changes; wait for a turn.
      idle_cv_.Wait(&mu_);
    } else {
      timekeeper_ = true;
      if (next == absl::InfiniteFuture()) {
        cv_.Wait(&mu_);
      } else {
        cv_.WaitWithDeadline(&mu_, next);
      }
      timekeeper_ = false;
    }
  }
}

bool Spool::Impl::EarlyStartable(const Entry& e) const {
  // Not a retry (its due time is a backoff), not a generation already
  // tried early, not one in Immich already.
  return options_.early_start_bytes > 0 && e.rec.size >= options_.early_start_bytes &&
         e.rec.attempts == 0 && e.early_generation != e.generation &&
         e.committed_generation != e.generation;
}

absl::Status Spool::Impl::HoldUntilSettled(const Entry& e, uint64_t gen, absl::Time settle_end) {
  absl::MutexLock l(&mu_);
  for (;;) {
    if (stopping_) return absl::AbortedError("the mount is stopping");
    if (e.unlinked || e.generation != gen) {
      return absl::AbortedError(absl::StrCat("'", e.rec.name,
                                             "' changed while it settled; it commits again"));
    }
    if (e.fsync_generation >= gen) return absl::OkStatus();
    const absl::Time now = absl::Now();
    if (now >= settle_end) return absl::OkStatus();
    // Changes do not all signal cv_ while a commit runs: look again soon.
    cv_.WaitWithDeadline(&mu_, std::min(settle_end, now + absl::Milliseconds(20)));
  }
}

}  // namespace immichfs::cache
