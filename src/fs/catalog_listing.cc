// The catalog's listings: one sorted vector of {asset, shown name} per album
// over the packed AssetTable (catalog.h explains the layout), and the rules
// that name assets within a folder. Albums and refreshes are in catalog.cc.
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "fs/catalog.h"
#include "fs/name_codec.h"

namespace immichfs::fs {

std::string Catalog::FreeName(absl::string_view name, absl::FunctionRef<std::string()> id,
                              absl::FunctionRef<bool(absl::string_view)> taken) {
  std::string base = EncodeName(name);
  if (base.size() <= kNameMax && !taken(base)) return base;
  const std::string id_text = id();
  std::string tagged = WithTag(base, id_text.substr(0, 8));
  if (!taken(tagged)) return tagged;
  return WithTag(base, id_text);
}

Catalog::Index Catalog::PutAssetLocked(const AssetRec& rec) {
  std::optional<std::string> old_name;
  Index i = assets_.Put(rec, &old_name);
  if (old_name) {
    // The name a listing showed as "the asset's own" stays, spelled out.
    for (auto& [id, st] : albums_) {
      for (Listed& l : st.listing) {
        if (l.asset == i && l.shown == kPlain) l.shown = assets_.AddString(*old_name);
      }
    }
  }
  return i;
}

absl::string_view Catalog::ShownLocked(const Listed& l) const {
  return l.shown == kPlain ? assets_.Name(l.asset) : assets_.String(l.shown);
}

const Catalog::Listed* Catalog::FindShownLocked(const AlbumState& album,
                                                absl::string_view shown) const {
  auto it = std::lower_bound(album.listing.begin(), album.listing.end(), shown,
                             [&](const Listed& l, absl::string_view s)
                                 ABSL_SHARED_LOCKS_REQUIRED(mu_) { return ShownLocked(l) < s; });
  if (it == album.listing.end() || ShownLocked(*it) != shown) return nullptr;
  return &*it;
}

const Catalog::Listed* Catalog::FindAssetLocked(const AlbumState& album, Index asset) const {
  for (const Listed& l : album.listing) {
    if (l.asset == asset) return &l;
  }
  return nullptr;
}

void Catalog::InsertLocked(AlbumState& album, Index asset, absl::string_view shown) {
  Listed l{asset, shown == assets_.Name(asset) ? kPlain : assets_.AddString(shown)};
  auto it = std::lower_bound(album.listing.begin(), album.listing.end(), shown,
                             [&](const Listed& e, absl::string_view s)
                                 ABSL_SHARED_LOCKS_REQUIRED(mu_) { return ShownLocked(e) < s; });
  album.listing.insert(it, l);
}

void Catalog::DiscardListingLocked(const AlbumState& album) {
  for (const Listed& l : album.listing) {
    if (l.shown != kPlain) assets_.Discard(l.shown);
  }
}

void Catalog::CompactNamesLocked() {
  if (!assets_.Wasteful()) return;
  assets_.CompactStrings([&](AssetTable::Remap remap) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (auto& [id, st] : albums_) {
      for (Listed& l : st.listing) {
        if (l.shown != kPlain) l.shown = remap(l.shown);
      }
    }
  });
}

void Catalog::AssignNamesLocked(AlbumState& album, std::vector<Index> assets) {
  // An asset listed twice is shown once.
  std::sort(assets.begin(), assets.end());
  assets.erase(std::unique(assets.begin(), assets.end()), assets.end());
  struct Old {
    StringPool::Ref shown;
    bool kept = false;
  };
  absl::flat_hash_map<Index, Old> old;
  old.reserve(album.listing.size());
  for (const Listed& l : album.listing) old.emplace(l.asset, Old{l.shown});
  auto older = [&](Index a, Index b) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (assets_.Uploaded(a) != assets_.Uploaded(b)) return assets_.Uploaded(a) < assets_.Uploaded(b);
    return PackedId::Compare(assets_.Id(a), assets_.Id(b)) < 0;
  };
  std::sort(assets.begin(), assets.end(), [&](Index a, Index b) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    bool a_named = old.contains(a), b_named = old.contains(b);
    if (a_named != b_named) return a_named;
    return older(a, b);
  });
  // Views into the pool, which does not move while names are added.
  absl::flat_hash_set<absl::string_view> taken;
  taken.reserve(assets.size());
  std::vector<Listed> next;
  next.reserve(assets.size());
  for (Index a : assets) {
    if (auto o = old.find(a); o != old.end()) {
      Listed l{a, o->second.shown};
      if (taken.insert(ShownLocked(l)).second) {
        o->second.kept = true;
        next.push_back(l);
        continue;
      }
    }
    std::string shown = FreeName(
        assets_.Name(a), [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return assets_.Id(a).ToString(); },
        [&](absl::string_view s) { return taken.contains(s); });
    Listed l{a, shown == assets_.Name(a) ? kPlain : assets_.AddString(shown)};
    taken.insert(ShownLocked(l));
    next.push_back(l);
  }
  for (const auto& [a, o] : old) {
    if (!o.kept && o.shown != kPlain) assets_.Discard(o.shown);
  }
  std::sort(next.begin(), next.end(),
            [&](const Listed& x, const Listed& y) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
              return ShownLocked(x) < ShownLocked(y);
            });
  album.listing = std::move(next);
}

