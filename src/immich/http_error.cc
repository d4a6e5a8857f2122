#include "immich/http_error.h"

#include <cerrno>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace immichfs::immich {
namespace {

// One row per HTTP status immichfs gives a meaning to. `errno_value`, when
// set, travels as the status payload because the errno is more exact than
// the code's default (EFBIG rather than EIO for "too large").
struct HttpRow {
  long status;
  absl::StatusCode code;
  int errno_value;
  const char* reason;
};

constexpr HttpRow kHttpTable[] = {
    {400, absl::StatusCode::kInvalidArgument, 0, "the server rejected the request"},
    {401, absl::StatusCode::kUnauthenticated, 0,
     "the server rejected the API key; check api_key_file (the key may be revoked or mistyped)"},
    {403, absl::StatusCode::kPermissionDenied, 0,
     "the API key lacks the permission for this; give it more permissions in Immich "
     "(Account Settings > API Keys) or check api_key_file"},
    {404, absl::StatusCode::kNotFound, 0, "not found"},
    {405, absl::StatusCode::kUnimplemented, 0,
     "the server does not offer this call; check that url points at Immich and that it is 2.x or newer"},
    {408, absl::StatusCode::kUnavailable, 0, "the server timed out waiting for the request"},
    {409, absl::StatusCode::kAlreadyExists, 0, "conflicts with an existing object"},
    {410, absl::StatusCode::kNotFound, 0, "gone"},
    {413, absl::StatusCode::kOutOfRange, EFBIG,
     "too large for the server or for a reverse proxy in front of it "
     "(raise its body size limit, e.g. nginx client_max_body_size)"},
    {415, absl::StatusCode::kInvalidArgument, 0, "unsupported media type"},
    {416, absl::StatusCode::kOutOfRange, 0, "the range is past the end of the file"},
    {422, absl::StatusCode::kInvalidArgument, 0, "the server could not process the request"},
    {429, absl::StatusCode::kUnavailable, 0, "the server is rate limiting requests"},
    {500, absl::StatusCode::kUnavailable, 0, "internal server error"},
    {501, absl::StatusCode::kUnimplemented, 0, "not implemented by the server"},
    {502, absl::StatusCode::kUnavailable, 0, "bad gateway (a reverse proxy could not reach Immich)"},
    {503, absl::StatusCode::kUnavailable, 0, "the server is unavailable (starting up or overloaded)"},
    {504, absl::StatusCode::kUnavailable, 0, "gateway timeout (a reverse proxy gave up waiting for Immich)"},
    {507, absl::StatusCode::kResourceExhausted, ENOSPC, "the server is out of storage"},
};

// Immich's answer for an id that does not exist or that this key may not
// read/update/delete: 400 "Not found or no asset.read access".
bool IsNotFoundOrNoAccess(absl::string_view server_message) {
  return absl::StartsWithIgnoreCase(server_message, "Not found or no ");
}

absl::Status Make(absl::StatusCode code, int errno_value, const std::string& message) {
  if (errno_value != 0) return ErrnoError(errno_value, message);
  return absl::Status(code, message);
}

struct CurlRow {
  CURLcode curl;
  absl::StatusCode code;
  const char* reason;
};

constexpr CurlRow kCurlTable[] = {
    {CURLE_UNSUPPORTED_PROTOCOL, absl::StatusCode::kInvalidArgument,
     "unsupported protocol; url must start with http:// or https://"},
    {CURLE_URL_MALFORMAT, absl::StatusCode::kInvalidArgument, "malformed url; check url="},
    {CURLE_COULDNT_RESOLVE_PROXY, absl::StatusCode::kUnavailable, "cannot resolve the proxy's host name"},
    {CURLE_COULDNT_RESOLVE_HOST, absl::StatusCode::kUnavailable,
     "cannot resolve the server's host name (check url= and DNS)"},
    {CURLE_COULDNT_CONNECT, absl::StatusCode::kUnavailable,
     "cannot connect to the server (is Immich running and reachable?)"},
    {CURLE_OPERATION_TIMEDOUT, absl::StatusCode::kDeadlineExceeded, "timed out"},
    {CURLE_SEND_ERROR, absl::StatusCode::kUnavailable, "connection lost while sending"},
    {CURLE_RECV_ERROR, absl::StatusCode::kUnavailable, "connection lost while receiving"},
    {CURLE_GOT_NOTHING, absl::StatusCode::kUnavailable, "the server closed the connection without answering"},
    {CURLE_WEIRD_SERVER_REPLY, absl::StatusCode::kUnavailable, "garbled answer from the server"},
    {CURLE_HTTP2, absl::StatusCode::kUnavailable, "HTTP/2 framing error"},
    {CURLE_HTTP2_STREAM, absl::StatusCode::kUnavailable, "HTTP/2 stream error"},
    {CURLE_PARTIAL_FILE, absl::StatusCode::kDataLoss,
     "the answer ended before its announced length (connection cut)"},
    {CURLE_BAD_CONTENT_ENCODING, absl::StatusCode::kDataLoss, "the answer's compression is corrupt"},
    {CURLE_WRITE_ERROR, absl::StatusCode::kCancelled, "stopped by the receiver"},
    {CURLE_ABORTED_BY_CALLBACK, absl::StatusCode::kCancelled, "stopped by the receiver"},
    {CURLE_READ_ERROR, absl::StatusCode::kInternal, "reading the local file to send failed"},
    {CURLE_SSL_CONNECT_ERROR, absl::StatusCode::kUnavailable,
     "TLS handshake failed (does the url's scheme match the server, http vs https?)"},
    {CURLE_PEER_FAILED_VERIFICATION, absl::StatusCode::kFailedPrecondition,
     "the server's TLS certificate is not trusted; set ca_file= to its CA certificate "
     "(insecure_tls turns the check off, for testing only)"},
    {CURLE_SSL_CACERT_BADFILE, absl::StatusCode::kFailedPrecondition,
     "cannot read the CA certificates; check ca_file="},
    {CURLE_SSL_CERTPROBLEM, absl::StatusCode::kFailedPrecondition, "problem with the local TLS certificate"},
    {CURLE_SSL_CLIENTCERT, absl::StatusCode::kFailedPrecondition,
     "the server requires a TLS client certificate, which immichfs does not send"},
    {CURLE_TOO_MANY_REDIRECTS, absl::StatusCode::kFailedPrecondition,
     "too many redirects; set url to the server's final address"},
    {CURLE_OUT_OF_MEMORY, absl::StatusCode::kInternal, "out of memory"},
};

}  // namespace

