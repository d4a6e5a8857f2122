#include "fs/listing_store.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/text_file.h"

namespace immichfs::fs {
namespace {

constexpr absl::string_view kMagic = "immichfs-listing 1";

// Album ids are UUIDs; anything else is not stored (it would not make a safe
// file name).
bool SafeId(absl::string_view id) {
  return !id.empty() && id.size() <= 128 && id[0] != '.' &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '_';
         });
}

}  // namespace

ListingStore::ListingStore(std::string dir, const std::string& owner)
    : dir_(std::move(dir)),
      owner_hex_(absl::StrFormat("%016x", Xxh64(owner.data(), owner.size()))) {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    LOG(kWarning, "listing cache %s: mkdir: %s; albums are paged again after a restart", dir_,
        std::strerror(errno));
  }
}

std::string ListingStore::PathOf(const std::string& album_id) const {
  return absl::StrCat(dir_, "/", album_id);
}

std::string ListingStore::Header(const std::string& album_id, const AlbumKey& key) const {
  return absl::StrCat(kMagic, "\nowner ", owner_hex_, "\nalbum ", album_id, " ", key.asset_count,
                      " ", TimeToNanos(key.updated), " ", TimeToNanos(key.last_modified_asset),
                      "\n");
}

absl::Status ListingStore::Save(const std::string& album_id, const AlbumKey& key,
                                const std::vector<AssetRec>& assets) const {
  if (!SafeId(album_id)) return absl::InvalidArgumentError("album id is not a safe file name");
  if (on_save_for_test) on_save_for_test(album_id);
  std::string text = absl::StrCat(Header(album_id, key), "assets ", assets.size(), "\n");
  text.reserve(text.size() + assets.size() * 128);
  for (const AssetRec& a : assets) {
    absl::StrAppend(&text, Escape(a.id), " ", a.size, " ", TimeToNanos(a.mtime), " ",
                    TimeToNanos(a.ctime), " ", TimeToNanos(a.uploaded), " ", Escape(a.checksum),
                    " ", Escape(a.name), "\n");
  }
  text += "end\n";  // a file cut short (not fsynced, a crash) lacks it
  const std::string path = PathOf(album_id);
  return WriteFileAtomically(dir_, path, absl::StrCat(path, ".tmp.", ::getpid()), text,
                                    /*sync=*/false);
}

absl::StatusOr<std::vector<AssetRec>> ListingStore::Load(const std::string& album_id,
                                                         const AlbumKey& key) const {
  if (!SafeId(album_id)) return absl::NotFoundError("album id is not a safe file name");
  const std::string path = PathOf(album_id);
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return absl::NotFoundError("no listing stored");
    return text.status();
  }
  const std::string header = Header(album_id, key);
  if (!absl::StartsWith(*text, header)) {
    return absl::NotFoundError(absl::StrCat(path, " holds another state of the album"));
  }
  std::vector<AssetRec> out;
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(*text).substr(header.size()), '\n', absl::SkipEmpty());
  size_t count = 0;
  if (lines.empty() || !absl::ConsumePrefix(&lines[0], "assets ") ||
      !absl::SimpleAtoi(lines[0], &count)) {
    return absl::DataLossError(absl::StrCat(path, " has no asset count"));
  }
  lines.erase(lines.begin());
  if (!absl::EndsWith(*text, "\nend\n") || lines.empty() || lines.back() != "end") {
    return absl::DataLossError(absl::StrCat(path, " was cut short"));
  }
  lines.pop_back();
  if (lines.size() != count) {
    // A shorter file was cut by a crash or a full disk.
    return absl::DataLossError(absl::StrCat(path, " holds ", lines.size(), " assets, not ", count));
  }
  out.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], absl::MaxSplits(' ', 6));
    AssetRec a;
    int64_t mtime, ctime, uploaded;
    std::optional<std::string> id, checksum, name;
    if (f.size() != 7 || !(id = Unescape(f[0])) || id->empty() ||
        !absl::SimpleAtoi(f[1], &a.size) || a.size < 0 || !absl::SimpleAtoi(f[2], &mtime) ||
        !absl::SimpleAtoi(f[3], &ctime) || !absl::SimpleAtoi(f[4], &uploaded) ||
        !(checksum = Unescape(f[5])) || !(name = Unescape(f[6])) || name->empty()) {
      return absl::DataLossError(absl::StrCat(path, ": asset line ", i + 1, " does not parse"));
    }
    a.id = *std::move(id);
    a.checksum = *std::move(checksum);
    a.name = *std::move(name);
    a.mtime = TimeFromNanos(mtime);
    a.ctime = TimeFromNanos(ctime);
    a.uploaded = TimeFromNanos(uploaded);
    out.push_back(std::move(a));
  }
  return out;
}

void ListingStore::Remove(const std::string& album_id) const {
  if (SafeId(album_id)) ::unlink(PathOf(album_id).c_str());
}

void ListingStore::Prune(const std::vector<std::string>& album_ids) const {
  absl::flat_hash_set<absl::string_view> keep(album_ids.begin(), album_ids.end());
  DIR* dir = ::opendir(dir_.c_str());
  if (dir == nullptr) return;
  while (struct dirent* ent = ::readdir(dir)) {
    absl::string_view name = ent->d_name;
    if (name == "." || name == "..") continue;
    // Temp files of a writer that died go too; current ones are renamed
    // away within milliseconds.
    absl::string_view id = name.substr(0, name.find(".tmp."));
    if (id.size() == name.size() && keep.contains(id)) continue;
    if (id.size() != name.size() && keep.contains(id)) {
      struct stat st;
      if (::stat(absl::StrCat(dir_, "/", name).c_str(), &st) == 0 &&
          st.st_mtime + 60 > ::time(nullptr)) {
        continue;
      }
    }
    ::unlink(absl::StrCat(dir_, "/", name).c_str());
  }
  ::closedir(dir);
}

}  // namespace immichfs::fs
