// Paging an album's listing from Immich (POST /api/search/metadata), and the
// claim that lets one thread do it while every other album, and the root,
// stay usable. The rest of the catalog is in catalog.cc.
//
// Paging is bounded by what the album's assetCount promises: at most
// 2 * ceil(assetCount / 1000) + kExtraPages pages (never more than
// 2 * kMaxPages + kExtraPages). Twice, because search also returns the
// hidden video half of each live photo, which assetCount does not count. A
// server that offers nextPage beyond that, or on
// a page that added nothing new, is misbehaving: the listing is what was
// received, with one warning in the log; when the bound cut it short it
// counts as incomplete, so it is paged again after the TTL rather than
// trusted (and it is never saved to the listing store).
#include <algorithm>
#include <atomic>
#include <optional>
#include <system_error>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "fs/catalog.h"
#include "fs/memory.h"

namespace immichfs::fs {
namespace {

constexpr int kPageSize = 1000;
// Pages of one album asked for at once. Four keeps a 2-core server busy
// without crowding out other clients; each costs a pooled connection.
constexpr int kParallelPages = 4;
// An assetCount beyond this many pages is not trusted for the parallel part.
constexpr int64_t kMaxPages = 10000;
// Pages asked for beyond what assetCount promises: the album may grow while
// it is paged.
constexpr int64_t kExtraPages = 2;
// Listings at least this big free enough to give back (memory.h).
constexpr size_t kTrimAfter = 2000;

// ceil(count / kPageSize), at least 1, without overflow for any count.
int64_t PagesFor(int64_t count) {
  if (count <= 0) return 1;
  return count / kPageSize + (count % kPageSize != 0 ? 1 : 0);
}

}  // namespace

Catalog::AlbumClaim::AlbumClaim(Catalog* catalog, const std::string& album_id)
    : catalog_(catalog), album_id_(album_id) {
  absl::MutexLock lock(&catalog_->mu_);
  catalog_->mu_.Await(absl::Condition(&Unclaimed, this));
  catalog_->claimed_.insert(album_id_);
}

Catalog::AlbumClaim::~AlbumClaim() {
  absl::MutexLock lock(&catalog_->mu_);
  catalog_->claimed_.erase(album_id_);
}

bool Catalog::AlbumClaim::Unclaimed(AlbumClaim* claim) {
  return !claim->catalog_->claimed_.contains(claim->album_id_);
}

Catalog::Page Catalog::FetchPage(const std::string& album_id, int page) {
  Page out;
  out.number = page;
  out.fetched = true;
  absl::StatusOr<immich::AssetPage> p = api_->SearchAlbumAssets(album_id, page, kPageSize);
  if (!p.ok()) {
    out.status = p.status();
    return out;
  }
  out.empty = p->assets.empty();
  std::vector<AssetRec> recs;
  recs.reserve(p->assets.size());
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
        out.incomplete = true;
        continue;
      }
      recs.push_back(ToRec(*full));
      continue;
    }
    recs.push_back(ToRec(a));
  }
  out.next_page = p->next_page;
  out.listed.reserve(recs.size());
  absl::MutexLock lock(&mu_);
  for (const AssetRec& r : recs) out.listed.push_back(PutAssetLocked(r));
  return out;
}

bool Catalog::FollowNextPages(const std::string& album_id, int64_t max_pages,
                              int64_t asset_count, std::vector<Page>& pages) {
  if (!pages.back().next_page) return false;
  auto nothing_new = [&](const Page& p) {
    LOG(kWarning, "album %s: Immich offers page %d after page %d, which added nothing; "
        "taking the listing as complete (%d pages)", album_id, *p.next_page, p.number,
        pages.size());
    return false;
  };
  if (pages.back().empty) return nothing_new(pages.back());
  absl::flat_hash_set<Index> seen;
  for (const Page& p : pages) seen.insert(p.listed.begin(), p.listed.end());
  for (int64_t asked = static_cast<int64_t>(pages.size()); pages.back().next_page; ++asked) {
    if (asked >= max_pages) {
      size_t received = 0;
      for (const Page& p : pages) received += p.listed.size();
      LOG(kWarning, "album %s: Immich still offers page %d after %d pages, more than its "
          "assetCount (%d) accounts for; showing the %d assets received and listing the album "
          "again after the cache TTL. A server bug, or the album grew fast.",
          album_id, *pages.back().next_page, asked, asset_count, received);
      return true;
    }
    Page p = FetchPage(album_id, *pages.back().next_page);
    if (!p.status.ok()) {
      pages.push_back(std::move(p));
      return false;
    }
    bool adds = p.listed.empty() && !p.empty;  // all hidden: not proof of a loop
    for (Index i : p.listed) adds = seen.insert(i).second || adds;
    pages.push_back(std::move(p));
    if (!adds && pages.back().next_page) return nothing_new(pages.back());
  }
  return false;
}

