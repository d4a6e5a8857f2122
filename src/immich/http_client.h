// The HTTP mechanics under HttpImmichApi: one request = one pooled curl
// handle (keep-alive connection reuse, see curl_pool.h), the API key and JSON
// headers, timeouts, retries with capped exponential backoff, streaming of
// downloads and uploads, and one debug log line per request.
// It knows HTTP, not Immich's routes or JSON bodies (http_api.cc has those);
// the only Immich knowledge here is how to read the "message" of an error
// body, so that every failed call's status carries the server's reason.
//
// Thread-safe: any number of threads may call at once; at most
// max_connections requests are in flight, the others wait for a handle.
#ifndef IMMICHFS_IMMICH_HTTP_CLIENT_H_
#define IMMICHFS_IMMICH_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "immich/api.h"
#include "immich/curl_pool.h"

namespace immichfs::immich {

// When a failed request may be sent again.
enum class RetryPolicy {
  // Repeating it changes nothing: retried on connection errors, timeouts,
  // answers cut short, 429 and 5xx (GET, and the PUT/POST/DELETE calls that are safe to repeat).
  kIdempotent,
  // Retried only when it never reached the server (DNS, connect refused).
  kIfNotSent,
};

// The largest JSON answer kept in memory, by kind of call. curl hands the
// body over decompressed (the client accepts gzip), so this also bounds what
// a small gzip "bomb" can cost: the transfer stops at the cap with
// kResourceExhausted, naming the call. Each is far above what Immich sends.
constexpr size_t kMaxObjectAnswer = size_t{4} << 20;  // one asset, album, user, version
constexpr size_t kMaxPageAnswer = size_t{64} << 20;   // a search page of 1000 assets (~1-3 MB)
constexpr size_t kMaxListAnswer = size_t{256} << 20;  // the album list (~100 000 albums)

struct HttpRequest {
  const char* method = "GET";
  std::string path;                     // below the API root: "/albums?shared=true"
  std::optional<std::string> json_body;
  RetryPolicy retry = RetryPolicy::kIdempotent;
  std::string what;                     // "get asset 2e14...": names the call in errors and logs
  size_t max_body = kMaxObjectAnswer;   // a longer answer is an error (see above)
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

// A GET of part of a file: "Range: bytes=offset-" when length is unset,
// else "bytes=offset-(offset+length-1)".
struct RangeRequest {
  std::string path;                     // below the API root
  uint64_t offset = 0;
  std::optional<uint64_t> length;
  // Checked against the total of Content-Range (or Content-Length of a 200);
  // a mismatch is kFailedPrecondition: the file changed under the caller.
  std::optional<uint64_t> expected_total;
  std::string what;
};

struct MultipartField {
  std::string name;
  std::string value;
};

// A multipart/form-data POST whose file part is streamed from disk.
struct FileUpload {
  std::string path;                     // below the API root
  std::vector<MultipartField> fields;   // text fields, sent before the file
  std::string file_field;               // "assetData"
  std::string file_path;                // local file, read while sending
  std::string file_name;                // filename= of the file part
  // When set, the file must hold exactly this many bytes (checked before
  // sending: a spool file that changed is kFailedPrecondition).
  std::optional<int64_t> file_size;
  std::vector<std::string> headers;     // extra "Name: value" headers
  std::string what;
  // When set, called on the sending thread before the file's last byte
  // goes out; it may block (the request waits, incomplete, so the server
  // acts on nothing yet). An error aborts the upload with that status and
  // it is not retried. Needs a file of at least one byte.
  std::function<absl::Status()> hold_before_end;
};

struct HttpClientOptions {
  std::string api_root;                 // "https://host/api", no trailing slash
  std::string api_key;
  std::string ca_file;                  // empty: the system's CA store
  bool insecure_tls = false;            // skip certificate checks (testing only)
  absl::Duration connect_timeout = absl::Seconds(10);
  // The whole of a JSON call; for downloads and uploads, the longest the
  // transfer may stall (no byte moving) before it is abandoned.
  absl::Duration request_timeout = absl::Seconds(60);
  int max_retries = kHttpMaxRetries;    // extra attempts after the first
  absl::Duration retry_base_delay = kHttpRetryFirstDelay;
  absl::Duration retry_max_delay = kHttpRetryMaxDelay;
  int max_connections = 8;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // A JSON call with a whole-request timeout, retried per req.retry. A 2xx
  // answer is returned with its body; anything else becomes a status
  // (http_error.h) whose message names req.what and the server's reason.
  absl::StatusOr<HttpResponse> Call(const HttpRequest& req);

  // Streams the requested range to `sink` as it arrives. Never retried: the
  // caller knows how far the sink got and resumes from there. Fails with
  // kDataLoss when the answer ends early (never hands over short data as
  // complete). `http_status`, when given, receives the answer's status (0 if
  // none), so the caller can give a status a route-specific meaning.
  absl::Status Download(const RangeRequest& req, const ByteSink& sink,
                        long* http_status = nullptr);

  // A multipart POST. Retried only when the request never reached the server;
  // otherwise the caller re-checks by checksum before sending again. One
  // exception, kept for the sake of connection reuse: curl itself resends
  // once when a reused keep-alive connection dies before any answer. That is
  // safe for Immich uploads, which the server deduplicates by checksum (the
  // resend is answered "duplicate" with the same id). Returns the 2xx answer
  // (its status tells created from duplicate).
  absl::StatusOr<HttpResponse> PostFile(const FileUpload& upload);

  const std::string& api_root() const { return options_.api_root; }

 private:
  // Runs `attempt` until it succeeds, fails for good, or retries run out.
  // `attempt` reports curl's result so kIfNotSent can tell "never sent".
  absl::Status WithRetries(RetryPolicy policy,
                           const std::function<absl::Status(CURLcode*)>& attempt);
  absl::Duration Backoff(int attempt) const;

  const HttpClientOptions options_;
  CurlPool pool_;
};

}  // namespace immichfs::immich

#endif  // IMMICHFS_IMMICH_HTTP_CLIENT_H_
