// The one check that a server URL has a scheme immichfs speaks, shared by the
// option checks (config::Validate) and the client (HttpImmichApi).
#ifndef IMMICHFS_COMMON_URL_H_
#define IMMICHFS_COMMON_URL_H_

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace immichfs {

// True if `url` starts with "http://" or "https://", in lower case as the
// url option has always required. Callers strip whitespace first if they
// accept it.
inline bool HasHttpScheme(absl::string_view url) {
  return absl::StartsWith(url, "http://") || absl::StartsWith(url, "https://");
}

}  // namespace immichfs

#endif  // IMMICHFS_COMMON_URL_H_
