// FakeImmichApi: the server and album calls (see memory_immich.h for the
// semantics they copy from Immich 3.1).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "memory_immich/memory_immich.h"

namespace immichfs::fake {

namespace {

absl::Status AlbumNotFound(const std::string& id) {
  return absl::NotFoundError("Not found or no album.read access: album " + id);
}

}  // namespace

// --- server ----------------------------------------------------------------------------

absl::Status FakeImmichApi::Ping() { return Enter(Method::kPing); }

absl::StatusOr<immich::ServerVersion> FakeImmichApi::GetVersion() {
  if (absl::Status s = Enter(Method::kGetVersion); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  return version_;
}

absl::StatusOr<immich::User> FakeImmichApi::GetMe() {
  if (absl::Status s = Enter(Method::kGetMe); !s.ok()) return s;
  return immich::User{.id = kFakeOwnerId, .email = "admin@example.com", .name = "Admin"};
}

absl::StatusOr<immich::MediaTypes> FakeImmichApi::GetMediaTypes() {
  if (absl::Status s = Enter(Method::kGetMediaTypes); !s.ok()) return s;
  return RealMediaTypes();
}

absl::StatusOr<immich::Storage> FakeImmichApi::GetStorage() {
  if (absl::Status s = Enter(Method::kGetStorage); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  return storage_;
}

// --- albums ------------------------------------------------------------------------------

absl::StatusOr<std::vector<immich::Album>> FakeImmichApi::ListAlbums() {
  if (absl::Status s = Enter(Method::kListAlbums); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  std::vector<immich::Album> out;
  for (const auto& [id, album] : albums_) out.push_back(AlbumViewLocked(album));
  return out;
}

absl::StatusOr<std::vector<immich::Album>> FakeImmichApi::ListAlbumsForAsset(
    const std::string& asset_id) {
  if (absl::Status s = Enter(Method::kListAlbumsForAsset); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  std::vector<immich::Album> out;
  auto it = assets_.find(asset_id);
  if (it == assets_.end()) return out;  // the server answers an empty list
  for (const std::string& album_id : it->second.albums) {
    out.push_back(AlbumViewLocked(albums_.at(album_id)));
  }
  return out;
}

absl::StatusOr<immich::Album> FakeImmichApi::GetAlbum(const std::string& album_id) {
  if (absl::Status s = Enter(Method::kGetAlbum); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return AlbumNotFound(album_id);
  return AlbumViewLocked(it->second);
}

absl::StatusOr<immich::Album> FakeImmichApi::CreateAlbum(const std::string& name) {
  if (absl::Status s = Enter(Method::kCreateAlbum); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  StoredAlbum album;
  album.meta.id = NewIdLocked();
  album.meta.name = name;
  album.meta.owner_id = kFakeOwnerId;
  album.meta.created_at = album.meta.updated_at = TickLocked();
  const std::string id = album.meta.id;
  albums_[id] = std::move(album);
  return AlbumViewLocked(albums_[id]);
}

absl::StatusOr<immich::Album> FakeImmichApi::RenameAlbum(const std::string& album_id,
                                                         const std::string& name) {
  if (absl::Status s = Enter(Method::kRenameAlbum); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return AlbumNotFound(album_id);
  it->second.meta.name = name;
  it->second.meta.updated_at = TickLocked();
  return AlbumViewLocked(it->second);
}

absl::Status FakeImmichApi::DeleteAlbum(const std::string& album_id) {
  if (absl::Status s = Enter(Method::kDeleteAlbum); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return AlbumNotFound(album_id);
  for (const std::string& asset_id : it->second.members) {
    auto a = assets_.find(asset_id);
    if (a != assets_.end()) a->second.albums.erase(album_id);
  }
  albums_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<immich::BulkIdResult>> FakeImmichApi::AddToAlbum(
    const std::string& album_id, const std::vector<std::string>& asset_ids) {
  if (absl::Status s = Enter(Method::kAddToAlbum); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto al = albums_.find(album_id);
  if (al == albums_.end()) return AlbumNotFound(album_id);
  std::vector<immich::BulkIdResult> out;
  bool changed = false;
  for (const std::string& id : asset_ids) {
    immich::BulkIdResult r{.id = id};
    auto as = assets_.find(id);
    if (al->second.members.contains(id)) {
      r.error = "duplicate";
    } else if (as == assets_.end()) {
      r.error = "no_permission";  // Immich's access check fails for unknown ids
    } else {
      LinkLocked(al->second, as->second);
      r.success = true;
      changed = true;
    }
    out.push_back(std::move(r));
  }
  if (changed) al->second.meta.updated_at = TickLocked();
  return out;
}

absl::StatusOr<std::vector<immich::BulkIdResult>> FakeImmichApi::RemoveFromAlbum(
    const std::string& album_id, const std::vector<std::string>& asset_ids) {
  if (absl::Status s = Enter(Method::kRemoveFromAlbum); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto al = albums_.find(album_id);
  if (al == albums_.end()) return AlbumNotFound(album_id);
  std::vector<immich::BulkIdResult> out;
  bool changed = false;
  for (const std::string& id : asset_ids) {
    immich::BulkIdResult r{.id = id};
    if (!al->second.members.contains(id)) {
      r.error = "not_found";
    } else {
      al->second.members.erase(id);
      auto as = assets_.find(id);
      if (as != assets_.end()) as->second.albums.erase(album_id);
      r.success = true;
      changed = true;
    }
    out.push_back(std::move(r));
  }
  if (changed) al->second.meta.updated_at = TickLocked();
  return out;
}

}  // namespace immichfs::fake
