#include "fs/album_store.h"

#include <unistd.h>

#include <cstdint>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/hash.h"
#include "common/text_file.h"

namespace immichfs::fs {
namespace {

constexpr absl::string_view kMagic = "immichfs-albums 1";

std::string Dir(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

}  // namespace

AlbumStore::AlbumStore(std::string path, const std::string& owner)
    : path_(std::move(path)),
      owner_hex_(absl::StrFormat("%016x", Xxh64(owner.data(), owner.size()))) {}

std::string AlbumStore::Serialize(const std::vector<immich::Album>& albums) const {
  std::string out = absl::StrCat(kMagic, "\nowner ", owner_hex_, "\n");
  for (const immich::Album& a : albums) {
    if (a.id.find(' ') != std::string::npos) continue;  // not an Immich id; cannot be stored
    absl::StrAppend(&out, "album ", Escape(a.id), " ", a.asset_count, " ",
                    TimeToNanos(a.created_at), " ", TimeToNanos(a.updated_at), " ",
                    TimeToNanos(a.last_modified_asset), " ", Escape(a.name), "\n");
  }
  return out;
}

absl::Status AlbumStore::Save(const std::vector<immich::Album>& albums) {
  std::string text = Serialize(albums);
  absl::MutexLock lock(&mu_);
  if (text == saved_) return absl::OkStatus();
  absl::Status st = WriteFileAtomically(Dir(path_), path_,
                                        absl::StrCat(path_, ".tmp.", ::getpid()), text,
                                        /*sync=*/false);
  if (st.ok()) saved_ = std::move(text);
  return st;
}

absl::StatusOr<std::vector<immich::Album>> AlbumStore::Load() const {
  absl::StatusOr<std::string> text = ReadFile(path_);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return absl::NotFoundError("no album list stored");
    return text.status();
  }
  std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n', absl::SkipEmpty());
  if (lines.size() < 2 || lines[0] != kMagic) {
    return absl::DataLossError(absl::StrCat(path_, " is not an album list"));
  }
  if (lines[1] != absl::StrCat("owner ", owner_hex_)) {
    return absl::NotFoundError(absl::StrCat(path_, " holds another server's or user's albums"));
  }
  std::vector<immich::Album> albums;
  for (size_t i = 2; i < lines.size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], absl::MaxSplits(' ', 6));
    immich::Album a;
    int64_t created, updated, last;
    std::optional<std::string> id, name;
    if (f.size() != 7 || f[0] != "album" || !(id = Unescape(f[1])) ||
        !absl::SimpleAtoi(f[2], &a.asset_count) || !absl::SimpleAtoi(f[3], &created) ||
        !absl::SimpleAtoi(f[4], &updated) || !absl::SimpleAtoi(f[5], &last) ||
        !(name = Unescape(f[6])) || id->empty()) {
      return absl::DataLossError(absl::StrCat(path_, ": line ", i + 1, " does not parse"));
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

}  // namespace immichfs::fs
