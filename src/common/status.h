// Errors as values. Every layer below fuse_ll/ returns absl::Status or
// absl::StatusOr<T>; the errno a FUSE reply needs is decided once, by ToErrno().
//
// When the exact errno matters (ENOTEMPTY, EXDEV, EROFS, ENOSPC...), build the
// status with ErrnoError(): the errno travels as a payload and ToErrno() prefers
// it over the code-to-errno table.
#ifndef IMMICHFS_COMMON_STATUS_H_
#define IMMICHFS_COMMON_STATUS_H_

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace immichfs {

// A status carrying `err` as its errno; the canonical code is derived from it
// and `message` is kept as given (no strerror appended).
absl::Status ErrnoError(int err, absl::string_view message);

// The status for a failed syscall: `what` names the call and its object,
// e.g. ErrnoFromSyscall(errno, "open /var/cache/immichfs/spool/12").
absl::Status ErrnoFromSyscall(int err, absl::string_view what);

// The errno for a FUSE reply: the payload if any, else by code:
// kNotFound->ENOENT, kPermissionDenied->EACCES, kAlreadyExists->EEXIST,
// kInvalidArgument->EINVAL, kUnimplemented->EOPNOTSUPP,
// kDeadlineExceeded->ETIMEDOUT, kResourceExhausted->ENOSPC,
// kUnavailable->EIO, kUnauthenticated->EACCES, everything else->EIO.
int ToErrno(const absl::Status& status);

}  // namespace immichfs

#endif  // IMMICHFS_COMMON_STATUS_H_
