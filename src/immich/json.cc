#include "immich/json.h"

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/iso_time.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace immichfs::immich::json {
namespace {

using rapidjson::Document;
using rapidjson::Value;

absl::Status Malformed(absl::string_view detail) {
  return absl::InternalError(absl::StrCat("malformed answer from the server: ", detail));
}

absl::Status ParseResult(const Document& doc) {
  if (doc.HasParseError()) {
    // Usually an HTML page from a reverse proxy or a web server that is not Immich.
    return absl::InternalError(absl::StrCat(
        "the answer is not JSON (", rapidjson::GetParseError_En(doc.GetParseError()),
        " at byte ", doc.GetErrorOffset(), "); does url point at the Immich server?"));
  }
  return absl::OkStatus();
}

absl::Status Parse(absl::string_view body, Document* doc) {
  doc->Parse(body.data(), body.size());
  return ParseResult(*doc);
}

// The member `key` of `obj`, or nullptr when obj is not an object or the
// member is absent or null: the server sends null for "not set".
const Value* Field(const Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::string Str(const Value& obj, const char* key) {
  const Value* v = Field(obj, key);
  if (v == nullptr || !v->IsString()) return "";
  return std::string(v->GetString(), v->GetStringLength());
}

// Integers may come as numbers or, from some versions and for bigints, as
// decimal strings.
std::optional<int64_t> OptInt(const Value& obj, const char* key) {
  const Value* v = Field(obj, key);
  if (v == nullptr) return std::nullopt;
  if (v->IsInt64()) return v->GetInt64();
  if (v->IsUint64()) return static_cast<int64_t>(v->GetUint64());
  if (v->IsDouble()) return static_cast<int64_t>(v->GetDouble());
  int64_t n = 0;
  if (v->IsString() && absl::SimpleAtoi(absl::string_view(v->GetString(), v->GetStringLength()), &n)) {
    return n;
  }
  return std::nullopt;
}

int64_t Int(const Value& obj, const char* key, int64_t fallback) {
  return OptInt(obj, key).value_or(fallback);
}

bool Bool(const Value& obj, const char* key, bool fallback = false) {
  const Value* v = Field(obj, key);
  return v != nullptr && v->IsBool() ? v->GetBool() : fallback;
}

absl::Time Time(const Value& obj, const char* key) {
  const Value* v = Field(obj, key);
  if (v == nullptr || !v->IsString()) return absl::InfinitePast();
  return ParseIsoTime(absl::string_view(v->GetString(), v->GetStringLength()))
      .value_or(absl::InfinitePast());
}

absl::Status RequireStr(const Value& obj, const char* key, absl::string_view object, std::string* out) {
  const Value* v = Field(obj, key);
  if (v == nullptr || !v->IsString() || v->GetStringLength() == 0) {
    return Malformed(absl::StrCat(object, " has no string field '", key, "'"));
  }
  out->assign(v->GetString(), v->GetStringLength());
  return absl::OkStatus();
}

absl::Status RequireArray(const Value& v, absl::string_view object) {
  if (!v.IsArray()) return Malformed(absl::StrCat(object, " is not an array"));
  return absl::OkStatus();
}

absl::Status RequireObject(const Value& v, absl::string_view object) {
  if (!v.IsObject()) return Malformed(absl::StrCat(object, " is not an object"));
  return absl::OkStatus();
}

absl::Status ToAlbum(const Value& v, absl::string_view object, Album* out) {
  if (absl::Status s = RequireObject(v, object); !s.ok()) return s;
  if (absl::Status s = RequireStr(v, "id", object, &out->id); !s.ok()) return s;
  out->name = Str(v, "albumName");
  // 1.x/2.x-era answers carry ownerId/owner; current ones list the owner in
  // albumUsers with role "owner". Prefer the latter, fall back in order.
  if (const Value* users = Field(v, "albumUsers"); users != nullptr && users->IsArray()) {
    for (const Value& u : users->GetArray()) {
      if (Str(u, "role") != "owner") continue;
      if (const Value* user = Field(u, "user"); user != nullptr) out->owner_id = Str(*user, "id");
      break;
    }
  }
  if (out->owner_id.empty()) out->owner_id = Str(v, "ownerId");
  if (out->owner_id.empty()) {
    if (const Value* owner = Field(v, "owner"); owner != nullptr) out->owner_id = Str(*owner, "id");
  }
  out->asset_count = Int(v, "assetCount", 0);
  out->created_at = Time(v, "createdAt");
  out->updated_at = Time(v, "updatedAt");
  out->last_modified_asset = Time(v, "lastModifiedAssetTimestamp");
  out->shared = Bool(v, "shared");
  return absl::OkStatus();
}

AssetType ToAssetType(absl::string_view type) {
  if (type == "IMAGE") return AssetType::kImage;
  if (type == "VIDEO") return AssetType::kVideo;
  if (type == "AUDIO") return AssetType::kAudio;
  return AssetType::kOther;
}

absl::Status ToAsset(const Value& v, absl::string_view object, Asset* out) {
  if (absl::Status s = RequireObject(v, object); !s.ok()) return s;
  if (absl::Status s = RequireStr(v, "id", object, &out->id); !s.ok()) return s;
  out->original_file_name = Str(v, "originalFileName");
  out->checksum = Str(v, "checksum");
  out->type = ToAssetType(Str(v, "type"));
  if (const Value* exif = Field(v, "exifInfo"); exif != nullptr) {
    out->size = Int(*exif, "fileSizeInByte", -1);
  }
  out->file_created_at = Time(v, "fileCreatedAt");
  out->file_modified_at = Time(v, "fileModifiedAt");
  out->created_at = Time(v, "createdAt");
  out->updated_at = Time(v, "updatedAt");
  out->is_trashed = Bool(v, "isTrashed");
  out->is_favorite = Bool(v, "isFavorite");
  out->visibility = Str(v, "visibility");
  if (out->visibility.empty()) {
    // Servers before the visibility field had only isArchived.
    out->visibility = Bool(v, "isArchived") ? "archive" : "timeline";
  }
  out->live_photo_video_id = Str(v, "livePhotoVideoId");
  out->owner_id = Str(v, "ownerId");
  return absl::OkStatus();
}

std::vector<std::string> LowerStrings(const Value& obj, const char* key) {
  std::vector<std::string> out;
  const Value* v = Field(obj, key);
  if (v == nullptr || !v->IsArray()) return out;
  for (const Value& item : v->GetArray()) {
    if (!item.IsString()) continue;
    out.push_back(absl::AsciiStrToLower(absl::string_view(item.GetString(), item.GetStringLength())));
  }
  return out;
}

}  // namespace

absl::StatusOr<ServerVersion> ParseServerVersion(absl::string_view body) {
  Document doc;
  if (absl::Status s = Parse(body, &doc); !s.ok()) return s;
  std::optional<int64_t> major = OptInt(doc, "major");
  if (!major.has_value()) return Malformed("server version has no number 'major'");
  ServerVersion v;
  v.major = static_cast<int>(*major);
  v.minor = static_cast<int>(Int(doc, "minor", 0));
  v.patch = static_cast<int>(Int(doc, "patch", 0));
  return v;
}

absl::StatusOr<User> ParseUser(absl::string_view body) {
  Document doc;
  if (absl::Status s = Parse(body, &doc); !s.ok()) return s;
  User user;
  if (absl::Status s = RequireStr(doc, "id", "user", &user.id); !s.ok()) return s;
  user.email = Str(doc, "email");
  user.name = Str(doc, "name");
  return user;
}

absl::StatusOr<MediaTypes> ParseMediaTypes(absl::string_view body) {
  Document doc;
  if (absl::Status s = Parse(body, &doc); !s.ok()) return s;
  if (absl::Status s = RequireObject(doc, "media types"); !s.ok()) return s;
  MediaTypes types;
  types.image = LowerStrings(doc, "image");
  types.video = LowerStrings(doc, "video");
  types.sidecar = LowerStrings(doc, "sidecar");
  return types;
}

absl::StatusOr<Storage> ParseStorage(absl::string_view body) {
  Document doc;
  if (absl::Status s = Parse(body, &doc); !s.ok()) return s;
  if (absl::Status s = RequireObject(doc, "storage"); !s.ok()) return s;
  Storage storage;
  storage.size_bytes = Int(doc, "diskSizeRaw", 0);
  storage.available_bytes = Int(doc, "diskAvailableRaw", 0);
  storage.used_bytes = Int(doc, "diskUseRaw", 0);
  return storage;
}

absl::StatusOr<Album> ParseAlbum(absl::string_view body) {
  Document doc;
  if (absl::Status s = Parse(body, &doc); !s.ok()) return s;
  Album album;
  if (absl::Status s = ToAlbum(doc, "album", &album); !s.ok()) return s;
  return album;
}

absl::StatusOr<std::vector<Album>> ParseAlbumList(absl::string_view body) {
  Document doc;
  if (absl::Status s = Parse(body, &doc); !s.ok()) return s;
  if (absl::Status s = RequireArray(doc, "album list"); !s.ok()) return s;
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
  if (absl::Status s = Parse(body, &doc); !s.ok()) return s;
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
  doc.ParseInsitu(body.data());
  if (absl::Status s = ParseResult(doc); !s.ok()) return s;
  const Value* assets = Field(doc, "assets");
  if (assets == nullptr || !assets->IsObject()) return Malformed("search answer has no object 'assets'");
  const Value* items = Field(*assets, "items");
  if (items == nullptr || !items->IsArray()) return Malformed("search answer has no array 'assets.items'");
  AssetPage page;
  page.assets.reserve(items->Size());
  for (rapidjson::SizeType i = 0; i < items->Size(); ++i) {
    Asset asset;
    if (absl::Status s = ToAsset((*items)[i], absl::StrCat("asset #", i), &asset); !s.ok()) return s;
    page.assets.push_back(std::move(asset));
  }
  // nextPage is a page number sent as a string ("2"), or null on the last page.
  if (std::optional<int64_t> next = OptInt(*assets, "nextPage"); next.has_value() && *next > 0) {
    page.next_page = static_cast<int>(*next);
  }
  page.total = Int(*assets, "total", static_cast<int64_t>(page.assets.size()));
  return page;
}

absl::StatusOr<std::vector<BulkCheckResult>> ParseBulkCheck(absl::string_view body) {
  Document doc;
  if (absl::Status s = Parse(body, &doc); !s.ok()) return s;
  const Value* results = Field(doc, "results");
  if (results == nullptr || !results->IsArray()) return Malformed("bulk-upload-check answer has no array 'results'");
  std::vector<BulkCheckResult> out;
  out.reserve(results->Size());
  for (rapidjson::SizeType i = 0; i < results->Size(); ++i) {
    const Value& v = (*results)[i];
    std::string object = absl::StrCat("bulk-upload-check result #", i);
    if (absl::Status s = RequireObject(v, object); !s.ok()) return s;
    BulkCheckResult r;
    if (absl::Status s = RequireStr(v, "id", object, &r.id); !s.ok()) return s;
    r.accepted = Str(v, "action") == "accept";
    r.reason = Str(v, "reason");
    r.asset_id = Str(v, "assetId");
    r.is_trashed = Bool(v, "isTrashed");
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<UploadResult> ParseUploadResult(absl::string_view body, long http_status) {
  Document doc;
  if (absl::Status s = Parse(body, &doc); !s.ok()) return s;
  UploadResult result;
  if (absl::Status s = RequireStr(doc, "id", "upload answer", &result.id); !s.ok()) return s;
  std::string status = Str(doc, "status");
  result.duplicate = status.empty() ? http_status == 200 : status == "duplicate";
  return result;
}

absl::StatusOr<std::vector<BulkIdResult>> ParseBulkIdResults(absl::string_view body) {
  Document doc;
  if (absl::Status s = Parse(body, &doc); !s.ok()) return s;
  if (absl::Status s = RequireArray(doc, "bulk id answer"); !s.ok()) return s;
  std::vector<BulkIdResult> out;
  out.reserve(doc.Size());
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
    std::string object = absl::StrCat("bulk id result #", i);
    if (absl::Status s = RequireObject(doc[i], object); !s.ok()) return s;
    BulkIdResult r;
    if (absl::Status s = RequireStr(doc[i], "id", object, &r.id); !s.ok()) return s;
    r.success = Bool(doc[i], "success");
    r.error = Str(doc[i], "error");
    out.push_back(std::move(r));
  }
  return out;
}

std::string ParseErrorMessage(absl::string_view body) {
  Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return "";
  std::string message;
  if (const Value* m = Field(doc, "message"); m != nullptr) {
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
  if (const Value* errors = Field(doc, "errors"); errors != nullptr && errors->IsArray()) {
    std::vector<std::string> parts;
    for (const Value& e : errors->GetArray()) {
      std::string path;
      if (const Value* p = Field(e, "path"); p != nullptr && p->IsArray()) {
        std::vector<std::string> keys;
        for (const Value& k : p->GetArray()) {
          if (k.IsString()) keys.emplace_back(k.GetString(), k.GetStringLength());
          if (k.IsInt()) keys.push_back(absl::StrCat(k.GetInt()));
        }
        path = absl::StrJoin(keys, ".");
      }
      std::string text = Str(e, "message");
      parts.push_back(path.empty() ? text : absl::StrCat(path, ": ", text));
    }
    if (!parts.empty()) absl::StrAppend(&message, ": ", absl::StrJoin(parts, "; "));
  }
  return message;
}

}  // namespace immichfs::immich::json