std::vector<std::pair<std::string, std::string>> Catalog::Listing(
    const std::string& album_id) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<std::string, std::string>> out;
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return out;
  out.reserve(it->second.listing.size());
  for (const Listed& l : it->second.listing) {
    out.emplace_back(std::string(ShownLocked(l)), assets_.Id(l.asset).ToString());
  }
  return out;
}

std::vector<ListedAsset> Catalog::ListAssets(const std::string& album_id) const {
  absl::MutexLock lock(&mu_);
  std::vector<ListedAsset> out;
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return out;
  out.reserve(it->second.listing.size());
  for (const Listed& l : it->second.listing) {
    out.push_back(ListedAsset{std::string(ShownLocked(l)), assets_.Id(l.asset),
                              assets_.Attrs(l.asset)});
  }
  return out;
}

std::optional<std::string> Catalog::AssetInAlbum(const std::string& album_id,
                                                 const std::string& shown) const {
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return std::nullopt;
  const Listed* l = FindShownLocked(it->second, shown);
  if (l == nullptr) return std::nullopt;
  return assets_.Id(l->asset).ToString();
}

std::optional<std::string> Catalog::ShownNameOf(const std::string& album_id,
                                                const std::string& asset_id) const {
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  std::optional<Index> asset = assets_.Find(PackedId::Of(asset_id));
  if (it == albums_.end() || !asset) return std::nullopt;
  const Listed* l = FindAssetLocked(it->second, *asset);
  if (l == nullptr) return std::nullopt;
  return std::string(ShownLocked(*l));
}

std::vector<std::string> Catalog::AlbumsHolding(const std::string& asset_id) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  std::optional<Index> asset = assets_.Find(PackedId::Of(asset_id));
  if (!asset) return out;
  for (const auto& [id, st] : albums_) {
    if (FindAssetLocked(st, *asset) != nullptr) out.push_back(id);
  }
  return out;
}

void Catalog::PutAssetInAlbum(const std::string& album_id, const AssetRec& asset,
                              const std::string& wanted_name) {
  absl::MutexLock lock(&mu_);
  Index i = PutAssetLocked(asset);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return;
  AlbumState& st = it->second;
  ForgetStoredListingLocked(st);  // even if not listed (yet): pages may be in flight
  if (FindAssetLocked(st, i) != nullptr) return;
  auto taken = [&](absl::string_view s) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return FindShownLocked(st, s) != nullptr;
  };
  auto id = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return assets_.Id(i).ToString(); };
  std::string shown = !wanted_name.empty() && !taken(wanted_name)
                          ? wanted_name
                          : FreeName(assets_.Name(i), id, taken);
  InsertLocked(st, i, shown);
}

void Catalog::DropAssetFromAlbum(const std::string& album_id, const std::string& asset_id) {
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return;
  ForgetStoredListingLocked(it->second);  // even if not listed (yet): pages may be in flight
  std::optional<Index> asset = assets_.Find(PackedId::Of(asset_id));
  if (!asset) return;
  std::vector<Listed>& listing = it->second.listing;
  const Listed* l = FindAssetLocked(it->second, *asset);
  if (l == nullptr) return;
  if (l->shown != kPlain) assets_.Discard(l->shown);
  listing.erase(listing.begin() + (l - listing.data()));
  CompactNamesLocked();
}

}  // namespace immichfs::fs
