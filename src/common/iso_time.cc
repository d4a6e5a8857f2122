#include "common/iso_time.h"

#include <string>

namespace immichfs {

std::optional<absl::Time> ParseIsoTime(absl::string_view text) {
  std::string s(text);
  // absl's %Ez takes "+hh:mm" and "Z"; accept a bare date-time as UTC too.
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S%Ez", s, &t, &err)) return t;
  if (absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S", s, absl::UTCTimeZone(), &t, &err)) return t;
  return std::nullopt;
}

std::string FormatIsoTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

timespec ToTimespec(absl::Time t) { return absl::ToTimespec(t); }
absl::Time FromTimespec(const timespec& ts) { return absl::TimeFromTimespec(ts); }

}  // namespace immichfs
