#include "immich/json.h"

#include <cstdint>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "immich/json_reader.h"
#include "rapidjson/document.h"

namespace immichfs::immich::json {
namespace {

using internal::Above;
using internal::Fields;
using internal::Malformed;
using rapidjson::Document;
using rapidjson::Value;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kIntMax = std::numeric_limits<int>::max();

absl::Status ToAlbum(const Value& v, std::string object, Album* out) {
  Fields f(v, std::move(object));
  f.RequireStr("id", &out->id);
  out->name = f.Str("albumName");
  // 1.x/2.x-era answers carry ownerId/owner; current ones list the owner in
  // albumUsers with role "owner". Prefer the latter, fall back in order.
  if (const Value* users = f.Array("albumUsers"); users != nullptr) {
    for (rapidjson::SizeType i = 0; i < users->Size(); ++i) {
      Fields u((*users)[i], absl::StrCat(f.object(), " albumUsers #", i));
      const bool owner = u.Str("role") == "owner";
      const Value* user = owner ? u.Object("user") : nullptr;
      if (user != nullptr) {
        Fields uf(*user, absl::StrCat(u.object(), " user"));
        out->owner_id = uf.Str("id");
        u.Merge(uf.status());
      }
      f.Merge(u.status());
      if (owner) break;
    }
  }
  if (out->owner_id.empty()) out->owner_id = f.Str("ownerId");
  if (out->owner_id.empty()) {
    if (const Value* owner = f.Object("owner"); owner != nullptr) {
      Fields of(*owner, absl::StrCat(f.object(), " owner"));
      out->owner_id = of.Str("id");
      f.Merge(of.status());
    }
  }
  // A count is only a hint (how many pages to ask for at once, and whether
  // the album changed): one too big to hold is clamped, and the paging bound
  // (catalog.cc) keeps a lie from costing more than a few pages. Negative
  // or not a whole number: the server is broken, an error.
  out->asset_count = f.Int("assetCount", 0, kInt64Max, Above::kClamp).value_or(0);
  out->created_at = f.Time("createdAt");
  out->updated_at = f.Time("updatedAt");
  out->last_modified_asset = f.Time("lastModifiedAssetTimestamp");
  out->shared = f.Bool("shared");
  return f.status();
}

AssetType ToAssetType(absl::string_view type) {
  if (type == "IMAGE") return AssetType::kImage;
  if (type == "VIDEO") return AssetType::kVideo;
  if (type == "AUDIO") return AssetType::kAudio;
  return AssetType::kOther;
}

absl::Status ToAsset(const Value& v, std::string object, Asset* out) {
  Fields f(v, std::move(object));
  f.RequireStr("id", &out->id);
  out->original_file_name = f.Str("originalFileName");
  out->checksum = f.Str("checksum");
  out->type = ToAssetType(f.Str("type"));
  if (const Value* exif = f.Object("exifInfo"); exif != nullptr) {
    Fields e(*exif, absl::StrCat(f.object(), " exifInfo"));
    // st_size must be exact: a size we cannot hold is an error, never clamped.
    out->size = e.Int("fileSizeInByte", 0, kInt64Max).value_or(-1);
    f.Merge(e.status());
  }
  out->file_created_at = f.Time("fileCreatedAt");
  out->file_modified_at = f.Time("fileModifiedAt");
  out->created_at = f.Time("createdAt");
  out->updated_at = f.Time("updatedAt");
  out->is_trashed = f.Bool("isTrashed");
  out->is_favorite = f.Bool("isFavorite");
  out->visibility = f.Str("visibility");
  if (out->visibility.empty()) {
    // Servers before the visibility field had only isArchived.
    out->visibility = f.Bool("isArchived") ? "archive" : "timeline";
  }
  out->live_photo_video_id = f.Str("livePhotoVideoId");
  out->owner_id = f.Str("ownerId");
  return f.status();
}

std::vector<std::string> LowerStrings(Fields& f, const char* key) {
  std::vector<std::string> out;
  const Value* v = f.Array(key);
  if (v == nullptr) return out;
  for (const Value& item : v->GetArray()) {
    if (!item.IsString()) continue;
    out.push_back(
        absl::AsciiStrToLower(absl::string_view(item.GetString(), item.GetStringLength())));
  }
  return out;
}

}  // namespace

absl::StatusOr<ServerVersion> ParseServerVersion(absl::string_view body) {
  Document doc;
  if (absl::Status s = internal::ParseDocument(body, &doc); !s.ok()) return s;
  Fields f(doc, "server version");
  std::optional<int64_t> major = f.Int("major", 0, kIntMax);
  if (f.status().ok() && !major.has_value()) {
    return Malformed("server version has no number 'major'");
  }
  ServerVersion v;
  v.major = static_cast<int>(major.value_or(0));
  v.minor = static_cast<int>(f.Int("minor", 0, kIntMax).value_or(0));
  v.patch = static_cast<int>(f.Int("patch", 0, kIntMax).value_or(0));
  if (!f.status().ok()) return f.status();
  return v;
}

absl::StatusOr<User> ParseUser(absl::string_view body) {
  Document doc;
  if (absl::Status s = internal::ParseDocument(body, &doc); !s.ok()) return s;
  Fields f(doc, "user");
  User user;
  f.RequireStr("id", &user.id);
  user.email = f.Str("email");
  user.name = f.Str("name");
  if (!f.status().ok()) return f.status();
  return user;
}

absl::StatusOr<MediaTypes> ParseMediaTypes(absl::string_view body) {
  Document doc;
  if (absl::Status s = internal::ParseDocument(body, &doc); !s.ok()) return s;
  Fields f(doc, "media types");
  MediaTypes types;
  types.image = LowerStrings(f, "image");
  types.video = LowerStrings(f, "video");
  types.sidecar = LowerStrings(f, "sidecar");
  if (!f.status().ok()) return f.status();
  return types;
}

absl::StatusOr<Storage> ParseStorage(absl::string_view body) {
  Document doc;
  if (absl::Status s = internal::ParseDocument(body, &doc); !s.ok()) return s;
  Fields f(doc, "storage");
  // statfs reports these: a size we cannot hold is an error, not a guess.
  Storage storage;
  storage.size_bytes = f.Int("diskSizeRaw", 0, kInt64Max).value_or(0);
  storage.available_bytes = f.Int("diskAvailableRaw", 0, kInt64Max).value_or(0);
  storage.used_bytes = f.Int("diskUseRaw", 0, kInt64Max).value_or(0);
  if (!f.status().ok()) return f.status();
  return storage;
}

absl::StatusOr<Album> ParseAlbum(absl::string_view body) {
  Document doc;
  if (absl::Status s = internal::ParseDocument(body, &doc); !s.ok()) return s;
  Album album;
  if (absl::Status s = ToAlbum(doc, "album", &album); !s.ok()) return s;
  return album;
}

absl::StatusOr<std::vector<Album>> ParseAlbumList(absl::string_view body) {
  Document doc;
  if (absl::Status s = internal::ParseDocument(body, &doc); !s.ok()) return s;
  if (!doc.IsArray()) return Malformed("album list is not an array");
  std::vector<Album> albums;
  albums.reserve(doc.Size());
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
    Album album;
    if (absl::Status s = ToAlbum(doc[i], absl::StrCat("album #", i), &album); !s.ok()) return s;
    albums.push_back(std::move(album));
  }
  return albums;
}

