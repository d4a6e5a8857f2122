// Internal to http_client.cc: the state of one HTTP attempt and the libcurl
// callbacks that fill it. Split out so the range logic (Content-Range checks,
// skipping and capping bytes before they reach the sink) can be read, and
// tested, on its own.
//
// An Exchange lives on the stack of one attempt and is used by one thread.
#ifndef IMMICHFS_IMMICH_HTTP_EXCHANGE_H_
#define IMMICHFS_IMMICH_HTTP_EXCHANGE_H_

#include <curl/curl.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "immich/api.h"
#include "immich/http_client.h"

namespace immichfs::immich::internal {

// Of an error answer, only the start is kept (for its message).
constexpr size_t kMaxErrorBody = size_t{64} << 10;
// CURLOPT_BUFFERSIZE of a download: bytes curl receives per recv(2) and
// hands to the sink per call (curl's default is 16 KiB).
constexpr long kDownloadBufferSize = 512L << 10;
// CURLOPT_UPLOAD_BUFFERSIZE of an upload: bytes curl reads from the spool
// file and sends per round (curl's default is 64 KiB). 1 MiB halved the
// daemon's CPU time while uploading 1 GiB (~0.5 -> ~0.26 s).
constexpr long kUploadBufferSize = 1L << 20;

struct Exchange {
  enum class Kind { kBuffer, kRange };

  Kind kind = Kind::kBuffer;
  CURL* handle = nullptr;        // set by the runner before the transfer
  std::string what;              // names the call in errors
  long status = 0;               // the final answer's HTTP status
  // kBuffer: the whole body. kRange: the body of an error answer (capped).
  std::string body;
  size_t max_body = kMaxObjectAnswer;  // kBuffer: longer 2xx answers are an error
  bool error_answer = false;           // kBuffer: non-2xx, kept up to kMaxErrorBody
  // Why a callback stopped the transfer; takes precedence over curl's code.
  absl::Status abort;
  curl_mime* mime = nullptr;     // owned; freed by the runner after the transfer
  char errbuf[CURL_ERROR_SIZE] = {};

  // --- kRange only --------------------------------------------------------
  const RangeRequest* range = nullptr;
  const ByteSink* sink = nullptr;
  std::string content_range;     // of the answer being received
  bool checked = false;          // the final answer's headers passed the checks
  uint64_t skip = 0;             // leading bytes to drop (a 200 to a ranged GET)
  uint64_t want = UINT64_MAX;    // bytes still to hand to the sink
  // How many bytes the sink must get in all for the answer to be complete,
  // when known (206, or a 200 with Content-Length).
  std::optional<uint64_t> expected;
  uint64_t delivered = 0;
  bool got_enough = false;       // stopped on purpose: every wanted byte delivered
};

// Parses "bytes first-last/total" (total may not be "*").
bool ParseContentRange(absl::string_view value, uint64_t* first, uint64_t* last,
                       uint64_t* total);

// CURLOPT_HEADERFUNCTION / CURLOPT_WRITEFUNCTION with an Exchange* as data.
size_t OnHeader(char* data, size_t size, size_t nitems, void* exchange);
size_t OnBody(char* data, size_t size, size_t nmemb, void* exchange);

}  // namespace immichfs::immich::internal

#endif  // IMMICHFS_IMMICH_HTTP_EXCHANGE_H_
