// What immichfs knows of the library: the albums, and for each album whose
// folder was looked at, its assets under the names the folder shows.
//
// Freshness: the album list is trusted for `ttl`; after that one cheap call
// (GET /api/albums) revalidates it, and an album's asset listing is paged
// again (POST /api/search/metadata) only when that album's updatedAt,
// assetCount or lastModifiedAssetTimestamp changed, or it was never listed.
// When the server cannot be reached, what is known is kept and served, and
// the next attempt waits for another TTL.
//
// Sizes: st_size must be exact, so an asset whose listing lacks
// exifInfo.fileSizeInByte is asked for by itself (GET /api/assets/{id});
// if that has no size either, the asset is hidden (with a log line) and the
// album is paged again after the TTL until the size is known.
//
// Hidden (live-photo video parts) and trashed assets are never listed.
//
// Names: within a folder, assets sharing a name are told apart by
// " (<first 8 hex of the id>)" before the extension; the one uploaded first
// (then the smaller id) keeps the plain name. Names are sticky: a name once
// shown stays with its asset while the asset stays in the album, even if an
// older namesake arrives later. Albums sharing a name at the root likewise.
//
// Memory (one record per asset, so this is the daemon's size): assets live
// once, packed, in an AssetTable (asset_table.h). An album's listing is one
// vector of 8-byte {asset index, shown name} sorted by shown name, looked up
// by binary search; the shown name is kPlain when it is the asset's own name
// (nearly always), else a string in the table's pool. Finding an asset in a
// listing (ShownNameOf, AlbumsHolding) scans: those serve writes, not
// listings, and a scan of 100 000 entries takes ~100 us.
#ifndef IMMICHFS_FS_CATALOG_H_
#define IMMICHFS_FS_CATALOG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fs/asset_table.h"
#include "fs/catalog_store.h"
#include "fs/packed_id.h"
#include "immich/api.h"

namespace immichfs::fs {

// One asset of a listing, as a directory listing needs it.
struct ListedAsset {
  std::string shown;
  PackedId id;
  AssetAttrs attrs;
};

struct AlbumView {
  std::string id;
  std::string name;       // albumName as Immich has it
  std::string shown;      // the directory name
  absl::Time created;
  absl::Time updated;
  int64_t asset_count = 0;
};

class Catalog {
 public:
  using Clock = std::function<absl::Time()>;
  Catalog(immich::ImmichApi* api, absl::Duration ttl, Clock clock = absl::Now);
  ~Catalog();  // waits for a listing being saved

  // Revalidates the album list if older than the TTL (or `force`).
  absl::Status RefreshRoot(bool force = false);
  // Makes the album's listing current (RefreshRoot first).
  absl::Status RefreshAlbum(const std::string& album_id);

  std::vector<AlbumView> Albums() const;  // sorted by shown name
  std::optional<AlbumView> AlbumByShown(const std::string& shown) const;
  std::optional<AlbumView> AlbumById(const std::string& id) const;
  // Whether what is known of the album's contents can stand in for a listing
  // Immich could not give: it was listed once (this run or a stored listing),
  // or the album list says it holds nothing.
  bool ContentsKnown(const std::string& album_id) const;
  bool HasAlbums() const;
  size_t AlbumCount() const;

  // shown name -> asset id, sorted by name. Empty if never listed.
  std::vector<std::pair<std::string, std::string>> Listing(const std::string& album_id) const;
  // The same with the attributes and without id strings, for readdir.
  std::vector<ListedAsset> ListAssets(const std::string& album_id) const;
  std::optional<std::string> AssetInAlbum(const std::string& album_id,
                                          const std::string& shown) const;
  std::optional<std::string> ShownNameOf(const std::string& album_id,
                                         const std::string& asset_id) const;
  std::optional<AssetRec> Asset(const std::string& asset_id) const;
  // Albums known (from listings already fetched) to hold the asset.
  std::vector<std::string> AlbumsHolding(const std::string& asset_id) const;
  size_t AssetCount() const;

