// What the server URL may show of itself outside the process: the mount's
// source name (fsname=, seen in /proc/mounts by every local user) and the
// check that the URL carries no credentials.
#ifndef IMMICHFS_CONFIG_MOUNT_NAME_H_
#define IMMICHFS_CONFIG_MOUNT_NAME_H_

#include <string>

#include "absl/strings/string_view.h"

namespace immichfs::config {

// True when the URL's authority (between "://" and the first '/', '?' or
// '#') holds user[:password]@. immichfs refuses such a URL: the API key is
// the credential, and the URL is shown in /proc/mounts and in messages.
bool UrlHasUserinfo(absl::string_view url);

// "immichfs#" + the URL, for fsname=. Every byte outside letters, digits
// and - . _ ~ : / @ [ ] % + = is percent-encoded: a ',' would split the
// mount option string into more options (libfuse's option parser, and
// fusermount3 for a non-root mount), a '\' is their escape character, and
// blanks and control characters would garble /proc/mounts.
std::string MountSourceName(absl::string_view url);

}  // namespace immichfs::config

#endif  // IMMICHFS_CONFIG_MOUNT_NAME_H_
