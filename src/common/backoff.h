// The one definition of the retry delays: exponential growth from a first
// delay up to a cap. The HTTP client (a failed request, HttpClient::Backoff,
// which adds jitter) and the spool (a failed commit, Spool's Backoff) both
// take their delays from here, each with its own first delay and cap.
#ifndef IMMICHFS_COMMON_BACKOFF_H_
#define IMMICHFS_COMMON_BACKOFF_H_

#include <algorithm>

#include "absl/time/time.h"

namespace immichfs {

// The HTTP client's retries of one failed request: the defaults of
// HttpImmichApiOptions and HttpClientOptions (the first is copied into the
// second, so they must not differ).
inline constexpr int kHttpMaxRetries = 3;  // extra attempts after the first
inline constexpr absl::Duration kHttpRetryFirstDelay = absl::Milliseconds(250);
inline constexpr absl::Duration kHttpRetryMaxDelay = absl::Seconds(10);

// first * 2^doublings, at most `cap` (also when `first` is above it).
// Doubling stops at the cap, so a large count cannot overflow.
inline absl::Duration ExponentialBackoff(absl::Duration first, absl::Duration cap,
                                         int doublings) {
  absl::Duration d = first;
  for (int i = 0; i < doublings && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

}  // namespace immichfs

#endif  // IMMICHFS_COMMON_BACKOFF_H_
