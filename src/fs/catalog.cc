#include "fs/catalog.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "fs/name_codec.h"

namespace immichfs::fs {
namespace {

constexpr int kPageSize = 1000;

std::string Tag(const std::string& id) { return id.substr(0, 8); }

bool Older(const AssetRec* a, const AssetRec* b) {
  if (a->uploaded != b->uploaded) return a->uploaded < b->uploaded;
  return a->id < b->id;
}

// The shown name for `name` that is free in `taken`: plain if possible,
// else tagged with the id. Names too long for NAME_MAX are always tagged.
template <typename Taken>
std::string FreeName(const std::string& name, const std::string& id, const Taken& taken) {
  std::string base = EncodeName(name);
  if (base.size() <= kNameMax && !taken.contains(base)) return base;
  std::string tagged = WithTag(base, Tag(id));
  if (!taken.contains(tagged)) return tagged;
  return WithTag(base, id);
}

}  // namespace

Catalog::Catalog(immich::ImmichApi* api, absl::Duration ttl, Clock clock)
    : api_(api), ttl_(ttl), clock_(std::move(clock)) {}

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
  absl::MutexLock fetch(&fetch_mu_);
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

  absl::MutexLock lock(&mu_);
  absl::flat_hash_map<std::string, AlbumState> next;
  for (const immich::Album& a : *albums) {
    AlbumState st;
    auto old = albums_.find(a.id);
    if (old != albums_.end()) st = std::move(old->second);
    bool unchanged = old != albums_.end() && st.view.updated == a.updated_at &&
                     st.view.asset_count == a.asset_count &&
                     st.last_modified_asset == a.last_modified_asset;
    if (!unchanged) st.listed = false;
    st.view.id = a.id;
    st.view.name = a.name;
    st.view.created = a.created_at;
    st.view.updated = a.updated_at;
    st.view.asset_count = a.asset_count;
    st.last_modified_asset = a.last_modified_asset;
    next.emplace(a.id, std::move(st));
  }
  albums_ = std::move(next);
  NameAlbumsLocked();
  root_checked_ = clock_();
  root_known_ = true;
  return absl::OkStatus();
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
    bool keep = !shown.empty() && !by_shown.contains(shown) &&
                (shown == plain || shown == WithTag(plain, Tag(st->view.id)));
    if (!keep) shown = FreeName(st->view.name, st->view.id, by_shown);
    st->view.shown = shown;
    by_shown[shown] = st->view.id;
  }
  album_by_shown_ = std::move(by_shown);
}

absl::Status Catalog::RefreshAlbum(const std::string& album_id) {
  if (absl::Status s = RefreshRoot(); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    auto it = albums_.find(album_id);
    if (it == albums_.end()) return absl::NotFoundError(absl::StrCat("album ", album_id, " is gone"));
    if (FreshLocked(it->second)) return absl::OkStatus();
  }
  absl::MutexLock fetch(&fetch_mu_);
  {
    absl::MutexLock lock(&mu_);
    auto it = albums_.find(album_id);
    if (it != albums_.end() && FreshLocked(it->second)) return absl::OkStatus();
  }
  return FetchListing(album_id);
}

bool Catalog::FreshLocked(const AlbumState& album) const {
  if (!album.listed) return false;
  // A listing that had to hide assets of unknown size is paged again after
  // the TTL even if the album looks unchanged: the sizes may be known now.
  return !album.incomplete || clock_() - album.listed_at < ttl_;
}

absl::Status Catalog::FetchListing(const std::string& album_id) {
  std::vector<AssetRec> recs;
  bool incomplete = false;
  for (int page = 1;;) {
    absl::StatusOr<immich::AssetPage> p = api_->SearchAlbumAssets(album_id, page, kPageSize);
    if (!p.ok()) return p.status();
    for (const immich::Asset& a : p->assets) {
      // The video half of a live photo is hidden in Immich; show the still only.
      if (a.visibility == "hidden" || a.is_trashed) continue;
      if (a.size < 0) {
        // Listings carry exifInfo.fileSizeInByte; if a fresh upload lacks it,
        // ask for the asset itself rather than guess a size.
        absl::StatusOr<immich::Asset> full = api_->GetAsset(a.id);
        if (!full.ok() || full->size < 0) {
          LOG(kWarning, "asset %s ('%s') in album %s has no size yet; hidden until Immich "
              "knows it", a.id, a.original_file_name, album_id);
          incomplete = true;
          continue;
        }
        recs.push_back(ToRec(*full));
        continue;
      }
      recs.push_back(ToRec(a));
    }
    if (!p->next_page) break;
    page = *p->next_page;
  }

  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return absl::NotFoundError(absl::StrCat("album ", album_id, " is gone"));
  // Insert everything first: inserting into a flat_hash_map moves its
  // elements, so pointers are taken only once it stops growing.
  std::vector<std::string> ids;
  ids.reserve(recs.size());
  for (AssetRec& r : recs) {
    ids.push_back(r.id);
    std::string key = r.id;
    assets_.insert_or_assign(std::move(key), std::move(r));
  }
  std::vector<const AssetRec*> ptrs;
  ptrs.reserve(ids.size());
  for (const std::string& id : ids) ptrs.push_back(&assets_.at(id));
  AssignNames(it->second, std::move(ptrs));
  it->second.listed = true;
  it->second.incomplete = incomplete;
  it->second.listed_at = clock_();
  return absl::OkStatus();
}

