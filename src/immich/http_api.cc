#include "immich/http_api.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/iso_time.h"
#include "common/url.h"
#include "common/log.h"
#include "immich/http_client.h"
#include "immich/json.h"

namespace immichfs::immich {
namespace {

// Ids come from the server, but one that is not a plain UUID must not be
// able to change the route: percent-encode all but RFC 3986 unreserved bytes.
std::string Escape(absl::string_view segment) {
  std::string out;
  for (unsigned char c : segment) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// A parse error says what was malformed; prefix the call that got it.
template <typename T>
absl::StatusOr<T> Named(absl::StatusOr<T> parsed, absl::string_view what) {
  if (parsed.ok()) return parsed;
  return absl::Status(parsed.status().code(), absl::StrCat(what, ": ", parsed.status().message()));
}

HttpRequest Request(const char* method, std::string path, std::string what,
                    std::optional<std::string> body = std::nullopt,
                    RetryPolicy retry = RetryPolicy::kIdempotent,
                    size_t max_body = kMaxObjectAnswer) {
  HttpRequest req;
  req.max_body = max_body;
  req.method = method;
  req.path = std::move(path);
  req.what = std::move(what);
  req.json_body = std::move(body);
  req.retry = retry;
  return req;
}

}  // namespace

absl::StatusOr<std::string> HttpImmichApi::NormaliseApiRoot(absl::string_view server_url) {
  absl::string_view url = absl::StripAsciiWhitespace(server_url);
  if (!HasHttpScheme(url)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", server_url, "' is not an http:// or https:// URL; set url= to the Immich server, "
        "e.g. https://photos.example.com"));
  }
  if (absl::StrContains(url, '?') || absl::StrContains(url, '#')) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", server_url, "' has a query or fragment; give the server's base URL"));
  }
  const size_t host_start = url.find("://") + 3;
  if (url.size() <= host_start || url[host_start] == '/') {
    return absl::InvalidArgumentError(absl::StrCat("'", server_url, "' has no host name"));
  }
  while (absl::ConsumeSuffix(&url, "/")) {
  }
  if (absl::EndsWith(url, "/api")) return std::string(url);
  return absl::StrCat(url, "/api");
}

absl::StatusOr<std::unique_ptr<HttpImmichApi>> HttpImmichApi::Create(HttpApiOptions options) {
  absl::StatusOr<std::string> root = NormaliseApiRoot(options.server_url);
  if (!root.ok()) return root.status();
  if (options.api_key.empty()) {
    return absl::InvalidArgumentError(
        "no API key; put one in the file named by api_key_file (create it in Immich under "
        "Account Settings > API Keys)");
  }
  // The key goes into the x-api-key header: a CR or LF in it would start a
  // header of its own (config checks key files; this guards every caller).
  for (char ch : options.api_key) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(
          "the API key holds a blank or a control character (a line break?); it must be the "
          "key alone");
    }
  }
  if (options.max_connections < 1 || options.max_retries < 0) {
    return absl::InvalidArgumentError("max_connections must be >= 1 and max_retries >= 0");
  }
  HttpClientOptions http;
  http.api_root = *std::move(root);
  http.api_key = options.api_key;
  http.ca_file = options.ca_file;
  http.insecure_tls = options.insecure_tls;
  http.connect_timeout = options.connect_timeout;
  http.request_timeout = options.request_timeout;
  http.max_retries = options.max_retries;
  http.retry_base_delay = options.retry_base_delay;
  http.max_connections = options.max_connections;
  auto client = std::make_unique<HttpClient>(std::move(http));
  return std::unique_ptr<HttpImmichApi>(new HttpImmichApi(std::move(options), std::move(client)));
}

HttpImmichApi::HttpImmichApi(HttpApiOptions options, std::unique_ptr<HttpClient> http)
    : options_(std::move(options)), http_(std::move(http)) {}

HttpImmichApi::~HttpImmichApi() = default;

HttpImmichApi::Dialect HttpImmichApi::DialectFor(const ServerVersion& version) {
  Dialect d;
  d.albums_need_shared_query = version.major < 3;
  d.upload_needs_device_ids = version.major < 3;
  return d;
}

absl::StatusOr<HttpImmichApi::Dialect> HttpImmichApi::GetDialect() {
  {
    absl::MutexLock lock(&mu_);
    if (version_.has_value()) return DialectFor(*version_);
  }
  absl::StatusOr<ServerVersion> version = GetVersion();
  if (!version.ok()) return version.status();
  return DialectFor(*version);
}

// --- server -----------------------------------------------------------------

