// FakeImmichApi: an in-memory Immich for tests below the HTTP layer (tests/fs,
// tests/unit/spool). It follows what the real Immich 3.1 server does on every
// call immichfs makes (DESIGN.md; the answers recorded from a real Immich 3.1
// server in tests/data/immich-api-responses/):
//  - checksums are base64 SHA-1 of the bytes; duplicates are per library and
//    include trashed assets (bulk-upload-check answers reject/duplicate with
//    assetId and isTrashed; an upload of known bytes answers duplicate);
//  - an album search lists live, visibility "timeline" assets only, newest
//    fileCreatedAt first, `size` per page (at most 1000) with nextPage;
//    exifInfo.fileSizeInByte is the exact size unless seeded as unknown;
//  - Download honours Range: an offset past the end is kNotFound (real
//    Immich answers 404), a wrong expected_total kFailedPrecondition;
//    trashed assets stay downloadable;
//  - album add answers per id: "duplicate" for members, "no_permission" for
//    ids that do not exist (as Immich's access check does); remove answers
//    "not_found" for non-members. Unknown album or asset ids in a whole
//    request answer kNotFound (Immich's 400 "Not found or no access");
//  - CopyAssetMetadata adds the target to every album of the source and
//    copies isFavorite; the source keeps its albums (Immich's copyAlbums
//    inserts, it does not move) -- callers trash the source afterwards;
//  - every change stamps updatedAt from a clock that strictly increases, and
//    bumps the updatedAt of the albums it touches, as the server does.
//
// Test hooks: seeding that bypasses counters and faults, per-method call
// counters, fault injection (next N calls fail, or the whole server is
// down), per-method latency, a hook run at the start of every call, and
// read-back of the state. All methods are thread-safe.
#ifndef IMMICHFS_TESTS_MEMORY_IMMICH_MEMORY_IMMICH_H_
#define IMMICHFS_TESTS_MEMORY_IMMICH_MEMORY_IMMICH_H_

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "immich/api.h"

namespace immichfs::fake {

enum class Method : int {
  kPing, kGetVersion, kGetMe, kGetMediaTypes, kGetStorage,
  kListAlbums, kListAlbumsForAsset, kGetAlbum, kCreateAlbum, kRenameAlbum, kDeleteAlbum,
  kAddToAlbum, kRemoveFromAlbum,
  kSearchAlbumAssets, kSearchByChecksum, kGetAsset, kDownload,
  kBulkUploadCheck, kUpload, kDeleteAssets, kRestoreFromTrash, kCopyAssetMetadata,
  kCount,  // not a method: the number of them
};
const char* MethodName(Method m);

// The one user the fake serves; every album and asset is theirs.
inline constexpr char kFakeOwnerId[] = "00000000-0000-4000-8000-00000000a11c";

// What to seed an asset with. Unset times default to the fake's clock.
struct AssetSpec {
  std::string name = "IMG_0001.jpg";
  std::string bytes = "jpeg bytes";
  std::string id;                     // empty: a fresh uuid-like id
  absl::Time file_created_at = absl::InfinitePast();
  absl::Time file_modified_at = absl::InfinitePast();
  absl::Time uploaded_at = absl::InfinitePast();  // createdAt
  std::string visibility = "timeline";
  bool trashed = false;
  bool favorite = false;
  bool size_known = true;             // false: no exifInfo (size -1)
  std::string live_photo_video_id;
  std::vector<std::string> albums;    // album ids to put it in
};

// The real 3.1 list of accepted extensions (tests/fake_immich/media.py).
immich::MediaTypes RealMediaTypes();

class FakeImmichApi : public immich::ImmichApi {
 public:
  FakeImmichApi();
  ~FakeImmichApi() override;

  // --- seeding (no counters, no faults) ------------------------------------
  std::string AddAlbum(const std::string& name, const std::vector<std::string>& asset_ids = {});
  std::string AddAsset(const AssetSpec& spec);
  std::string AddAsset(const std::string& name, const std::string& bytes,
                       const std::vector<std::string>& albums = {});
  void PutInAlbum(const std::string& album_id, const std::string& asset_id);
  // Replaces an asset's bytes (new checksum, size, updatedAt), as an edit
  // on the server would; its albums' updatedAt moves too.
  void SetAssetBytes(const std::string& asset_id, const std::string& bytes);
  void SetStorage(const immich::Storage& storage);
  void SetVersion(const immich::ServerVersion& version);
  // The clock that stamps createdAt/updatedAt; it never goes backwards and
  // each stamp is at least 1 ms after the previous one.
  void SetNow(absl::Time now);
  void Advance(absl::Duration d);

  // --- reading the state back ----------------------------------------------
  std::optional<immich::Asset> FindAsset(const std::string& asset_id) const;
  std::optional<immich::Album> FindAlbum(const std::string& album_id) const;
  std::optional<immich::Album> FindAlbumByName(const std::string& name) const;
  std::optional<std::string> Bytes(const std::string& asset_id) const;
  // Member ids (trashed and hidden ones included), sorted.
  std::vector<std::string> AlbumAssetIds(const std::string& album_id) const;
  bool IsTrashed(const std::string& asset_id) const;
  size_t AssetCount() const;   // every asset, trashed included
  size_t AlbumCount() const;

