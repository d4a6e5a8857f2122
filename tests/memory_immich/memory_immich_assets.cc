// FakeImmichApi: the asset calls -- search, download, upload, trash, copy
// (see memory_immich.h for the semantics they copy from Immich 3.1).
#include <algorithm>
#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "common/hash.h"
#include "common/status.h"
#include "memory_immich/memory_immich.h"

namespace immichfs::fake {

namespace {

absl::Status AssetNotFound(const std::string& id) {
  return absl::NotFoundError("Not found or no asset.read access: asset " + id);
}

std::string Extension(const std::string& name) {
  size_t dot = name.rfind('.');
  if (dot == std::string::npos) return "";
  return absl::AsciiStrToLower(name.substr(dot));
}

// kImage / kVideo by extension, nullopt when Immich would refuse the upload.
std::optional<immich::AssetType> TypeOf(const std::string& name) {
  const immich::MediaTypes types = RealMediaTypes();
  const std::string ext = Extension(name);
  if (std::find(types.image.begin(), types.image.end(), ext) != types.image.end()) {
    return immich::AssetType::kImage;
  }
  if (std::find(types.video.begin(), types.video.end(), ext) != types.video.end()) {
    return immich::AssetType::kVideo;
  }
  return std::nullopt;
}

std::string Sha1Base64(const std::string& bytes) {
  Sha1 sha;
  sha.Update(bytes.data(), bytes.size());
  return ToBase64(sha.Final());
}

}  // namespace

std::string FakeImmichApi::InsertAssetLocked(const AssetSpec& spec) {
  StoredAsset a;
  a.meta.id = spec.id.empty() ? NewIdLocked() : spec.id;
  a.meta.original_file_name = spec.name;
  a.meta.checksum = Sha1Base64(spec.bytes);
  a.meta.type = TypeOf(spec.name).value_or(immich::AssetType::kImage);
  a.meta.size = spec.size_known ? static_cast<int64_t>(spec.bytes.size()) : -1;
  const absl::Time stamp = TickLocked();
  a.meta.created_at = spec.uploaded_at == absl::InfinitePast() ? stamp : spec.uploaded_at;
  a.meta.updated_at = std::max(stamp, a.meta.created_at);
  a.meta.file_created_at =
      spec.file_created_at == absl::InfinitePast() ? a.meta.created_at : spec.file_created_at;
  a.meta.file_modified_at =
      spec.file_modified_at == absl::InfinitePast() ? a.meta.file_created_at
                                                    : spec.file_modified_at;
  a.meta.is_trashed = spec.trashed;
  a.meta.is_favorite = spec.favorite;
  a.meta.visibility = spec.visibility;
  a.meta.live_photo_video_id = spec.live_photo_video_id;
  a.meta.owner_id = kFakeOwnerId;
  a.bytes = spec.bytes;
  const std::string id = a.meta.id;
  StoredAsset& stored = assets_[id] = std::move(a);
  for (const std::string& album_id : spec.albums) {
    auto al = albums_.find(album_id);
    if (al == albums_.end()) continue;
    LinkLocked(al->second, stored);
    al->second.meta.updated_at = stamp;
  }
  return id;
}

const FakeImmichApi::StoredAsset* FakeImmichApi::ByChecksumLocked(
    const std::string& checksum_b64) const {
  for (const auto& [id, a] : assets_) {
    if (a.meta.checksum == checksum_b64) return &a;
  }
  return nullptr;
}

void FakeImmichApi::EraseAssetLocked(const std::string& asset_id) {
  auto it = assets_.find(asset_id);
  if (it == assets_.end()) return;
  const absl::Time t = TickLocked();
  for (const std::string& album_id : it->second.albums) {
    auto al = albums_.find(album_id);
    if (al == albums_.end()) continue;
    al->second.members.erase(asset_id);
    al->second.meta.updated_at = t;
  }
  assets_.erase(it);
}

void FakeImmichApi::SetAssetBytes(const std::string& asset_id, const std::string& bytes) {
  absl::MutexLock lock(&mu_);
  auto it = assets_.find(asset_id);
  if (it == assets_.end()) return;
  StoredAsset& a = it->second;
  a.bytes = bytes;
  a.meta.checksum = Sha1Base64(bytes);
  if (a.meta.size >= 0) a.meta.size = static_cast<int64_t>(bytes.size());
  a.meta.updated_at = TickLocked();
  TouchAlbumsOfLocked(a, a.meta.updated_at);
}

absl::StatusOr<immich::AssetPage> FakeImmichApi::SearchAlbumAssets(const std::string& album_id,
                                                                   int page, int size) {
  if (absl::Status s = Enter(Method::kSearchAlbumAssets); !s.ok()) return s;
  if (page < 1 || size < 1 || size > 1000) {
    return absl::InvalidArgumentError(
        absl::StrFormat("search page %d size %d: page must be >= 1, size in 1..1000", page, size));
  }
  absl::MutexLock lock(&mu_);
  auto al = albums_.find(album_id);
  if (al == albums_.end()) {
    return absl::NotFoundError("Not found or no album.read access: album " + album_id);
  }
  std::vector<const immich::Asset*> hits;
  for (const std::string& id : al->second.members) {
    const immich::Asset& a = assets_.at(id).meta;
    if (!a.is_trashed && a.visibility == "timeline") hits.push_back(&a);
  }
  // Immich's default order: newest fileCreatedAt first, then id.
  std::sort(hits.begin(), hits.end(), [](const immich::Asset* x, const immich::Asset* y) {
    if (x->file_created_at != y->file_created_at) return x->file_created_at > y->file_created_at;
    return x->id > y->id;
  });
  immich::AssetPage out;
  size_t begin = static_cast<size_t>(page - 1) * size;
  const size_t pages = (hits.size() + size - 1) / size;
  if (endless_ == EndlessPaging::kRepeat && begin >= hits.size() && pages > 0) {
    begin = (pages - 1) * size;  // the last page again
  }
  for (size_t i = begin; i < hits.size() && i < begin + size; ++i) out.assets.push_back(*hits[i]);
  if (endless_ == EndlessPaging::kFresh && begin >= hits.size()) {
    for (int i = 0; i < size; ++i) {
      immich::Asset a;
      a.id = absl::StrFormat("%08x-0000-4000-8000-%012x", page, i);
      a.original_file_name = absl::StrFormat("made-up-%d-%d.jpg", page, i);
      a.size = 1;
      a.visibility = "timeline";
      out.assets.push_back(std::move(a));
    }
  }
  if (begin + size < hits.size() || endless_ != EndlessPaging::kOff) out.next_page = page + 1;
  out.total = static_cast<int64_t>(out.assets.size());  // Immich's "total" counts this page
  return out;
}

void FakeImmichApi::SetEndlessPaging(EndlessPaging mode) {
  absl::MutexLock lock(&mu_);
  endless_ = mode;
}

void FakeImmichApi::SetAssetCountLie(std::optional<int64_t> count) {
  absl::MutexLock lock(&mu_);
  count_lie_ = count;
}

absl::StatusOr<std::vector<immich::Asset>> FakeImmichApi::SearchByChecksum(
    const std::string& checksum_b64) {
  if (absl::Status s = Enter(Method::kSearchByChecksum); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  std::vector<immich::Asset> out;
  for (const auto& [id, a] : assets_) {
    if (a.meta.checksum == checksum_b64) out.push_back(a.meta);
  }
  return out;
}

absl::StatusOr<immich::Asset> FakeImmichApi::GetAsset(const std::string& asset_id) {
  if (absl::Status s = Enter(Method::kGetAsset); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto it = assets_.find(asset_id);
  if (it == assets_.end()) return AssetNotFound(asset_id);
  immich::Asset out = it->second.meta;
  // GET /api/assets/{id} always carries exifInfo once the upload finished.
  out.size = static_cast<int64_t>(it->second.bytes.size());
  return out;
}

absl::Status FakeImmichApi::Download(const std::string& asset_id, uint64_t offset,
                                     std::optional<uint64_t> length,
                                     std::optional<uint64_t> expected_total,
                                     const immich::ByteSink& sink) {
  if (absl::Status s = Enter(Method::kDownload); !s.ok()) return s;
  std::string slice;
  std::optional<uint64_t> cut;
  {
    absl::MutexLock lock(&mu_);
    auto it = assets_.find(asset_id);
    if (it == assets_.end()) return AssetNotFound(asset_id);
    const std::string& bytes = it->second.bytes;
    const uint64_t total = bytes.size();
    if (offset > total || (offset == total && total > 0)) {
      return absl::NotFoundError(absl::StrFormat(
          "asset %s: range start %d is past the end (%d bytes)", asset_id, offset, total));
    }
    if (expected_total && *expected_total != total) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "asset %s: size is %d, expected %d", asset_id, total, *expected_total));
    }
    const uint64_t n = length ? std::min(*length, total - offset) : total - offset;
    slice = bytes.substr(offset, n);
    if (!truncations_.empty()) {
      cut = truncations_.front();
      truncations_.pop_front();
    }
  }
  const size_t limit = cut ? std::min<uint64_t>(*cut, slice.size()) : slice.size();
  constexpr size_t kChunk = 64 * 1024;
  for (size_t pos = 0; pos < limit; pos += kChunk) {
    if (!sink(slice.data() + pos, std::min(kChunk, limit - pos))) {
      return absl::CancelledError("download of asset " + asset_id + " stopped by the reader");
    }
  }
  if (limit < slice.size()) {
    return absl::DataLossError(absl::StrFormat("asset %s: body cut after %d of %d bytes",
                                               asset_id, limit, slice.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<immich::BulkCheckResult>> FakeImmichApi::BulkUploadCheck(
    const std::vector<std::pair<std::string, std::string>>& id_and_checksum_hex) {
  if (absl::Status s = Enter(Method::kBulkUploadCheck); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  std::vector<immich::BulkCheckResult> out;
  for (const auto& [id, hex] : id_and_checksum_hex) {
    std::optional<Sha1Digest> digest = ParseSha1(hex);
    if (!digest) return absl::InvalidArgumentError("bulk-upload-check: bad checksum " + hex);
    immich::BulkCheckResult r{.id = id};
    if (const StoredAsset* dup = ByChecksumLocked(ToBase64(*digest))) {
      r.reason = "duplicate";
      r.asset_id = dup->meta.id;
      r.is_trashed = dup->meta.is_trashed;
    } else {
      r.accepted = true;  // any unknown checksum, whatever the file type
    }
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<immich::UploadResult> FakeImmichApi::Upload(const immich::UploadRequest& req) {
  if (absl::Status s = Enter(Method::kUpload); !s.ok()) return s;
  std::ifstream in(req.path, std::ios::binary);
  if (!in) return ErrnoFromSyscall(errno, "open " + req.path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  {
    // The x-immich-checksum header is checked before the body is looked at.
    absl::MutexLock lock(&mu_);
    if (std::optional<Sha1Digest> d = ParseSha1(req.checksum_hex)) {
      if (const StoredAsset* dup = ByChecksumLocked(ToBase64(*d))) {
        return immich::UploadResult{.id = dup->meta.id, .duplicate = true};
      }
    }
  }
  // The body's last byte waits for the hold; an aborted body makes nothing.
  if (req.hold_before_end && !bytes.empty()) {
    if (absl::Status st = req.hold_before_end(); !st.ok()) return st;
  }
  absl::MutexLock lock(&mu_);
  if (std::optional<Sha1Digest> d = ParseSha1(req.checksum_hex)) {
    if (const StoredAsset* dup = ByChecksumLocked(ToBase64(*d))) {
      return immich::UploadResult{.id = dup->meta.id, .duplicate = true};
    }
  }
  if (!TypeOf(req.filename)) {
    return absl::InvalidArgumentError("Unsupported file type " + req.filename);
  }
  if (const StoredAsset* dup = ByChecksumLocked(Sha1Base64(bytes))) {
    return immich::UploadResult{.id = dup->meta.id, .duplicate = true};
  }
  AssetSpec spec;
  spec.name = req.filename;
  spec.bytes = std::move(bytes);
  spec.file_created_at = req.file_created_at;
  spec.file_modified_at = req.file_modified_at;
  return immich::UploadResult{.id = InsertAssetLocked(spec), .duplicate = false};
}

absl::Status FakeImmichApi::DeleteAssets(const std::vector<std::string>& asset_ids, bool force) {
  if (absl::Status s = Enter(Method::kDeleteAssets); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  for (const std::string& id : asset_ids) {
    if (!assets_.contains(id)) return AssetNotFound(id);  // access check: all or nothing
  }
  for (const std::string& id : asset_ids) {
    if (force) {
      EraseAssetLocked(id);
      continue;
    }
    StoredAsset& a = assets_.at(id);
    a.meta.is_trashed = true;
    a.meta.updated_at = TickLocked();
    TouchAlbumsOfLocked(a, a.meta.updated_at);
  }
  return absl::OkStatus();
}

absl::Status FakeImmichApi::RestoreFromTrash(const std::vector<std::string>& asset_ids) {
  if (absl::Status s = Enter(Method::kRestoreFromTrash); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  for (const std::string& id : asset_ids) {
    if (!assets_.contains(id)) return AssetNotFound(id);
  }
  for (const std::string& id : asset_ids) {
    StoredAsset& a = assets_.at(id);
    if (!a.meta.is_trashed) continue;
    a.meta.is_trashed = false;
    a.meta.updated_at = TickLocked();
    TouchAlbumsOfLocked(a, a.meta.updated_at);
  }
  return absl::OkStatus();
}

absl::Status FakeImmichApi::CopyAssetMetadata(const std::string& source_id,
                                              const std::string& target_id) {
  if (absl::Status s = Enter(Method::kCopyAssetMetadata); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  auto src = assets_.find(source_id);
  if (src == assets_.end()) return AssetNotFound(source_id);
  auto dst = assets_.find(target_id);
  if (dst == assets_.end()) return AssetNotFound(target_id);
  const absl::Time t = TickLocked();
  for (const std::string& album_id : src->second.albums) {
    StoredAlbum& album = albums_.at(album_id);
    if (album.members.contains(target_id)) continue;
    LinkLocked(album, dst->second);
    album.meta.updated_at = t;
  }
  dst->second.meta.is_favorite = src->second.meta.is_favorite;
  dst->second.meta.updated_at = t;
  return absl::OkStatus();
}

}  // namespace immichfs::fake
