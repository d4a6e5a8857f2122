#include "fs/catalog_store.h"

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

constexpr absl::string_view kAlbumsMagic = "immichfs-albums 1";
constexpr absl::string_view kListingMagic = "immichfs-listing 1";

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

// Album ids are UUIDs; anything else is not stored (it would not make a safe
// file name).
bool SafeId(absl::string_view id) {
  return !id.empty() && id.size() <= 128 && id[0] != '.' &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '-' || c == '_';
         });
}

// A listing's first record: the album state it was saved under.
std::string ListingAlbumLine(const std::string& album_id, const AlbumKey& key) {
  return absl::StrCat("album ", album_id, " ", key.asset_count, " ", TimeToNanos(key.updated),
                      " ", TimeToNanos(key.last_modified_asset));
}

}  // namespace

CatalogFile::CatalogFile(absl::string_view magic, absl::string_view what,
                         const std::string& owner, bool end)
    : magic_(magic),
      what_(what),
      owner_line_(absl::StrFormat("owner %016x", Xxh64(owner.data(), owner.size()))),
      end_(end) {}

std::string CatalogFile::Text(absl::string_view records) const {
  return absl::StrCat(magic_, "\n", owner_line_, "\n", records, end_ ? "end\n" : "");
}

absl::Status CatalogFile::Write(const std::string& dir, const std::string& path,
                                absl::string_view text) {
  return WriteFileAtomically(dir, path, absl::StrCat(path, ".tmp.", ::getpid()), text,
                             /*sync=*/false);
}

absl::StatusOr<std::vector<absl::string_view>> CatalogFile::Read(const std::string& path,
                                                                 std::string* text) const {
  absl::StatusOr<std::string> read = ReadFile(path);
  if (!read.ok()) {
    if (absl::IsNotFound(read.status())) return absl::NotFoundError(absl::StrCat("no ", what_,
                                                                                 " stored"));
    return read.status();
  }
  *text = *std::move(read);
  std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n', absl::SkipEmpty());
  if (lines.size() < 2 || lines[0] != magic_) {
    return absl::DataLossError(absl::StrCat(path, " is not an immichfs ", what_));
  }
  if (lines[1] != owner_line_) {
    return absl::NotFoundError(absl::StrCat(path, " holds another server's or user's ", what_));
  }
  if (end_) {
    if (!absl::EndsWith(*text, "\nend\n") || lines.back() != "end") {
      return absl::DataLossError(absl::StrCat(path, " was cut short"));
    }
    lines.pop_back();
  }
  lines.erase(lines.begin(), lines.begin() + 2);
  return lines;
}

AlbumStore::AlbumStore(std::string path, const std::string& owner)
    : path_(std::move(path)), file_(kAlbumsMagic, "album list", owner, /*end=*/false) {}

absl::Status AlbumStore::Save(const std::vector<immich::Album>& albums) {
  std::string records;
  for (const immich::Album& a : albums) {
    if (a.id.find(' ') != std::string::npos) continue;  // not an Immich id; cannot be stored
    absl::StrAppend(&records, "album ", Escape(a.id), " ", a.asset_count, " ",
                    TimeToNanos(a.created_at), " ", TimeToNanos(a.updated_at), " ",
                    TimeToNanos(a.last_modified_asset), " ", Escape(a.name), "\n");
  }
  std::string text = file_.Text(records);
  absl::MutexLock lock(&mu_);
  if (text == saved_) return absl::OkStatus();
  absl::Status st = CatalogFile::Write(DirOf(path_), path_, text);
  if (st.ok()) saved_ = std::move(text);
  return st;
}