  // Local knowledge of our own changes, so a listing is right without a
  // refetch (the server's view converges on the next revalidation).
  void PutAlbum(const immich::Album& album);
  void DropAlbum(const std::string& album_id);
  void PutAssetInAlbum(const std::string& album_id, const AssetRec& asset,
                       const std::string& wanted_name = "");
  void DropAssetFromAlbum(const std::string& album_id, const std::string& asset_id);
  // Forget freshness so the next access revalidates with the server.
  void Invalidate(const std::string& album_id = "");

  static AssetRec ToRec(const immich::Asset& a);

  // Where the album list is saved after each change (for offline starts);
  // set before use, must outlive the catalog. Optional.
  void SetAlbumStore(AlbumStore* store) { store_ = store; }
  // Immich cannot be reached at start: shows the saved album list (if there
  // is one for this server and user) until Immich answers. Returns how many
  // albums are known; does nothing once Immich has answered.
  absl::StatusOr<size_t> LoadStoredAlbums();
  // Where complete album listings are saved, and read back for an album not
  // listed yet in this process whose state (updatedAt, assetCount, last
  // asset change) is the one saved -- also while Immich cannot be reached.
  // Set before use, must outlive the catalog. Optional.
  void SetListingStore(ListingStore* store) { listings_ = store; }

 private:
  using Index = AssetTable::Index;
  // An asset in a listing. shown: a string in assets_'s pool owned by this
  // entry, or kPlain for the asset's own name.
  struct Listed {
    Index asset;
    StringPool::Ref shown;
  };
  static constexpr StringPool::Ref kPlain = StringPool::kNone;

  struct AlbumState {
    AlbumView view;
    absl::Time last_modified_asset;
    bool listed = false;   // `listing` reflects the server as of the last check
    bool incomplete = false;  // some assets were hidden (size not known yet)
    // A stored listing may stand in for paging: not once this process paged
    // the album, changed it or was told to revalidate it.
    bool stored_ok = true;
    // A stored listing may exist (from an earlier run, or saved or being
    // saved by this one); our own change removes it. store_gen counts such
    // changes, so a save that started before one drops its file.
    bool maybe_stored = true;
    uint64_t store_gen = 0;
    absl::Time listed_at = absl::InfinitePast();
    // When paging failed last (Immich down): no new attempt for a TTL.
    absl::Time fetch_failed_at = absl::InfinitePast();
    std::vector<Listed> listing;  // sorted by shown name, names unique
  };

  // The shown name for `name` that is free (`taken` says which are not):
  // plain if possible, else tagged with the id (asked for only then).
  // Names too long for NAME_MAX are always tagged.
  static std::string FreeName(absl::string_view name, absl::FunctionRef<std::string()> id,
                              absl::FunctionRef<bool(absl::string_view)> taken);

  // One page of an album's listing, its assets already in the table.
  struct Page {
    absl::Status status;
    std::vector<Index> listed;
    std::optional<int> next_page;
    bool incomplete = false;  // some assets hidden: size not known yet
    int number = 0;           // the page number asked for
    bool fetched = false;     // asked for (the parallel part may stop early)
    bool empty = false;       // the answer held no assets at all
  };

  // Claims an album for a refresh of its listing (waits while another
  // thread has it): one album is paged once however many threads look into
  // it, and no other album or the root waits for it.
  class AlbumClaim {
   public:
    AlbumClaim(Catalog* catalog, const std::string& album_id);
    ~AlbumClaim();
    AlbumClaim(const AlbumClaim&) = delete;
    AlbumClaim& operator=(const AlbumClaim&) = delete;

   private:
    static bool Unclaimed(AlbumClaim* claim) ABSL_NO_THREAD_SAFETY_ANALYSIS;  // under mu_
    Catalog* const catalog_;
    const std::string album_id_;  // a copy: Await reads it from other threads
  };
  // Pages past the first ones, following nextPage within the bound that
  // assetCount sets; whether the bound cut the listing short. The caller
  // returns a failed page's status (the last one of `pages`).
  bool FollowNextPages(const std::string& album_id, int64_t max_pages, int64_t asset_count,
                       std::vector<Page>& pages);

