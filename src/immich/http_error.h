// HTTP status codes and libcurl errors -> absl::Status, as one table each.
// This is the first of the three places where errors change form (STYLE.md
// §3): everything above src/immich/ sees only absl::Status codes, and every
// message names the call and its object ("get asset 3f2a...: ..."), and, when
// the user can fix it, says how ("check api_key_file").
#ifndef IMMICHFS_IMMICH_HTTP_ERROR_H_
#define IMMICHFS_IMMICH_HTTP_ERROR_H_

#include <curl/curl.h>

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace immichfs::immich {

// The status for an HTTP answer outside 2xx. `what` names the call and its
// object ("get asset 2e14..."); `server_message` is the "message" field of
// Immich's JSON error body, or empty.
//
// Immich answers 400 "Not found or no <permission> access" for an object that
// does not exist or that the key may not see: that is kNotFound, not a bad
// request.
absl::Status HttpStatusToStatus(long http_status, absl::string_view what,
                                absl::string_view server_message);

// The status for a transfer libcurl could not finish. `detail` is curl's
// error buffer (more precise than curl_easy_strerror), or empty.
absl::Status CurlCodeToStatus(CURLcode code, absl::string_view what,
                              absl::string_view detail);

// True for failures that may go away by themselves (5xx, 429, connection
// errors, timeouts): what an idempotent call retries on.
bool IsTransient(const absl::Status& status);

// True for curl errors where the request never reached the server (DNS,
// connect), so even a non-idempotent call may be sent again.
bool NeverReachedServer(CURLcode code);

}  // namespace immichfs::immich

#endif  // IMMICHFS_IMMICH_HTTP_ERROR_H_