absl::StatusOr<Asset> ParseAsset(absl::string_view body) {
  Document doc;
  if (absl::Status s = internal::ParseDocument(body, &doc); !s.ok()) return s;
  Asset asset;
  if (absl::Status s = ToAsset(doc, "asset", &asset); !s.ok()) return s;
  return asset;
}

absl::StatusOr<AssetPage> ParseSearchPage(absl::string_view body) {
  return ParseSearchPageInPlace(std::string(body));
}

absl::StatusOr<AssetPage> ParseSearchPageInPlace(std::string&& body) {
  // In situ: the document's strings point into `body`, which outlives it.
  Document doc;
  if (absl::Status s = internal::ParseDocumentInPlace(body.data(), &doc); !s.ok()) return s;
  Fields top(doc, "search answer");
  const Value* assets = top.Object("assets");
  if (!top.status().ok()) return top.status();
  if (assets == nullptr) return Malformed("search answer has no object 'assets'");
  Fields f(*assets, "search answer assets");
  const Value* items = f.Array("items");
  if (!f.status().ok()) return f.status();
  if (items == nullptr) return Malformed("search answer has no array 'assets.items'");
  AssetPage page;
  page.assets.reserve(items->Size());
  for (rapidjson::SizeType i = 0; i < items->Size(); ++i) {
    Asset asset;
    absl::Status s = ToAsset((*items)[i], absl::StrCat("asset #", i), &asset);
    if (!s.ok()) return s;
    page.assets.push_back(std::move(asset));
  }
  // nextPage is a page number sent as a string ("2"), or null on the last
  // page. Anything else is an error: read as "last page", it would cut the
  // listing short without a word.
  if (std::optional<int64_t> next = f.Int("nextPage", 1, kIntMax); next.has_value()) {
    page.next_page = static_cast<int>(*next);
  }
  page.total = f.Int("total", 0, kInt64Max, Above::kClamp)
                   .value_or(static_cast<int64_t>(page.assets.size()));
  if (!f.status().ok()) return f.status();
  return page;
}