absl::Status HttpStatusToStatus(long http_status, absl::string_view what,
                                absl::string_view server_message) {
  std::string tail = server_message.empty()
                         ? absl::StrCat(" (HTTP ", http_status, ")")
                         : absl::StrCat(" (HTTP ", http_status, ": ", server_message, ")");
  if (http_status == 400 && IsNotFoundOrNoAccess(server_message)) {
    return absl::NotFoundError(
        absl::StrCat(what, ": not found, or not visible with this API key", tail));
  }
  for (const HttpRow& row : kHttpTable) {
    if (row.status == http_status) {
      return Make(row.code, row.errno_value, absl::StrCat(what, ": ", row.reason, tail));
    }
  }
  // Classes for the statuses without a row of their own.
  if (http_status >= 300 && http_status < 400) {
    // Redirects are not followed: they would carry the API key elsewhere.
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": the server redirected the request; set url to the final address "
              "(e.g. https:// instead of http://)", tail));
  }
  if (http_status >= 400 && http_status < 500) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the server rejected the request", tail));
  }
  if (http_status >= 500 && http_status < 600) {
    return absl::UnavailableError(absl::StrCat(what, ": server error", tail));
  }
  return absl::UnknownError(absl::StrCat(what, ": unexpected HTTP status", tail));
}

absl::Status CurlCodeToStatus(CURLcode code, absl::string_view what, absl::string_view detail) {
  if (code == CURLE_OK) return absl::OkStatus();
  std::string tail = detail.empty() ? absl::StrCat(" (curl ", static_cast<int>(code), ")")
                                    : absl::StrCat(" (curl: ", detail, ")");
  for (const CurlRow& row : kCurlTable) {
    if (row.curl == code) return absl::Status(row.code, absl::StrCat(what, ": ", row.reason, tail));
  }
  return absl::InternalError(
      absl::StrCat(what, ": transfer failed: ", curl_easy_strerror(code), tail));
}

bool IsTransient(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded;
}

bool NeverReachedServer(CURLcode code) {
  return code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY ||
         code == CURLE_COULDNT_CONNECT;
}

}  // namespace immichfs::immich
