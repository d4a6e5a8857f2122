// ISO 8601 timestamps as Immich writes and accepts them
// ("2024-05-01T10:00:00.000Z", "2024-05-02T10:00:00+00:00").
#ifndef IMMICHFS_COMMON_ISO_TIME_H_
#define IMMICHFS_COMMON_ISO_TIME_H_

#include <ctime>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/time/time.h"

namespace immichfs {

std::optional<absl::Time> ParseIsoTime(absl::string_view text);
// Always UTC with milliseconds and a 'Z', the form Immich itself returns.
std::string FormatIsoTime(absl::Time t);
timespec ToTimespec(absl::Time t);
absl::Time FromTimespec(const timespec& ts);

}  // namespace immichfs

#endif  // IMMICHFS_COMMON_ISO_TIME_H_