absl::Status HttpImmichApi::Ping() {
  absl::StatusOr<HttpResponse> r = http_->Call(Request("GET", "/server/ping", "ping the server"));
  if (!r.ok()) return r.status();
  if (!absl::StrContains(r->body, "pong")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "ping ", http_->api_root(), ": the answer is not Immich's; check url="));
  }
  return absl::OkStatus();
}

absl::StatusOr<ServerVersion> HttpImmichApi::GetVersion() {
  const std::string what = "get the server version";
  absl::StatusOr<HttpResponse> r = http_->Call(Request("GET", "/server/version", what));
  if (!r.ok()) return r.status();
  absl::StatusOr<ServerVersion> v = Named(json::ParseServerVersion(r->body), what);
  if (!v.ok()) return v.status();
  if (v->major < 2) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "Immich at %s is version %d.%d.%d; immichfs needs 2.0 or newer: upgrade Immich",
        http_->api_root(), v->major, v->minor, v->patch));
  }
  absl::MutexLock lock(&mu_);
  if (!version_.has_value()) {
    LOG(kInfo, "Immich at %s is version %d.%d.%d", http_->api_root(), v->major, v->minor, v->patch);
  }
  version_ = *v;
  return *v;
}

absl::StatusOr<User> HttpImmichApi::GetMe() {
  const std::string what = "get the API key's user";
  absl::StatusOr<HttpResponse> r = http_->Call(Request("GET", "/users/me", what));
  if (!r.ok()) return r.status();
  return Named(json::ParseUser(r->body), what);
}

absl::StatusOr<MediaTypes> HttpImmichApi::GetMediaTypes() {
  const std::string what = "get the supported media types";
  absl::StatusOr<HttpResponse> r = http_->Call(Request("GET", "/server/media-types", what));
  if (!r.ok()) return r.status();
  return Named(json::ParseMediaTypes(r->body), what);
}

absl::StatusOr<Storage> HttpImmichApi::GetStorage() {
  const std::string what = "get the server's storage";
  absl::StatusOr<HttpResponse> r = http_->Call(Request("GET", "/server/storage", what));
  if (!r.ok()) return r.status();
  return Named(json::ParseStorage(r->body), what);
}

// --- albums -----------------------------------------------------------------

absl::StatusOr<std::vector<Album>> HttpImmichApi::FetchAlbums(const std::string& path,
                                                              const std::string& what) {
  absl::StatusOr<HttpResponse> r = http_->Call(
      Request("GET", path, what, std::nullopt, RetryPolicy::kIdempotent, kMaxListAnswer));
  if (!r.ok()) return r.status();
  return Named(json::ParseAlbumList(r->body), what);
}

absl::StatusOr<std::vector<Album>> HttpImmichApi::ListAlbums() {
  absl::StatusOr<Dialect> dialect = GetDialect();
  if (!dialect.ok()) return dialect.status();
  absl::StatusOr<std::vector<Album>> albums = FetchAlbums("/albums", "list albums");
  if (!albums.ok() || !dialect->albums_need_shared_query) return albums;
  absl::StatusOr<std::vector<Album>> shared =
      FetchAlbums("/albums?shared=true", "list shared albums");
  if (!shared.ok()) return shared.status();
  // An album the user owns and shares is in both lists: keep the first.
  absl::flat_hash_set<std::string> seen;
  for (const Album& a : *albums) seen.insert(a.id);
  for (Album& a : *shared) {
    if (seen.insert(a.id).second) albums->push_back(std::move(a));
  }
  return albums;
}

absl::StatusOr<std::vector<Album>> HttpImmichApi::ListAlbumsForAsset(const std::string& asset_id) {
  return FetchAlbums(absl::StrCat("/albums?assetId=", Escape(asset_id)),
                     absl::StrCat("list the albums of asset ", asset_id));
}

absl::StatusOr<Album> HttpImmichApi::GetAlbum(const std::string& album_id) {
  // withoutAssets: 2.x would otherwise list every asset; 3.x never does.
  const std::string what = absl::StrCat("get album ", album_id);
  absl::StatusOr<HttpResponse> r = http_->Call(
      Request("GET", absl::StrCat("/albums/", Escape(album_id), "?withoutAssets=true"), what));
  if (!r.ok()) return r.status();
  return Named(json::ParseAlbum(r->body), what);
}

absl::StatusOr<Album> HttpImmichApi::CreateAlbum(const std::string& name) {
  // Not idempotent: a second POST would make a second album of that name.
  const std::string what = absl::StrCat("create album '", name, "'");
  absl::StatusOr<HttpResponse> r = http_->Call(
      Request("POST", "/albums", what, json::AlbumNameBody(name), RetryPolicy::kIfNotSent));
  if (!r.ok()) return r.status();
  return Named(json::ParseAlbum(r->body), what);
}