  // catalog_fetch.cc
  absl::Status FetchListing(const std::string& album_id);
  // FetchListing's steps. Pages 1..expected, kParallelPages at a time; after
  // a failed page or the real last one, the pages not asked for yet stay
  // unfetched (fetched = false). No lock held; the album is claimed.
  std::vector<Page> FetchPromisedPages(const std::string& album_id, int expected)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The pages' assets in page order, each once (pages asked for at different
  // moments overlap if the album changed); empties every page's `listed`.
  // Sets `incomplete` if a page hid assets.
  static std::vector<Index> MergePages(std::vector<Page>& pages, bool& incomplete);
  // Installs the paged listing; if the album is still as it was before the
  // pages (key_before, gen_before), the listing is complete and a listing
  // store is set, returns its assets for the store, else nothing (and a
  // changed album is paged again at the next look).
  std::vector<AssetRec> InstallFetchedLocked(AlbumState& album, std::vector<Index> listed,
                                             bool incomplete, const AlbumKey& key_before,
                                             uint64_t gen_before)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Page FetchPage(const std::string& album_id, int page) ABSL_LOCKS_EXCLUDED(mu_);
  // catalog.cc
  // The album's listing from the listing store, if it holds one for the
  // album's current state; whether it did. Called with the album claimed.
  bool LoadStoredListing(const std::string& album_id);
  AlbumKey KeyOf(const AlbumState& album) const;
  // Makes `assets` the album's listing (names assigned), listed as of now.
  void InstallListingLocked(AlbumState& album, std::vector<Index> assets, bool incomplete)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Saves a complete listing on a thread of its own (one at a time); `gen`:
  // the album's store_gen when the listing was taken.
  void SaveListingAsync(const std::string& album_id, const AlbumKey& key, uint64_t gen,
                        std::vector<AssetRec> assets);
  // The stored listing no longer describes the album: our own change.
  void ForgetStoredListingLocked(AlbumState& album) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the listing needs no paging now: current, or paging failed less
  // than a TTL ago (what is known is served meanwhile, as for the album list).
  bool FreshLocked(const AlbumState& album) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void NameAlbumsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces the album list (keeping listings of unchanged albums).
  void ApplyAlbumListLocked(const std::vector<immich::Album>& albums)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // catalog_listing.cc
  void AssignNamesLocked(AlbumState& album, std::vector<Index> assets)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::string_view ShownLocked(const Listed& l) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The entry showing `shown`, or nullptr (binary search).
  const Listed* FindShownLocked(const AlbumState& album, absl::string_view shown) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The entry of `asset`, or nullptr (a scan).
  const Listed* FindAssetLocked(const AlbumState& album, Index asset) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void InsertLocked(AlbumState& album, Index asset, absl::string_view shown)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores an asset; an existing one whose name changed keeps its shown
  // names in every listing (names are sticky).
  Index PutAssetLocked(const AssetRec& rec) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts an album's own shown names as discarded (it is being dropped).
  void DiscardListingLocked(const AlbumState& album) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Rebuilds the string pool once most of it is discarded names.
  void CompactNamesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  immich::ImmichApi* const api_;
  AlbumStore* store_ = nullptr;
  ListingStore* listings_ = nullptr;
  absl::Mutex saver_mu_;  // acquired before mu_
  std::thread saver_ ABSL_GUARDED_BY(saver_mu_);
  const absl::Duration ttl_;
  const Clock clock_;

  // Serialises refreshes of the album list. Album listings do not take it
  // (see AlbumClaim): a slow or endless album never blocks the root.
  // Acquired before mu_, never while holding it.
  absl::Mutex root_mu_;
  mutable absl::Mutex mu_;
  // Albums whose listing a thread is refreshing (AlbumClaim). Never held
  // across a network call: only the claim is.
  absl::flat_hash_set<std::string> claimed_ ABSL_GUARDED_BY(mu_);
  absl::Time root_checked_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool root_known_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, AlbumState> albums_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> album_by_shown_ ABSL_GUARDED_BY(mu_);
  AssetTable assets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_CATALOG_H_
