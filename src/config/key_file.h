// The API key file (api_key_file=). The key ends up in an HTTP header, so
// nothing but the key may come out of the file: it is opened once without
// following a symlink, its type, owner and mode are checked on that very
// descriptor (no window between the check and the read), and the text read
// from it must be the key alone on one line.
#ifndef IMMICHFS_CONFIG_KEY_FILE_H_
#define IMMICHFS_CONFIG_KEY_FILE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace immichfs::config {

// Reads the key from `path`. One trailing newline (LF or CR LF) is dropped;
// any other whitespace or control character is an error. Refused: a symlink
// as the last component, anything but a regular file, an empty or oversized
// file. Errors name the file and say what to do. `warnings` receives a line
// when others may read the file (mode & 077) or someone other than the
// reader or root owns it (they could swap the key).
absl::StatusOr<std::string> ReadApiKeyFile(const std::string& path,
                                           std::vector<std::string>* warnings);

// The key alone: non-empty, printable ASCII without spaces. `source` names
// where it came from ("/etc/immichfs/key", "$IMMICH_API_KEY").
absl::Status CheckApiKey(absl::string_view key, absl::string_view source);

}  // namespace immichfs::config

#endif  // IMMICHFS_CONFIG_KEY_FILE_H_
