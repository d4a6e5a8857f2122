// Small text files immichfs keeps (the spool journal, failed/ reasons, the
// stored catalog): escaping that keeps them line-based and readable, and
// whole-file reads and atomic replacement.
#ifndef IMMICHFS_COMMON_TEXT_FILE_H_
#define IMMICHFS_COMMON_TEXT_FILE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace immichfs {

// Percent-escapes '%', control characters and DEL; everything else (spaces,
// UTF-8) stays readable. Unescape is its inverse (nullopt: malformed).
std::string Escape(absl::string_view in);
std::optional<std::string> Unescape(absl::string_view in);

// Writes `text` to `path` through the temp file `tmp` and a rename; with
// `sync`, the file and its directory `dir` are durable on return.
absl::Status WriteFileAtomically(const std::string& dir, const std::string& path,
                                 const std::string& tmp, absl::string_view text, bool sync);

absl::StatusOr<std::string> ReadFile(const std::string& path);

// fsync of a directory, so a rename or unlink in it is durable.
absl::Status SyncDir(const std::string& dir);

// A time as whole Unix nanoseconds for a text field; InfinitePast (a time
// Immich did not send) is INT64_MIN, and back.
int64_t TimeToNanos(absl::Time t);
absl::Time TimeFromNanos(int64_t ns);

}  // namespace immichfs

#endif  // IMMICHFS_COMMON_TEXT_FILE_H_