absl::StatusOr<std::vector<immich::Album>> AlbumStore::Load() const {
  std::string text;
  absl::StatusOr<std::vector<absl::string_view>> lines = file_.Read(path_, &text);
  if (!lines.ok()) return lines.status();
  std::vector<immich::Album> albums;
  for (size_t i = 0; i < lines->size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit((*lines)[i], absl::MaxSplits(' ', 6));
    immich::Album a;
    int64_t created, updated, last;
    std::optional<std::string> id, name;
    if (f.size() != 7 || f[0] != "album" || !(id = Unescape(f[1])) ||
        !absl::SimpleAtoi(f[2], &a.asset_count) || !absl::SimpleAtoi(f[3], &created) ||
        !absl::SimpleAtoi(f[4], &updated) || !absl::SimpleAtoi(f[5], &last) ||
        !(name = Unescape(f[6])) || id->empty()) {
      return absl::DataLossError(absl::StrCat(path_, ": line ", i + 3, " does not parse"));
    }
    a.id = *std::move(id);
    a.name = *std::move(name);
    a.created_at = TimeFromNanos(created);
    a.updated_at = TimeFromNanos(updated);
    a.last_modified_asset = TimeFromNanos(last);
    albums.push_back(std::move(a));
  }
  return albums;
}

ListingStore::ListingStore(std::string dir, const std::string& owner)
    : dir_(std::move(dir)), file_(kListingMagic, "listing", owner, /*end=*/true) {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    LOG(kWarning, "listing cache %s: mkdir: %s; albums are paged again after a restart", dir_,
        std::strerror(errno));
  }
}

std::string ListingStore::PathOf(const std::string& album_id) const {
  return absl::StrCat(dir_, "/", album_id);
}

absl::Status ListingStore::Save(const std::string& album_id, const AlbumKey& key,
                                const std::vector<AssetRec>& assets) const {
  if (!SafeId(album_id)) return absl::InvalidArgumentError("album id is not a safe file name");
  if (on_save_for_test) on_save_for_test(album_id);
  std::string records =
      absl::StrCat(ListingAlbumLine(album_id, key), "\nassets ", assets.size(), "\n");
  records.reserve(records.size() + assets.size() * 128);
  for (const AssetRec& a : assets) {
    absl::StrAppend(&records, Escape(a.id), " ", a.size, " ", TimeToNanos(a.mtime), " ",
                    TimeToNanos(a.ctime), " ", TimeToNanos(a.uploaded), " ", Escape(a.checksum),
                    " ", Escape(a.name), "\n");
  }
  return CatalogFile::Write(dir_, PathOf(album_id), file_.Text(records));
}

absl::StatusOr<std::vector<AssetRec>> ListingStore::Load(const std::string& album_id,
                                                         const AlbumKey& key) const {
  if (!SafeId(album_id)) return absl::NotFoundError("album id is not a safe file name");
  const std::string path = PathOf(album_id);
  std::string text;
  absl::StatusOr<std::vector<absl::string_view>> lines = file_.Read(path, &text);
  if (!lines.ok()) return lines.status();
  if (lines->empty() || (*lines)[0] != ListingAlbumLine(album_id, key)) {
    return absl::NotFoundError(absl::StrCat(path, " holds another state of the album"));
  }
  size_t count = 0;
  if (lines->size() < 2 || !absl::ConsumePrefix(&(*lines)[1], "assets ") ||
      !absl::SimpleAtoi((*lines)[1], &count)) {
    return absl::DataLossError(absl::StrCat(path, " has no asset count"));
  }
  lines->erase(lines->begin(), lines->begin() + 2);
  if (lines->size() != count) {
    // A shorter file was cut by a crash or a full disk.
    return absl::DataLossError(absl::StrCat(path, " holds ", lines->size(), " assets, not ",
                                            count));
  }
  std::vector<AssetRec> out;
  out.reserve(lines->size());
  for (size_t i = 0; i < lines->size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit((*lines)[i], absl::MaxSplits(' ', 6));
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

CatalogStore::CatalogStore(const std::string& cache_dir, const std::string& owner)
    : albums_(absl::StrCat(cache_dir, "/albums"), owner),
      listings_(absl::StrCat(cache_dir, "/listings"), owner) {}

}  // namespace immichfs::fs
