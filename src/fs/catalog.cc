#include "fs/catalog.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <system_error>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "fs/memory.h"
#include "fs/name_codec.h"

namespace immichfs::fs {
namespace {

// Listings at least this big free enough to give back (memory.h).
constexpr size_t kTrimAfter = 2000;

std::string Tag(const std::string& id) { return id.substr(0, 8); }

constexpr absl::string_view kControlName = ".immich";  // filesystem.cc's control folder

}  // namespace

Catalog::Catalog(immich::ImmichApi* api, absl::Duration ttl, Clock clock)
    : api_(api), ttl_(ttl), clock_(std::move(clock)) {}

Catalog::~Catalog() {
  absl::MutexLock lock(&saver_mu_);
  if (saver_.joinable()) saver_.join();
}

AssetRec Catalog::ToRec(const immich::Asset& a) {
  AssetRec r;
  r.id = a.id;
  r.name = a.original_file_name;
  r.checksum = a.checksum;
  r.size = a.size;
  r.mtime = a.file_modified_at;
  r.ctime = a.updated_at;
  r.uploaded = a.created_at;
  return r;
}

absl::Status Catalog::RefreshRoot(bool force) {
  {
    absl::MutexLock lock(&mu_);
    if (!force && root_known_ && clock_() - root_checked_ < ttl_) return absl::OkStatus();
  }
  absl::MutexLock fetch(&root_mu_);
  {
    // Another thread may have refreshed while we waited.
    absl::MutexLock lock(&mu_);
    if (!force && root_known_ && clock_() - root_checked_ < ttl_) return absl::OkStatus();
  }
  absl::StatusOr<std::vector<immich::Album>> albums = api_->ListAlbums();
  if (!albums.ok()) {
    // Keep serving what is known, and do not hammer a server that is down:
    // the next attempt waits for another TTL.
    absl::MutexLock lock(&mu_);
    if (root_known_) root_checked_ = clock_();
    return albums.status();
  }
  {
    absl::MutexLock lock(&mu_);
    ApplyAlbumListLocked(*albums);
    root_checked_ = clock_();
  }
  if (store_ != nullptr) {
    if (absl::Status s = store_->Save(*albums); !s.ok()) {
      LOG(kWarning, "saving the album list for offline starts: %s", s.ToString());
    }
  }
  if (listings_ != nullptr) {
    std::vector<std::string> ids;
    ids.reserve(albums->size());
    for (const immich::Album& a : *albums) ids.push_back(a.id);
    listings_->Prune(ids);  // deleted albums' listings
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Catalog::LoadStoredAlbums() {
  if (store_ == nullptr) return absl::NotFoundError("no album store");
  absl::StatusOr<std::vector<immich::Album>> albums = store_->Load();
  if (!albums.ok()) return albums.status();
  absl::MutexLock fetch(&root_mu_);
  absl::MutexLock lock(&mu_);
  if (root_known_) return albums_.size();  // Immich answered meanwhile: that list wins
  ApplyAlbumListLocked(*albums);
  // Known, but stale: the next access asks Immich first.
  root_checked_ = absl::InfinitePast();
  return albums_.size();
}

void Catalog::ApplyAlbumListLocked(const std::vector<immich::Album>& albums) {
  absl::flat_hash_map<std::string, AlbumState> next;
  for (const immich::Album& a : albums) {
    AlbumState st;
    auto old = albums_.find(a.id);
    if (old != albums_.end()) st = std::move(old->second);
    bool unchanged = old != albums_.end() && st.view.updated == a.updated_at &&
                     st.view.asset_count == a.asset_count &&
                     st.last_modified_asset == a.last_modified_asset;
    if (!unchanged) {
      st.listed = false;
      // A failed listing is not retried within the TTL; a changed album is.
      st.fetch_failed_at = absl::InfinitePast();
    }
    st.view.id = a.id;
    st.view.name = a.name;
    st.view.created = a.created_at;
    st.view.updated = a.updated_at;
    st.view.asset_count = a.asset_count;
    st.last_modified_asset = a.last_modified_asset;
    next.emplace(a.id, std::move(st));
  }
  for (auto& [id, st] : albums_) {
    if (!next.contains(id)) DiscardListingLocked(st);  // moved-from ones are empty
  }
  albums_ = std::move(next);
  NameAlbumsLocked();
  root_known_ = true;
}

void Catalog::NameAlbumsLocked() {
  // Sticky first: an album keeps the shown name it had.
  std::vector<AlbumState*> order;
  for (auto& [id, st] : albums_) order.push_back(&st);
  std::sort(order.begin(), order.end(), [](const AlbumState* a, const AlbumState* b) {
    bool a_named = !a->view.shown.empty(), b_named = !b->view.shown.empty();
    if (a_named != b_named) return a_named;
    if (a->view.created != b->view.created) return a->view.created < b->view.created;
    return a->view.id < b->view.id;
  });
  std::map<std::string, std::string> by_shown;
  for (AlbumState* st : order) {
    std::string plain = EncodeName(st->view.name);
    std::string shown = st->view.shown;
    // The control folder's name is never an album's: an album Immich calls
    // ".immich" is told apart like a namesake.
    auto taken = [&](absl::string_view s) {
      return s == kControlName || by_shown.contains(std::string(s));
    };
    bool keep = !shown.empty() && !taken(shown) &&
                (shown == plain || shown == WithTag(plain, Tag(st->view.id)));
    if (!keep) shown = FreeName(st->view.name, [&] { return st->view.id; }, taken);
    st->view.shown = shown;
    by_shown[shown] = st->view.id;
  }
  album_by_shown_ = std::move(by_shown);
}

absl::Status Catalog::RefreshAlbum(const std::string& album_id) {
  if (absl::Status s = RefreshRoot(); !s.ok()) {
    // Immich cannot be reached: the album as last listed, if it was listed
    // in the state the known album list describes, beats an empty folder.
    AlbumClaim claim(this, album_id);
    LoadStoredListing(album_id);
    return s;
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = albums_.find(album_id);
    if (it == albums_.end()) return absl::NotFoundError(absl::StrCat("album ", album_id, " is gone"));
    if (FreshLocked(it->second)) return absl::OkStatus();
  }
  AlbumClaim claim(this, album_id);
  {
    // Another thread may have listed it while we waited.
    absl::MutexLock lock(&mu_);
    auto it = albums_.find(album_id);
    if (it != albums_.end() && FreshLocked(it->second)) return absl::OkStatus();
  }
  if (LoadStoredListing(album_id)) return absl::OkStatus();
  absl::Status st = FetchListing(album_id);
  if (!st.ok() && !absl::IsNotFound(st)) {
    // Without this, every lookup and create in the album paged it again
    // (with the client's retries, ~1.5 s each) while Immich was down.
    absl::MutexLock lock(&mu_);
    if (auto it = albums_.find(album_id); it != albums_.end()) {
      it->second.fetch_failed_at = clock_();
    }
  }
  return st;
}

AlbumKey Catalog::KeyOf(const AlbumState& album) const {
  return AlbumKey{album.view.asset_count, album.view.updated, album.last_modified_asset};
}

bool Catalog::LoadStoredListing(const std::string& album_id) {
  if (listings_ == nullptr) return false;
  AlbumKey key;
  {
    absl::MutexLock lock(&mu_);
    auto it = albums_.find(album_id);
    if (it == albums_.end() || it->second.listed || !it->second.stored_ok) return false;
    key = KeyOf(it->second);
  }
  absl::StatusOr<std::vector<AssetRec>> recs = listings_->Load(album_id, key);
  if (!recs.ok()) {
    if (!absl::IsNotFound(recs.status())) {
      LOG(kInfo, "stored listing ignored: %s", recs.status().ToString());
    }
    return false;
  }
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  // Our own change or a new album list may have come meanwhile.
  if (it == albums_.end() || it->second.listed || !it->second.stored_ok ||
      !(KeyOf(it->second) == key)) {
    return false;
  }
  std::vector<Index> listed;
  listed.reserve(recs->size());
  for (const AssetRec& r : *recs) {
    // An asset another album paged in this process is fresher than the disk.
    std::optional<Index> known = assets_.Find(PackedId::Of(r.id));
    listed.push_back(known ? *known : PutAssetLocked(r));
  }
  InstallListingLocked(it->second, std::move(listed), /*incomplete=*/false);
  LOG(kDebug, "album %s: %d assets from the stored listing", album_id, recs->size());
  return true;
}

void Catalog::SaveListingAsync(const std::string& album_id, const AlbumKey& key, uint64_t gen,
                               std::vector<AssetRec> assets) {
  absl::MutexLock lock(&saver_mu_);
  if (saver_.joinable()) saver_.join();  // the previous save; they are rare
  auto save = [this, album_id, key, gen, assets = std::move(assets)]() mutable {
    absl::Status st = listings_->Save(album_id, key, assets);
    const bool big = assets.size() >= kTrimAfter;
    assets = {};
    if (big) ReturnFreedMemory();  // the copy and its text
    if (!st.ok()) {
      LOG(kInfo, "saving the listing of album %s: %s", album_id, st.ToString());
      return;
    }
    absl::MutexLock lock(&mu_);
    auto it = albums_.find(album_id);
    if (it == albums_.end() || it->second.store_gen != gen) {
      // Changed by us since the listing was taken: not what the album holds.
      listings_->Remove(album_id);
    }
  };
  try {
    saver_ = std::thread(std::move(save));
  } catch (const std::system_error& e) {
    LOG(kDebug, "listing of album %s not saved: no thread (%s)", album_id, e.what());
  }
}

void Catalog::ForgetStoredListingLocked(AlbumState& album) {
  album.stored_ok = false;
  ++album.store_gen;
  if (listings_ == nullptr || !album.maybe_stored) return;
  album.maybe_stored = false;
  listings_->Remove(album.view.id);
}

void Catalog::InstallListingLocked(AlbumState& album, std::vector<Index> assets, bool incomplete) {
  AssignNamesLocked(album, std::move(assets));
  album.listed = true;
  album.incomplete = incomplete;
  album.listed_at = clock_();
  album.fetch_failed_at = absl::InfinitePast();
  CompactNamesLocked();
}

bool Catalog::FreshLocked(const AlbumState& album) const {
  if (clock_() - album.fetch_failed_at < ttl_) return true;
  if (!album.listed) return false;
  // A listing that had to hide assets of unknown size is paged again after
  // the TTL even if the album looks unchanged: the sizes may be known now.
  return !album.incomplete || clock_() - album.listed_at < ttl_;
}

std::vector<AlbumView> Catalog::Albums() const {
  absl::MutexLock lock(&mu_);
  std::vector<AlbumView> out;
  for (const auto& [shown, id] : album_by_shown_) out.push_back(albums_.at(id).view);
  return out;
}

std::optional<AlbumView> Catalog::AlbumByShown(const std::string& shown) const {
  absl::MutexLock lock(&mu_);
  auto it = album_by_shown_.find(shown);
  if (it == album_by_shown_.end()) return std::nullopt;
  return albums_.at(it->second).view;
}

std::optional<AlbumView> Catalog::AlbumById(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(id);
  if (it == albums_.end()) return std::nullopt;
  return it->second.view;
}

bool Catalog::ContentsKnown(const std::string& album_id) const {
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return false;
  return it->second.listed_at != absl::InfinitePast() || it->second.view.asset_count == 0;
}

bool Catalog::HasAlbums() const {
  absl::MutexLock lock(&mu_);
  return root_known_;
}

std::optional<AssetRec> Catalog::Asset(const std::string& asset_id) const {
  absl::MutexLock lock(&mu_);
  std::optional<Index> asset = assets_.Find(PackedId::Of(asset_id));
  if (!asset) return std::nullopt;
  return assets_.Get(*asset);
}

size_t Catalog::AlbumCount() const {
  absl::MutexLock lock(&mu_);
  return album_by_shown_.size();
}

size_t Catalog::AssetCount() const {
  absl::MutexLock lock(&mu_);
  return assets_.size();
}

void Catalog::PutAlbum(const immich::Album& a) {
  absl::MutexLock lock(&mu_);
  AlbumState& st = albums_[a.id];
  st.view.id = a.id;
  st.view.name = a.name;
  st.view.created = a.created_at;
  st.view.updated = a.updated_at;
  st.view.asset_count = a.asset_count;
  st.last_modified_asset = a.last_modified_asset;
  if (a.asset_count == 0 && st.listing.empty()) st.listed = true;  // a new album: nothing to page
  NameAlbumsLocked();
}

void Catalog::DropAlbum(const std::string& album_id) {
  absl::MutexLock lock(&mu_);
  if (auto it = albums_.find(album_id); it != albums_.end()) {
    ForgetStoredListingLocked(it->second);
    DiscardListingLocked(it->second);
    albums_.erase(it);
  }
  NameAlbumsLocked();
  CompactNamesLocked();
}

void Catalog::Invalidate(const std::string& album_id) {
  absl::MutexLock lock(&mu_);
  root_checked_ = absl::InfinitePast();
  if (album_id.empty()) return;
  if (auto it = albums_.find(album_id); it != albums_.end()) {
    it->second.listed = false;
    it->second.stored_ok = false;  // revalidate with Immich, not with the disk
    it->second.fetch_failed_at = absl::InfinitePast();
  }
}

}  // namespace immichfs::fs
