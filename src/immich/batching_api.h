// BatchingApi: an ImmichApi in front of another that turns the spool's
// per-file calls into few server calls, so that ingest pays Immich per file
// only for the upload itself.
//
// A real Immich costs per call, not per item: one bulk-upload-check answers
// for many checksums, and one PUT /albums/{id}/assets with 20 ids costs what
// one with a single id does. Each commit (spool/commit.h) asks for one file;
// this class coalesces the asks of the commits running at the same time:
//
//  - BulkUploadCheck: group commit. The first caller sends its items at
//    once; callers arriving while that call is in flight queue up and are
//    sent together, in one call, when it returns. A lone file waits for
//    nothing.
//  - AddToAlbum: the same, per album. In addition, while uploads are running
//    (more files are about to be added), the caller that sends waits up to
//    `album_linger` for others to join: a stream of files becomes a few
//    album adds instead of one per file, and a lone file is never delayed.
//    An asset id asked twice in one batch is sent once; the first asker
//    gets the server's answer, the others "duplicate" (what a second call
//    would have answered: it is in the album already).
//  - Checks ahead: the caller that sends a bulk-upload-check also asks about
//    the checksums `check_ahead` names (files about to commit), and keeps
//    the "accept" answers: a later check of such a checksum is answered from
//    them, once, without a call, for up to `check_ahead_ttl`. Only accepts
//    are kept: one only leads to an upload, whose own answer still says
//    "duplicate" if the bytes arrived meanwhile; a duplicate (and whether it
//    is trashed) is always asked fresh.
//  - Upload: at most `max_uploads` at once (the rest wait for a slot), so
//    that more commits than that can run their cheap steps while the
//    uploads keep the server busy.
//
// A failed coalesced call fails every ask in it with the same status; every
// caller's own retry logic applies as before. Each caller gets the results
// for its own items only. Everything else is passed through unchanged.
//
// Thread-safe: every method may be called from any thread at once.
#ifndef IMMICHFS_IMMICH_BATCHING_API_H_
#define IMMICHFS_IMMICH_BATCHING_API_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "immich/api.h"
#include "immich/batching_stats.h"

namespace immichfs::immich {

struct BatchingOptions {
  int max_uploads = 4;                 // uploads in flight at once
  size_t max_batch = 500;              // items per coalesced call
  // How long an album add waits for others to join while uploads run.
  absl::Duration album_linger = absl::Milliseconds(40);
  // How long an "accept" asked ahead stays usable.
  absl::Duration check_ahead_ttl = absl::Seconds(60);
};

// SHA-1s (hex) of files that will be checked soon; at most `max`.
using CheckAhead = std::function<std::vector<std::string>(size_t max)>;


class BatchingApi final : public ImmichApi {
 public:
  // `inner` must outlive this object.
  BatchingApi(ImmichApi* inner, BatchingOptions options);
  ~BatchingApi() override;

  BatchingStats Stats() const;
  // Not while BulkUploadCheck calls run (set it before the first).
  void SetCheckAhead(CheckAhead check_ahead);

  absl::StatusOr<std::vector<BulkCheckResult>> BulkUploadCheck(
      const std::vector<std::pair<std::string, std::string>>& id_and_checksum_hex) override;
  absl::StatusOr<std::vector<BulkIdResult>> AddToAlbum(
      const std::string& album_id, const std::vector<std::string>& asset_ids) override;
  absl::StatusOr<UploadResult> Upload(const UploadRequest& req) override;

