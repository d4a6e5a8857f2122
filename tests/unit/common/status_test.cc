// common/status: the one Status -> errno decision, and errno payloads.
#include "common/status.h"

#include <cerrno>
#include <cstring>

#include "gtest/gtest.h"

namespace immichfs {
namespace {

TEST(StatusTest, CodeTable) {
  EXPECT_EQ(ToErrno(absl::OkStatus()), 0);
  EXPECT_EQ(ToErrno(absl::NotFoundError("x")), ENOENT);
  EXPECT_EQ(ToErrno(absl::PermissionDeniedError("x")), EACCES);
  EXPECT_EQ(ToErrno(absl::UnauthenticatedError("x")), EACCES);
  EXPECT_EQ(ToErrno(absl::AlreadyExistsError("x")), EEXIST);
  EXPECT_EQ(ToErrno(absl::InvalidArgumentError("x")), EINVAL);
  EXPECT_EQ(ToErrno(absl::UnimplementedError("x")), EOPNOTSUPP);
  EXPECT_EQ(ToErrno(absl::DeadlineExceededError("x")), ETIMEDOUT);
  EXPECT_EQ(ToErrno(absl::ResourceExhaustedError("x")), ENOSPC);
  EXPECT_EQ(ToErrno(absl::UnavailableError("x")), EIO);
  EXPECT_EQ(ToErrno(absl::InternalError("x")), EIO);
  EXPECT_EQ(ToErrno(absl::DataLossError("x")), EIO);
}

TEST(StatusTest, PayloadErrnoWins) {
  // ENOTEMPTY's canonical code would map back to something else by table.
  absl::Status s = ErrnoError(ENOTEMPTY, "rmdir /albums/Trip");
  EXPECT_EQ(ToErrno(s), ENOTEMPTY);
  EXPECT_EQ(s.message(), "rmdir /albums/Trip");
  EXPECT_EQ(ToErrno(ErrnoError(EXDEV, "rename")), EXDEV);
  EXPECT_EQ(ToErrno(ErrnoError(EROFS, "write")), EROFS);
  EXPECT_EQ(ToErrno(ErrnoError(EFBIG, "upload")), EFBIG);
}

TEST(StatusTest, PayloadSurvivesCopies) {
  absl::Status s = ErrnoError(ENOSPC, "spool");
  absl::Status copy = s;
  EXPECT_EQ(ToErrno(copy), ENOSPC);
  EXPECT_EQ(copy.code(), absl::StatusCode::kResourceExhausted);
}

TEST(StatusTest, BadPayloadFallsBackToTheCode) {
  absl::Status s = absl::NotFoundError("x");
  s.SetPayload("immichfs/errno", absl::Cord("garbage"));
  EXPECT_EQ(ToErrno(s), ENOENT);
  s.SetPayload("immichfs/errno", absl::Cord("-3"));
  EXPECT_EQ(ToErrno(s), ENOENT);
}

TEST(StatusTest, ErrnoFromSyscallNamesTheCallAndTheError) {
  absl::Status s = ErrnoFromSyscall(ENOENT, "open /var/cache/immichfs/spool/12");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ToErrno(s), ENOENT);
  EXPECT_NE(s.message().find("open /var/cache/immichfs/spool/12: "), absl::string_view::npos);
  EXPECT_NE(s.message().find(std::strerror(ENOENT)), absl::string_view::npos);
}

}  // namespace
}  // namespace immichfs