void Catalog::AssignNames(AlbumState& album, std::vector<const AssetRec*> assets) {
  std::sort(assets.begin(), assets.end(), [&](const AssetRec* a, const AssetRec* b) {
    bool a_named = album.shown_of.contains(a->id), b_named = album.shown_of.contains(b->id);
    if (a_named != b_named) return a_named;
    return Older(a, b);
  });
  std::map<std::string, std::string> names;
  absl::flat_hash_map<std::string, std::string> shown_of;
  for (const AssetRec* a : assets) {
    std::string shown;
    if (auto old = album.shown_of.find(a->id); old != album.shown_of.end() &&
                                               !names.contains(old->second)) {
      shown = old->second;
    } else {
      shown = FreeName(a->name, a->id, names);
    }
    names[shown] = a->id;
    shown_of[a->id] = shown;
  }
  album.names = std::move(names);
  album.shown_of = std::move(shown_of);
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

bool Catalog::HasAlbums() const {
  absl::MutexLock lock(&mu_);
  return root_known_;
}

std::vector<std::pair<std::string, std::string>> Catalog::Listing(
    const std::string& album_id) const {
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return {};
  return {it->second.names.begin(), it->second.names.end()};
}

std::optional<std::string> Catalog::AssetInAlbum(const std::string& album_id,
                                                 const std::string& shown) const {
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return std::nullopt;
  auto n = it->second.names.find(shown);
  if (n == it->second.names.end()) return std::nullopt;
  return n->second;
}

std::optional<std::string> Catalog::ShownNameOf(const std::string& album_id,
                                                const std::string& asset_id) const {
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return std::nullopt;
  auto n = it->second.shown_of.find(asset_id);
  if (n == it->second.shown_of.end()) return std::nullopt;
  return n->second;
}

std::optional<AssetRec> Catalog::Asset(const std::string& asset_id) const {
  absl::MutexLock lock(&mu_);
  auto it = assets_.find(asset_id);
  if (it == assets_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Catalog::AlbumsHolding(const std::string& asset_id) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [id, st] : albums_) {
    if (st.shown_of.contains(asset_id)) out.push_back(id);
  }
  return out;
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
  if (a.asset_count == 0 && st.names.empty()) st.listed = true;  // a new album: nothing to page
  NameAlbumsLocked();
}

void Catalog::DropAlbum(const std::string& album_id) {
  absl::MutexLock lock(&mu_);
  albums_.erase(album_id);
  NameAlbumsLocked();
}

void Catalog::PutAssetInAlbum(const std::string& album_id, const AssetRec& asset,
                              const std::string& wanted_name) {
  absl::MutexLock lock(&mu_);
  assets_.insert_or_assign(asset.id, asset);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return;
  AlbumState& st = it->second;
  if (st.shown_of.contains(asset.id)) return;
  std::string shown = !wanted_name.empty() && !st.names.contains(wanted_name)
                          ? wanted_name
                          : FreeName(asset.name, asset.id, st.names);
  st.names[shown] = asset.id;
  st.shown_of[asset.id] = shown;
}

void Catalog::DropAssetFromAlbum(const std::string& album_id, const std::string& asset_id) {
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return;
  auto s = it->second.shown_of.find(asset_id);
  if (s == it->second.shown_of.end()) return;
  it->second.names.erase(s->second);
  it->second.shown_of.erase(s);
}

void Catalog::Invalidate(const std::string& album_id) {
  absl::MutexLock lock(&mu_);
  root_checked_ = absl::InfinitePast();
  if (album_id.empty()) return;
  if (auto it = albums_.find(album_id); it != albums_.end()) it->second.listed = false;
}

}  // namespace immichfs::fs