// Steps: note the album as the pages will describe it (and how many pages it
// promises) / page it in parallel (FetchPromisedPages), then follow nextPage
// (FollowNextPages) / merge the pages, each asset once (MergePages) / install
// the listing and pick what to save (InstallFetchedLocked) / save it.
absl::Status Catalog::FetchListing(const std::string& album_id) {
  // Each page goes into the asset table as it arrives, so what is held
  // meanwhile is a few pages and 4 bytes per asset, not the whole album twice.
  // A failed page leaves the listing as it was (assets already stored only
  // got fresher attributes). The catalog's lock is not held while a page is
  // on its way; the album's claim (RefreshAlbum) is.
  //
  // The album's assetCount (from GET /api/albums) says how many pages there
  // are, so those are asked for at once, kParallelPages at a time: each page
  // costs the server a few ms before its first byte, and paging 20 000 assets
  // one page after the other spent most of its time waiting for that. Pages
  // past the expected ones (the album grew meanwhile) follow nextPage, within
  // the bound this file's header describes.
  int64_t promised = 1;
  int64_t asset_count = 0;
  // The album as the pages will describe it: a change of ours while they
  // are fetched makes them older than the album (see the save below).
  AlbumKey key_before;
  uint64_t gen_before = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = albums_.find(album_id);
    if (it == albums_.end()) {
      return absl::NotFoundError(absl::StrCat("album ", album_id, " is gone"));
    }
    key_before = KeyOf(it->second);
    gen_before = it->second.store_gen;
    asset_count = it->second.view.asset_count;
    promised = std::min(PagesFor(asset_count), kMaxPages);
  }
  std::vector<Page> pages = FetchPromisedPages(album_id, static_cast<int>(promised));
  for (const Page& p : pages) {
    if (!p.status.ok()) return p.status;
  }
  pages.erase(std::remove_if(pages.begin(), pages.end(), [](const Page& p) { return !p.fetched; }),
              pages.end());
  // Search lists the hidden video half of a live photo too; assetCount does not.
  const bool cut = FollowNextPages(album_id, 2 * promised + kExtraPages, asset_count, pages);
  if (!pages.back().status.ok()) return pages.back().status;

  bool incomplete = cut;
  std::vector<Index> listed = MergePages(pages, incomplete);
  const size_t count = listed.size();
  std::vector<AssetRec> to_save;  // what goes to the listing store, if anything
  {
    absl::MutexLock lock(&mu_);
    auto it = albums_.find(album_id);
    if (it == albums_.end()) {
      return absl::NotFoundError(absl::StrCat("album ", album_id, " is gone"));
    }
    to_save = InstallFetchedLocked(it->second, std::move(listed), incomplete, key_before,
                                   gen_before);
  }
  if (!to_save.empty()) {
    SaveListingAsync(album_id, key_before, gen_before, std::move(to_save));
  }
  if (count >= kTrimAfter) ReturnFreedMemory();  // the pages' JSON
  return absl::OkStatus();
}

std::vector<Catalog::Page> Catalog::FetchPromisedPages(const std::string& album_id,
                                                       int expected) {
  std::vector<Page> pages(static_cast<size_t>(expected));
  std::atomic<int> next{0};
  auto worker = [&] {
    for (int i; (i = next.fetch_add(1)) < expected;) {
      Page& p = pages[static_cast<size_t>(i)];
      p = FetchPage(album_id, i + 1);
      // Give up early on an error; stop at the real last page (assetCount
      // is a hint, and may be a lie).
      if (!p.status.ok() || !p.next_page || p.empty) next.store(expected);
    }
  };
  std::vector<std::thread> helpers;
  for (int i = 1; i < std::min(expected, kParallelPages); ++i) {
    try {
      helpers.emplace_back(worker);
    } catch (const std::system_error& e) {
      LOG(kDebug, "listing album %s: one thread fewer (%s)", album_id, e.what());
      break;
    }
  }
  worker();
  for (std::thread& t : helpers) t.join();
  return pages;
}

std::vector<Catalog::Index> Catalog::MergePages(std::vector<Page>& pages, bool& incomplete) {
  // Pages asked for at different moments can overlap when the album changed
  // in between: each asset once.
  std::vector<Index> listed;
  size_t total = 0;
  for (const Page& p : pages) total += p.listed.size();
  listed.reserve(total);
  absl::flat_hash_set<Index> seen;
  if (pages.size() > 1) seen.reserve(total);
  for (Page& p : pages) {
    incomplete = incomplete || p.incomplete;
    for (Index i : p.listed) {
      if (pages.size() == 1 || seen.insert(i).second) listed.push_back(i);
    }
    p.listed = {};
  }
  return listed;
}

std::vector<AssetRec> Catalog::InstallFetchedLocked(AlbumState& album, std::vector<Index> listed,
                                                    bool incomplete, const AlbumKey& key_before,
                                                    uint64_t gen_before) {
  std::vector<AssetRec> to_save;
  InstallListingLocked(album, std::move(listed), incomplete);
  album.stored_ok = false;  // paged: what Immich said wins from now on
  if (!(key_before == KeyOf(album)) || gen_before != album.store_gen) {
    // We changed the album while its pages came (or a new album list
    // says it changed): they may predate that change. Page again at the
    // next look, and store none of it.
    album.listed = false;
  } else if (listings_ != nullptr && !incomplete) {
    to_save.reserve(album.listing.size());
    for (const Listed& l : album.listing) to_save.push_back(assets_.Get(l.asset));
    album.maybe_stored = true;
  }
  return to_save;
}

}  // namespace immichfs::fs