absl::StatusOr<std::vector<BulkCheckResult>> ParseBulkCheck(absl::string_view body) {
  Document doc;
  if (absl::Status s = internal::ParseDocument(body, &doc); !s.ok()) return s;
  Fields top(doc, "bulk-upload-check answer");
  const Value* results = top.Array("results");
  if (!top.status().ok()) return top.status();
  if (results == nullptr) return Malformed("bulk-upload-check answer has no array 'results'");
  std::vector<BulkCheckResult> out;
  out.reserve(results->Size());
  for (rapidjson::SizeType i = 0; i < results->Size(); ++i) {
    Fields f((*results)[i], absl::StrCat("bulk-upload-check result #", i));
    BulkCheckResult r;
    f.RequireStr("id", &r.id);
    r.accepted = f.Str("action") == "accept";
    r.reason = f.Str("reason");
    r.asset_id = f.Str("assetId");
    r.is_trashed = f.Bool("isTrashed");
    if (!f.status().ok()) return f.status();
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<UploadResult> ParseUploadResult(absl::string_view body, long http_status) {
  Document doc;
  if (absl::Status s = internal::ParseDocument(body, &doc); !s.ok()) return s;
  Fields f(doc, "upload answer");
  UploadResult result;
  f.RequireStr("id", &result.id);
  std::string status = f.Str("status");
  if (!f.status().ok()) return f.status();
  result.duplicate = status.empty() ? http_status == 200 : status == "duplicate";
  return result;
}

absl::StatusOr<std::vector<BulkIdResult>> ParseBulkIdResults(absl::string_view body) {
  Document doc;
  if (absl::Status s = internal::ParseDocument(body, &doc); !s.ok()) return s;
  if (!doc.IsArray()) return Malformed("bulk id answer is not an array");
  std::vector<BulkIdResult> out;
  out.reserve(doc.Size());
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
    Fields f(doc[i], absl::StrCat("bulk id result #", i));
    BulkIdResult r;
    f.RequireStr("id", &r.id);
    r.success = f.Bool("success");
    r.error = f.Str("error");
    if (!f.status().ok()) return f.status();
    out.push_back(std::move(r));
  }
  return out;
}

// Best effort: an error body only decorates the error the status code says.
// Fields of the wrong type are skipped.
std::string ParseErrorMessage(absl::string_view body) {
  Document doc;
  if (!internal::ParseDocument(body, &doc).ok() || !doc.IsObject()) return "";
  Fields f(doc, "error answer");
  std::string message;
  if (const Value* m = f.Get("message"); m != nullptr) {
    if (m->IsString()) {
      message.assign(m->GetString(), m->GetStringLength());
    } else if (m->IsArray()) {  // 2.x (class-validator): a list of sentences
      std::vector<std::string> parts;
      for (const Value& p : m->GetArray()) {
        if (p.IsString()) parts.emplace_back(p.GetString(), p.GetStringLength());
      }
      message = absl::StrJoin(parts, "; ");
    }
  }
  // 3.x validation failures list the offending fields in "errors".
  if (const Value* errors = f.Get("errors"); errors != nullptr && errors->IsArray()) {
    std::vector<std::string> parts;
    for (const Value& e : errors->GetArray()) {
      Fields ef(e, "error");
      std::string path;
      if (const Value* p = ef.Get("path"); p != nullptr && p->IsArray()) {
        std::vector<std::string> keys;
        for (const Value& k : p->GetArray()) {
          if (k.IsString()) keys.emplace_back(k.GetString(), k.GetStringLength());
          if (k.IsInt()) keys.push_back(absl::StrCat(k.GetInt()));
        }
        path = absl::StrJoin(keys, ".");
      }
      std::string text = ef.Str("message");
      parts.push_back(path.empty() ? text : absl::StrCat(path, ": ", text));
    }
    if (!parts.empty()) absl::StrAppend(&message, ": ", absl::StrJoin(parts, "; "));
  }
  return message;
}

}  // namespace immichfs::immich::json
