// Which file names may live in an album, and when a pending file is ready to
// go to Immich. Immich accepts only the extensions GET /api/server/media-types
// lists (images and videos; sidecars are not assets), so:
//
//  - create, mknod and the target of a rename must have an accepted
//    extension, or be a temporary form of such a name. Otherwise they fail
//    with EOPNOTSUPP ("Operation not supported"): cp prints "cannot create
//    regular file 'X': Operation not supported", rsync reports the failed
//    file and goes on with the others (exit 23), an SFTP client sees a
//    generic "Failure" (OpenSSH's sftp-server has no better code for it), and
//    the daemon logs which extension was refused and why. EPERM/EACCES were
//    rejected: every SFTP client shows them as "Permission denied", which
//    sends users chasing permissions. EINVAL shows as "Invalid argument"
//    (cp) and "Bad message" (SFTP), which says nothing.
//  - Temporary forms (what uploaders write first and rename when complete):
//      rsync      .NAME.XXXXXX       (dot, name, dot, 6 letters or digits)
//      WinSCP     NAME.filepart
//      others     NAME.part .partial .tmp .temp .crdownload, NAME~
//    A create under such a name is accepted when NAME's extension is; the
//    file never commits under the temporary name: it waits (the commit is
//    postponed with backoff, and shows in /.immich/status) until it is
//    renamed, so an interrupted upload stays visible and resumable instead
//    of landing in Immich half-written.
//  - macOS "._NAME" companions (IsAppleDouble) are refused the same way.
//  - A name must be one immichfs would show for what Immich gets
//    (CheckNewName, name_codec.h): else EINVAL ("Invalid argument", as vfat
//    answers for a name it cannot store), with a log line naming the
//    spelling to use. This holds for albums too (mkdir, mv at the root).
//  - At commit (SpoolOwner::SpoolPrecheck), an empty file or an extension
//    refused by the (by then known) media-type list sends the file to
//    failed/ with the reason, without an upload.
//  - When the media-type list cannot be fetched (Immich unreachable at the
//    first create), every extension is accepted and the commit decides: an
//    upload Immich refuses is a permanent failure and goes to failed/.
//    The list is fetched once and retried at most every `retry` while unknown.
#ifndef IMMICHFS_FS_NAME_POLICY_H_
#define IMMICHFS_FS_NAME_POLICY_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "immich/api.h"

namespace immichfs::fs {

// "IMG_1.jpg" for ".IMG_1.jpg.a1B2c3", "IMG_1.jpg.filepart", "IMG_1.jpg~";
// the name itself when it is not a temporary form.
std::string FinalNameOf(absl::string_view name);
inline bool IsTempName(absl::string_view name) { return FinalNameOf(name) != name; }
// macOS writes "._NAME" beside each file it copies to a filesystem without
// extended attributes (AppleDouble: resource fork and Finder info). It has
// the photo's extension but is not a photo: Immich would store it as a
// broken asset, so it is refused like an unsupported type.
inline bool IsAppleDouble(absl::string_view name) { return name.substr(0, 2) == "._"; }

// For any new name (file or album): OK when it is canonical (name_codec.h)
// and what it decodes to is a name Immich can store (valid UTF-8, no NUL);
// else ErrnoError(EINVAL) saying why and, when there is one, which spelling
// to use instead. `what` is "file" or "album", for the message.
absl::Status CheckNewName(const std::string& name, absl::string_view what);

class NamePolicy {
 public:
  using Clock = std::function<absl::Time()>;
  NamePolicy(immich::ImmichApi* api, absl::Duration retry, Clock clock);

  // For create/mknod/rename targets: CheckNewName, then OK or
  // ErrnoError(EOPNOTSUPP) naming the extension.
  absl::Status CheckName(const std::string& name);
  // The spool's precheck: kUnavailable while the name is temporary (wait),
  // kInvalidArgument for an empty file or a refused type (to failed/).
  absl::Status Precheck(const std::string& name, uint64_t size);

 private:
  // Whether the extension is accepted; nullopt while the list is unknown.
  std::optional<bool> Accepts(const std::string& lower_ext);

  immich::ImmichApi* const api_;
  const absl::Duration retry_;
  const Clock clock_;
  absl::Mutex mu_;  // a leaf: no other lock is taken while it is held
  std::optional<absl::flat_hash_set<std::string>> accepted_ ABSL_GUARDED_BY(mu_);
  absl::Time last_try_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_NAME_POLICY_H_
