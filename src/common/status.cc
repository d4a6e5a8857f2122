#include "common/status.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace immichfs {
namespace {

constexpr absl::string_view kErrnoPayload = "immichfs/errno";

}  // namespace

absl::Status ErrnoError(int err, absl::string_view message) {
  // Not absl::ErrnoToStatus: it appends strerror(err) to the message, which
  // callers (ErrnoFromSyscall among them) have already worded.
  absl::Status status(absl::ErrnoToStatusCode(err), message);
  status.SetPayload(kErrnoPayload, absl::Cord(std::to_string(err)));
  return status;
}

absl::Status ErrnoFromSyscall(int err, absl::string_view what) {
  return ErrnoError(err, absl::StrCat(what, ": ", std::strerror(err)));
}

int ToErrno(const absl::Status& status) {
  if (status.ok()) return 0;
  if (auto payload = status.GetPayload(kErrnoPayload)) {
    std::string text(*payload);
    int err = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), err);
    if (ec == std::errc() && err > 0) return err;
  }
  switch (status.code()) {
    case absl::StatusCode::kNotFound: return ENOENT;
    case absl::StatusCode::kPermissionDenied: return EACCES;
    case absl::StatusCode::kUnauthenticated: return EACCES;
    case absl::StatusCode::kAlreadyExists: return EEXIST;
    case absl::StatusCode::kInvalidArgument: return EINVAL;
    case absl::StatusCode::kUnimplemented: return EOPNOTSUPP;
    case absl::StatusCode::kDeadlineExceeded: return ETIMEDOUT;
    case absl::StatusCode::kResourceExhausted: return ENOSPC;
    case absl::StatusCode::kCancelled: return EINTR;
    default: return EIO;
  }
}

}  // namespace immichfs