absl::StatusOr<Album> HttpImmichApi::RenameAlbum(const std::string& album_id,
                                                 const std::string& name) {
  const std::string what = absl::StrCat("rename album ", album_id, " to '", name, "'");
  absl::StatusOr<HttpResponse> r = http_->Call(Request(
      "PATCH", absl::StrCat("/albums/", Escape(album_id)), what, json::AlbumNameBody(name)));
  if (!r.ok()) return r.status();
  return Named(json::ParseAlbum(r->body), what);
}

absl::Status HttpImmichApi::DeleteAlbum(const std::string& album_id) {
  // Retried: if a lost answer hid a success, the retry says kNotFound, which
  // a caller deleting the album may take as done.
  return http_
      ->Call(Request("DELETE", absl::StrCat("/albums/", Escape(album_id)),
                     absl::StrCat("delete album ", album_id)))
      .status();
}

absl::StatusOr<std::vector<BulkIdResult>> HttpImmichApi::AddToAlbum(
    const std::string& album_id, const std::vector<std::string>& asset_ids) {
  if (asset_ids.empty()) return std::vector<BulkIdResult>{};
  // Idempotent: adding again answers "duplicate" per id, not an error.
  const std::string what =
      absl::StrCat("add ", asset_ids.size(), " asset(s) to album ", album_id);
  absl::StatusOr<HttpResponse> r = http_->Call(Request(
      "PUT", absl::StrCat("/albums/", Escape(album_id), "/assets"), what, json::IdsBody(asset_ids),
      RetryPolicy::kIdempotent, kMaxPageAnswer));
  if (!r.ok()) return r.status();
  return Named(json::ParseBulkIdResults(r->body), what);
}

absl::StatusOr<std::vector<BulkIdResult>> HttpImmichApi::RemoveFromAlbum(
    const std::string& album_id, const std::vector<std::string>& asset_ids) {
  if (asset_ids.empty()) return std::vector<BulkIdResult>{};
  const std::string what =
      absl::StrCat("remove ", asset_ids.size(), " asset(s) from album ", album_id);
  absl::StatusOr<HttpResponse> r = http_->Call(Request(
      "DELETE", absl::StrCat("/albums/", Escape(album_id), "/assets"), what,
      json::IdsBody(asset_ids), RetryPolicy::kIdempotent, kMaxPageAnswer));
  if (!r.ok()) return r.status();
  return Named(json::ParseBulkIdResults(r->body), what);
}

// --- assets -----------------------------------------------------------------

absl::StatusOr<AssetPage> HttpImmichApi::SearchAlbumAssets(const std::string& album_id, int page,
                                                           int size) {
  const std::string what = absl::StrCat("list page ", page, " of album ", album_id);
  if (page < 1 || size < 1 || size > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": page must be >= 1 and size in 1..1000 (size ", size, ")"));
  }
  // A read: POST only because the filter is a JSON body.
  absl::StatusOr<HttpResponse> r = http_->Call(Request(
      "POST", "/search/metadata", what, json::SearchAlbumAssetsBody(album_id, page, size),
      RetryPolicy::kIdempotent, kMaxPageAnswer));
  if (!r.ok()) return r.status();
  return Named(json::ParseSearchPageInPlace(std::move(r->body)), what);
}

absl::StatusOr<std::vector<Asset>> HttpImmichApi::SearchByChecksum(const std::string& checksum_b64) {
  const std::string what = absl::StrCat("search assets with checksum ", checksum_b64);
  absl::StatusOr<HttpResponse> r = http_->Call(
      Request("POST", "/search/metadata", what, json::SearchByChecksumBody(checksum_b64),
              RetryPolicy::kIdempotent, kMaxPageAnswer));
  if (!r.ok()) return r.status();
  // One content has one asset per user (a few with trashed copies): the
  // first page (250 by default) holds them all.
  absl::StatusOr<AssetPage> page = Named(json::ParseSearchPage(r->body), what);
  if (!page.ok()) return page.status();
  return std::move(page->assets);
}

absl::StatusOr<Asset> HttpImmichApi::GetAsset(const std::string& asset_id) {
  const std::string what = absl::StrCat("get asset ", asset_id);
  absl::StatusOr<HttpResponse> r =
      http_->Call(Request("GET", absl::StrCat("/assets/", Escape(asset_id)), what));
  if (!r.ok()) return r.status();
  return Named(json::ParseAsset(r->body), what);
}