  // Passed through.
  absl::Status Ping() override { return inner_->Ping(); }
  absl::StatusOr<ServerVersion> GetVersion() override { return inner_->GetVersion(); }
  absl::StatusOr<User> GetMe() override { return inner_->GetMe(); }
  absl::StatusOr<MediaTypes> GetMediaTypes() override { return inner_->GetMediaTypes(); }
  absl::StatusOr<Storage> GetStorage() override { return inner_->GetStorage(); }
  absl::StatusOr<std::vector<Album>> ListAlbums() override { return inner_->ListAlbums(); }
  absl::StatusOr<std::vector<Album>> ListAlbumsForAsset(const std::string& asset_id) override {
    return inner_->ListAlbumsForAsset(asset_id);
  }
  absl::StatusOr<Album> GetAlbum(const std::string& album_id) override {
    return inner_->GetAlbum(album_id);
  }
  absl::StatusOr<Album> CreateAlbum(const std::string& name) override {
    return inner_->CreateAlbum(name);
  }
  absl::StatusOr<Album> RenameAlbum(const std::string& album_id,
                                    const std::string& name) override {
    return inner_->RenameAlbum(album_id, name);
  }
  absl::Status DeleteAlbum(const std::string& album_id) override {
    return inner_->DeleteAlbum(album_id);
  }
  absl::StatusOr<std::vector<BulkIdResult>> RemoveFromAlbum(
      const std::string& album_id, const std::vector<std::string>& asset_ids) override {
    return inner_->RemoveFromAlbum(album_id, asset_ids);
  }
  absl::StatusOr<AssetPage> SearchAlbumAssets(const std::string& album_id, int page,
                                              int size) override {
    return inner_->SearchAlbumAssets(album_id, page, size);
  }
  absl::StatusOr<std::vector<Asset>> SearchByChecksum(const std::string& checksum_b64) override {
    return inner_->SearchByChecksum(checksum_b64);
  }
  absl::StatusOr<Asset> GetAsset(const std::string& asset_id) override {
    return inner_->GetAsset(asset_id);
  }
  absl::Status Download(const std::string& asset_id, uint64_t offset,
                        std::optional<uint64_t> length, std::optional<uint64_t> expected_total,
                        const ByteSink& sink) override {
    return inner_->Download(asset_id, offset, length, expected_total, sink);
  }
  absl::Status DeleteAssets(const std::vector<std::string>& asset_ids, bool force) override {
    return inner_->DeleteAssets(asset_ids, force);
  }
  absl::Status RestoreFromTrash(const std::vector<std::string>& asset_ids) override {
    return inner_->RestoreFromTrash(asset_ids);
  }
  absl::Status CopyAssetMetadata(const std::string& source_id,
                                 const std::string& target_id) override {
    return inner_->CopyAssetMetadata(source_id, target_id);
  }

 private:
  // One caller's ask, waiting in a queue until a call carried it.
  template <typename Item, typename Result>
  struct Ask {
    std::vector<Item> items;
    bool done = false;
    absl::StatusOr<std::vector<Result>> results;
  };
  template <typename Item, typename Result>
  struct Queue {
    bool in_flight = false;
    size_t queued_items = 0;
    std::deque<Ask<Item, Result>*> asks;
  };
  using CheckItem = std::pair<std::string, std::string>;
  using CheckAsk = Ask<CheckItem, BulkCheckResult>;
  using AddAsk = Ask<std::string, BulkIdResult>;

  // Takes the asks of the next call off `q`: `mine` first, then others in
  // arrival order while the batch stays within max_batch items.
  template <typename Item, typename Result>
  std::vector<Ask<Item, Result>*> TakeBatch(Queue<Item, Result>& q, Ask<Item, Result>* mine)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Answers (and removes from `items`) the items whose checksum was
  // accepted ahead; each such answer is used once.
  std::vector<BulkCheckResult> TakeAccepted(std::vector<CheckItem>& items)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends the checksums check_ahead_ names that are not asked or known
  // yet, up to max_batch items, with ids of their own.
  void AddCheckAhead(std::vector<CheckItem>& items) ABSL_LOCKS_EXCLUDED(mu_);
  // Hands each ask of a sent call its share of the answer.
  static void DistributeChecks(const std::vector<CheckAsk*>& batch,
                               const absl::StatusOr<std::vector<BulkCheckResult>>& answer);
  static void DistributeAdds(const std::vector<AddAsk*>& batch,
                             const absl::StatusOr<std::vector<BulkIdResult>>& answer);

  ImmichApi* const inner_;
  const BatchingOptions options_;

  mutable absl::Mutex mu_;
  Queue<CheckItem, BulkCheckResult> checks_ ABSL_GUARDED_BY(mu_);
  CheckAhead check_ahead_;
  // Accepted checksums (hex) asked ahead, with when Immich answered.
  absl::flat_hash_map<std::string, absl::Time> accepted_ ABSL_GUARDED_BY(mu_);
  // Per album; boxed, so that a waiter's queue stays put while others are
  // added. An entry goes when its last ask is answered.
  absl::flat_hash_map<std::string, std::unique_ptr<Queue<std::string, BulkIdResult>>> adds_
      ABSL_GUARDED_BY(mu_);
  // Uploads holding a slot plus those waiting for one.
  int uploads_wanted_ ABSL_GUARDED_BY(mu_) = 0;
  int upload_slots_used_ ABSL_GUARDED_BY(mu_) = 0;
  BatchingStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace immichfs::immich

#endif  // IMMICHFS_IMMICH_BATCHING_API_H_
