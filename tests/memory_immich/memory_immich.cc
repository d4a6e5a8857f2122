// FakeImmichApi: infrastructure (counters, faults, clock), seeding and
// read-back. The API calls live in memory_immich_albums.cc and memory_immich_assets.cc.
#include "memory_immich/memory_immich.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"

namespace immichfs::fake {

namespace {

const char* const kMethodNames[] = {
    "Ping", "GetVersion", "GetMe", "GetMediaTypes", "GetStorage",
    "ListAlbums", "ListAlbumsForAsset", "GetAlbum", "CreateAlbum", "RenameAlbum", "DeleteAlbum",
    "AddToAlbum", "RemoveFromAlbum",
    "SearchAlbumAssets", "SearchByChecksum", "GetAsset", "Download",
    "BulkUploadCheck", "Upload", "DeleteAssets", "RestoreFromTrash", "CopyAssetMetadata",
};
static_assert(sizeof(kMethodNames) / sizeof(kMethodNames[0]) ==
              static_cast<size_t>(Method::kCount));

}  // namespace

const char* MethodName(Method m) { return kMethodNames[static_cast<int>(m)]; }

immich::MediaTypes RealMediaTypes() {
  immich::MediaTypes t;
  t.video = {".3gp", ".3gpp", ".avi", ".flv", ".insv", ".m2t", ".m2ts", ".m4v", ".mkv", ".mov",
             ".mp4", ".mpe", ".mpeg", ".mpg", ".mts", ".mxf", ".ts", ".vob", ".webm", ".wmv"};
  t.image = {".avif", ".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp", ".3fr", ".ari", ".arw",
             ".cap", ".cin", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff", ".iiq",
             ".k25", ".kdc", ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef", ".psd", ".raf",
             ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f", ".heic", ".heif", ".hif",
             ".insp", ".jp2", ".jpe", ".jxl", ".mpo", ".svg", ".tif", ".tiff"};
  t.sidecar = {".xmp"};
  return t;
}

FakeImmichApi::FakeImmichApi() {
  now_ = absl::FromCivil(absl::CivilSecond(2024, 1, 1, 12, 0, 0), absl::UTCTimeZone());
  storage_ = {.size_bytes = int64_t{1} << 40, .available_bytes = int64_t{600} << 30,
              .used_bytes = (int64_t{1} << 40) - (int64_t{600} << 30)};
  version_ = {.major = 3, .minor = 1, .patch = 0};
}

FakeImmichApi::~FakeImmichApi() = default;

// --- infrastructure -----------------------------------------------------------

absl::Status FakeImmichApi::Enter(Method m) {
  const int i = static_cast<int>(m);
  std::function<void(Method)> hook;
  absl::Duration latency;
  {
    absl::MutexLock lock(&mu_);
    ++calls_[i];
    hook = hook_;
    latency = latency_[i];
  }
  if (hook) hook(m);
  if (latency > absl::ZeroDuration()) absl::SleepFor(latency);
  absl::MutexLock lock(&mu_);
  if (down_) {
    return absl::UnavailableError(absl::StrFormat("%s: connection refused", MethodName(m)));
  }
  if (!faults_[i].empty()) {
    absl::Status s = std::move(faults_[i].front());
    faults_[i].pop_front();
    return s;
  }
  return absl::OkStatus();
}

absl::Time FakeImmichApi::TickLocked() {
  absl::Time t = std::max(now_, last_stamp_ + absl::Milliseconds(1));
  last_stamp_ = t;
  return t;
}

std::string FakeImmichApi::NewIdLocked() {
  // The multiplier is odd, so the first 8 hex digits differ for every id.
  const uint64_t n = next_id_++;
  const uint32_t head = static_cast<uint32_t>(n * 2654435761u);
  return absl::StrFormat("%08x-0000-4000-8000-%012x", head, n);
}

immich::Album FakeImmichApi::AlbumViewLocked(const StoredAlbum& album) const {
  immich::Album out = album.meta;
  out.asset_count = 0;
  out.last_modified_asset = absl::InfinitePast();
  for (const std::string& id : album.members) {
    auto it = assets_.find(id);
    if (it == assets_.end()) continue;
    const immich::Asset& a = it->second.meta;
    if (a.is_trashed || (a.visibility != "timeline" && a.visibility != "archive")) continue;
    ++out.asset_count;
    out.last_modified_asset = std::max(out.last_modified_asset, a.updated_at);
  }
  if (count_lie_.has_value()) out.asset_count = *count_lie_;
  return out;
}

void FakeImmichApi::TouchAlbumsOfLocked(const StoredAsset& asset, absl::Time t) {
  for (const std::string& album_id : asset.albums) {
    auto it = albums_.find(album_id);
    if (it != albums_.end()) it->second.meta.updated_at = t;
  }
}

void FakeImmichApi::LinkLocked(StoredAlbum& album, StoredAsset& asset) {
  album.members.insert(asset.meta.id);
  asset.albums.insert(album.meta.id);
}

// --- seeding ---------------------------------------------------------------------

std::string FakeImmichApi::AddAlbum(const std::string& name,
                                    const std::vector<std::string>& asset_ids) {
  absl::MutexLock lock(&mu_);
  StoredAlbum album;
  album.meta.id = NewIdLocked();
  album.meta.name = name;
  album.meta.owner_id = kFakeOwnerId;
  album.meta.created_at = album.meta.updated_at = TickLocked();
  const std::string id = album.meta.id;
  StoredAlbum& stored = albums_[id] = std::move(album);
  for (const std::string& asset_id : asset_ids) {
    auto it = assets_.find(asset_id);
    if (it != assets_.end()) LinkLocked(stored, it->second);
  }
  return id;
}

std::string FakeImmichApi::AddAsset(const AssetSpec& spec) {
  absl::MutexLock lock(&mu_);
  return InsertAssetLocked(spec);
}

std::string FakeImmichApi::AddAsset(const std::string& name, const std::string& bytes,
                                    const std::vector<std::string>& albums) {
  AssetSpec spec;
  spec.name = name;
  spec.bytes = bytes;
  spec.albums = albums;
  return AddAsset(spec);
}

void FakeImmichApi::PutInAlbum(const std::string& album_id, const std::string& asset_id) {
  absl::MutexLock lock(&mu_);
  auto al = albums_.find(album_id);
  auto as = assets_.find(asset_id);
  if (al == albums_.end() || as == assets_.end()) return;
  LinkLocked(al->second, as->second);
  al->second.meta.updated_at = TickLocked();
}

void FakeImmichApi::SetStorage(const immich::Storage& storage) {
  absl::MutexLock lock(&mu_);
  storage_ = storage;
}

void FakeImmichApi::SetVersion(const immich::ServerVersion& version) {
  absl::MutexLock lock(&mu_);
  version_ = version;
}

void FakeImmichApi::SetNow(absl::Time now) {
  absl::MutexLock lock(&mu_);
  now_ = std::max(now_, now);
}

void FakeImmichApi::Advance(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  now_ += d;
}

// --- read-back ----------------------------------------------------------------------

std::optional<immich::Asset> FakeImmichApi::FindAsset(const std::string& asset_id) const {
  absl::MutexLock lock(&mu_);
  auto it = assets_.find(asset_id);
  if (it == assets_.end()) return std::nullopt;
  return it->second.meta;
}

std::optional<immich::Album> FakeImmichApi::FindAlbum(const std::string& album_id) const {
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return std::nullopt;
  return AlbumViewLocked(it->second);
}

std::optional<immich::Album> FakeImmichApi::FindAlbumByName(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, album] : albums_) {
    if (album.meta.name == name) return AlbumViewLocked(album);
  }
  return std::nullopt;
}