absl::Status HttpImmichApi::Download(const std::string& asset_id, uint64_t offset,
                                     std::optional<uint64_t> length,
                                     std::optional<uint64_t> expected_total,
                                     const ByteSink& sink) {
  RangeRequest req;
  req.path = absl::StrCat("/assets/", Escape(asset_id), "/original");
  req.offset = offset;
  req.length = length;
  req.expected_total = expected_total;
  req.what = absl::StrCat("download asset ", asset_id, " from byte ", offset);
  long http_status = 0;
  absl::Status status = http_->Download(req, sink, &http_status);
  // Immich answers a Range starting at or past the end with 404 (not 416);
  // an unknown asset is 400. So 404 with an offset means "past the end".
  if (http_status == 404 && offset > 0) {
    return absl::OutOfRangeError(absl::StrCat(
        req.what, ": the range starts at or past the end of the file (HTTP 404)"));
  }
  return status;
}

// --- writes -----------------------------------------------------------------

absl::StatusOr<std::vector<BulkCheckResult>> HttpImmichApi::BulkUploadCheck(
    const std::vector<std::pair<std::string, std::string>>& id_and_checksum_hex) {
  if (id_and_checksum_hex.empty()) return std::vector<BulkCheckResult>{};
  const std::string what =
      absl::StrCat("check ", id_and_checksum_hex.size(), " file(s) before upload");
  absl::StatusOr<HttpResponse> r = http_->Call(Request(
      "POST", "/assets/bulk-upload-check", what, json::BulkUploadCheckBody(id_and_checksum_hex),
      RetryPolicy::kIdempotent, kMaxPageAnswer));
  if (!r.ok()) return r.status();
  return Named(json::ParseBulkCheck(r->body), what);
}

absl::StatusOr<UploadResult> HttpImmichApi::Upload(const UploadRequest& req) {
  const std::string what = absl::StrCat("upload '", req.filename, "'");
  auto finite = [](absl::Time t) {
    return t != absl::InfinitePast() && t != absl::InfiniteFuture();
  };
  if (req.filename.empty() || !finite(req.file_created_at) || !finite(req.file_modified_at)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": needs a file name and finite creation and modification times"));
  }
  absl::StatusOr<Dialect> dialect = GetDialect();
  if (!dialect.ok()) return dialect.status();
  FileUpload up;
  up.path = "/assets";
  up.what = what;
  if (dialect->upload_needs_device_ids) {
    // deviceAssetId must be stable per content for the device: the checksum is.
    up.fields.push_back({"deviceAssetId", req.device_asset_id.empty()
                                              ? absl::StrCat("immichfs-", req.checksum_hex)
                                              : req.device_asset_id});
    up.fields.push_back({"deviceId", options_.device_id});
  }
  up.fields.push_back({"fileCreatedAt", FormatIsoTime(req.file_created_at)});
  up.fields.push_back({"fileModifiedAt", FormatIsoTime(req.file_modified_at)});
  up.fields.push_back({"filename", req.filename});
  up.file_field = "assetData";
  up.file_path = req.path;
  up.file_name = req.filename;
  up.file_size = req.size;
  up.hold_before_end = req.hold_before_end;
  // With the checksum up front the server can answer "duplicate" at once.
  if (!req.checksum_hex.empty()) up.headers.push_back("x-immich-checksum: " + req.checksum_hex);
  absl::StatusOr<HttpResponse> r = http_->PostFile(up);
  if (!r.ok()) return r.status();
  return Named(json::ParseUploadResult(r->body, r->status), what);
}

absl::Status HttpImmichApi::DeleteAssets(const std::vector<std::string>& asset_ids, bool force) {
  if (asset_ids.empty()) return absl::OkStatus();
  const std::string what = absl::StrCat(force ? "delete " : "trash ", asset_ids.size(),
                                        " asset(s) (first ", asset_ids.front(), ")");
  return http_->Call(Request("DELETE", "/assets", what, json::DeleteAssetsBody(asset_ids, force)))
      .status();
}

absl::Status HttpImmichApi::RestoreFromTrash(const std::vector<std::string>& asset_ids) {
  if (asset_ids.empty()) return absl::OkStatus();
  const std::string what = absl::StrCat("restore ", asset_ids.size(),
                                        " asset(s) from the trash (first ", asset_ids.front(), ")");
  return http_->Call(Request("POST", "/trash/restore/assets", what, json::IdsBody(asset_ids)))
      .status();
}

absl::Status HttpImmichApi::CopyAssetMetadata(const std::string& source_id,
                                              const std::string& target_id) {
  const std::string what =
      absl::StrCat("copy albums and metadata of asset ", source_id, " to ", target_id);
  return http_->Call(Request("PUT", "/assets/copy", what, json::CopyAssetBody(source_id, target_id)))
      .status();
}

}  // namespace immichfs::immich