  // --- counters and faults ---------------------------------------------------
  int Calls(Method m) const;
  int TotalCalls() const;
  void ResetCalls();
  // The next `times` calls of `m` fail with `status` (before any effect).
  void FailNext(Method m, absl::Status status, int times = 1);
  // While down, every call answers kUnavailable (connection refused).
  void SetDown(bool down);
  void SetLatency(Method m, absl::Duration latency);
  // The next `times` downloads deliver at most `bytes` and then answer
  // kDataLoss, like a connection dropped mid-body.
  void TruncateNextDownloads(uint64_t bytes, int times = 1);
  // Runs at the start of every call, outside the lock (to block or observe).
  void SetCallHook(std::function<void(Method)> hook);
  // A hostile server's paging: what SearchAlbumAssets answers at and past
  // an album's last page. kEmpty: nextPage is always set, and pages past the
  // end are empty. kRepeat: nextPage always set, past the end the last page
  // again. kFresh: nextPage always set, past the end a page of made-up
  // assets with new ids every time (never ends, never repeats).
  enum class EndlessPaging { kOff, kEmpty, kRepeat, kFresh };
  void SetEndlessPaging(EndlessPaging mode);
  // Every album reports this assetCount (nullopt: the true count).
  void SetAssetCountLie(std::optional<int64_t> count);

  // --- immich::ImmichApi -----------------------------------------------------
  absl::Status Ping() override;
  absl::StatusOr<immich::ServerVersion> GetVersion() override;
  absl::StatusOr<immich::User> GetMe() override;
  absl::StatusOr<immich::MediaTypes> GetMediaTypes() override;
  absl::StatusOr<immich::Storage> GetStorage() override;
  absl::StatusOr<std::vector<immich::Album>> ListAlbums() override;
  absl::StatusOr<std::vector<immich::Album>> ListAlbumsForAsset(
      const std::string& asset_id) override;
  absl::StatusOr<immich::Album> GetAlbum(const std::string& album_id) override;
  absl::StatusOr<immich::Album> CreateAlbum(const std::string& name) override;
  absl::StatusOr<immich::Album> RenameAlbum(const std::string& album_id,
                                            const std::string& name) override;
  absl::Status DeleteAlbum(const std::string& album_id) override;
  absl::StatusOr<std::vector<immich::BulkIdResult>> AddToAlbum(
      const std::string& album_id, const std::vector<std::string>& asset_ids) override;
  absl::StatusOr<std::vector<immich::BulkIdResult>> RemoveFromAlbum(
      const std::string& album_id, const std::vector<std::string>& asset_ids) override;
  absl::StatusOr<immich::AssetPage> SearchAlbumAssets(const std::string& album_id, int page,
                                                      int size) override;
  absl::StatusOr<std::vector<immich::Asset>> SearchByChecksum(
      const std::string& checksum_b64) override;
  absl::StatusOr<immich::Asset> GetAsset(const std::string& asset_id) override;
  absl::Status Download(const std::string& asset_id, uint64_t offset,
                        std::optional<uint64_t> length, std::optional<uint64_t> expected_total,
                        const immich::ByteSink& sink) override;
  absl::StatusOr<std::vector<immich::BulkCheckResult>> BulkUploadCheck(
      const std::vector<std::pair<std::string, std::string>>& id_and_checksum_hex) override;
  absl::StatusOr<immich::UploadResult> Upload(const immich::UploadRequest& req) override;
  absl::Status DeleteAssets(const std::vector<std::string>& asset_ids, bool force) override;
  absl::Status RestoreFromTrash(const std::vector<std::string>& asset_ids) override;
  absl::Status CopyAssetMetadata(const std::string& source_id,
                                 const std::string& target_id) override;

 private:
  struct StoredAsset {
    immich::Asset meta;
    std::string bytes;
    std::set<std::string> albums;
  };
  struct StoredAlbum {
    immich::Album meta;            // asset_count etc. are computed on read
    std::set<std::string> members;
  };
  static constexpr int kMethods = static_cast<int>(Method::kCount);

  // Counts the call, runs the hook and latency, then applies faults.
  absl::Status Enter(Method m) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Time TickLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewIdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  immich::Album AlbumViewLocked(const StoredAlbum& album) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void TouchAlbumsOfLocked(const StoredAsset& asset, absl::Time t)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LinkLocked(StoredAlbum& album, StoredAsset& asset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string InsertAssetLocked(const AssetSpec& spec) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const StoredAsset* ByChecksumLocked(const std::string& checksum_b64) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void EraseAssetLocked(const std::string& asset_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // One lock for the whole state; never held while calling a sink or hook.
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  absl::Time last_stamp_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::string, StoredAsset> assets_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, StoredAlbum> albums_ ABSL_GUARDED_BY(mu_);
  immich::Storage storage_ ABSL_GUARDED_BY(mu_);
  immich::ServerVersion version_ ABSL_GUARDED_BY(mu_);
  std::array<int, kMethods> calls_ ABSL_GUARDED_BY(mu_){};
  std::array<std::deque<absl::Status>, kMethods> faults_ ABSL_GUARDED_BY(mu_);
  std::array<absl::Duration, kMethods> latency_ ABSL_GUARDED_BY(mu_){};
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<uint64_t> truncations_ ABSL_GUARDED_BY(mu_);
  std::function<void(Method)> hook_ ABSL_GUARDED_BY(mu_);
  EndlessPaging endless_ ABSL_GUARDED_BY(mu_) = EndlessPaging::kOff;
  std::optional<int64_t> count_lie_ ABSL_GUARDED_BY(mu_);
};

}  // namespace immichfs::fake

#endif  // IMMICHFS_TESTS_MEMORY_IMMICH_MEMORY_IMMICH_H_