std::optional<std::string> FakeImmichApi::Bytes(const std::string& asset_id) const {
  absl::MutexLock lock(&mu_);
  auto it = assets_.find(asset_id);
  if (it == assets_.end()) return std::nullopt;
  return it->second.bytes;
}

std::vector<std::string> FakeImmichApi::AlbumAssetIds(const std::string& album_id) const {
  absl::MutexLock lock(&mu_);
  auto it = albums_.find(album_id);
  if (it == albums_.end()) return {};
  return {it->second.members.begin(), it->second.members.end()};
}

bool FakeImmichApi::IsTrashed(const std::string& asset_id) const {
  absl::MutexLock lock(&mu_);
  auto it = assets_.find(asset_id);
  return it != assets_.end() && it->second.meta.is_trashed;
}

size_t FakeImmichApi::AssetCount() const {
  absl::MutexLock lock(&mu_);
  return assets_.size();
}

size_t FakeImmichApi::AlbumCount() const {
  absl::MutexLock lock(&mu_);
  return albums_.size();
}

// --- counters and faults ------------------------------------------------------------

int FakeImmichApi::Calls(Method m) const {
  absl::MutexLock lock(&mu_);
  return calls_[static_cast<int>(m)];
}

int FakeImmichApi::TotalCalls() const {
  absl::MutexLock lock(&mu_);
  int total = 0;
  for (int c : calls_) total += c;
  return total;
}

void FakeImmichApi::ResetCalls() {
  absl::MutexLock lock(&mu_);
  calls_.fill(0);
}

void FakeImmichApi::FailNext(Method m, absl::Status status, int times) {
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < times; ++i) faults_[static_cast<int>(m)].push_back(status);
}

void FakeImmichApi::SetDown(bool down) {
  absl::MutexLock lock(&mu_);
  down_ = down;
}

void FakeImmichApi::SetLatency(Method m, absl::Duration latency) {
  absl::MutexLock lock(&mu_);
  latency_[static_cast<int>(m)] = latency;
}

void FakeImmichApi::TruncateNextDownloads(uint64_t bytes, int times) {
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < times; ++i) truncations_.push_back(bytes);
}

void FakeImmichApi::SetCallHook(std::function<void(Method)> hook) {
  absl::MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

}  // namespace immichfs::fake
