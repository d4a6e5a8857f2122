// The HTTP-status and curl-code tables of http_error.cc, with the messages
// the recorded Immich answers carry.
#include "immich/http_error.h"

#include <cerrno>

#include "common/status.h"
#include "fixture.h"
#include "gtest/gtest.h"
#include "immich/json.h"

namespace immichfs::immich {
namespace {

using ::immichfs::immich::testing::Recorded;

bool Contains(const absl::Status& s, absl::string_view text) {
  return s.message().find(text) != absl::string_view::npos;
}

TEST(HttpErrorTest, ImmichNotFoundOrNoAccessIsNotFound) {
  absl::Status s = HttpStatusToStatus(400, "get asset 2e14", "Not found or no asset.read access");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Contains(s, "get asset 2e14")) << s;
  EXPECT_TRUE(Contains(s, "asset.read")) << s;
  EXPECT_EQ(ToErrno(s), ENOENT);
  // As parsed from the recorded body of an unknown id's trash restore.
  absl::Status recorded = HttpStatusToStatus(
      400, "restore", json::ParseErrorMessage(Recorded("trash_restore_assets_unknown.json")));
  EXPECT_EQ(recorded.code(), absl::StatusCode::kNotFound);
}

TEST(HttpErrorTest, OtherBadRequestsAreInvalidArgument) {
  absl::Status s = HttpStatusToStatus(400, "upload 'x.txt'",
                                      json::ParseErrorMessage(Recorded("upload_txt.json")));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s, "Unsupported file type x.txt")) << s;
  EXPECT_TRUE(Contains(s, "upload 'x.txt'")) << s;
  EXPECT_EQ(HttpStatusToStatus(400, "get asset x",
                               json::ParseErrorMessage(Recorded("asset_unknown.json")))
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HttpErrorTest, UnauthenticatedSaysToCheckTheKeyFile) {
  absl::Status s = HttpStatusToStatus(401, "list albums", "Invalid API key");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Contains(s, "api_key_file")) << s;
  EXPECT_TRUE(Contains(s, "list albums")) << s;
  EXPECT_TRUE(Contains(s, "Invalid API key")) << s;
}

TEST(HttpErrorTest, ForbiddenSaysWhatToDo) {
  absl::Status s = HttpStatusToStatus(403, "delete asset x", "Missing required permission");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Contains(s, "permission")) << s;
  EXPECT_EQ(ToErrno(s), EACCES);
}

TEST(HttpErrorTest, StatusTable) {
  struct Row {
    long http;
    absl::StatusCode code;
  } rows[] = {
      {404, absl::StatusCode::kNotFound},       {405, absl::StatusCode::kUnimplemented},
      {409, absl::StatusCode::kAlreadyExists},  {413, absl::StatusCode::kOutOfRange},
      {416, absl::StatusCode::kOutOfRange},     {418, absl::StatusCode::kInvalidArgument},
      {429, absl::StatusCode::kUnavailable},    {500, absl::StatusCode::kUnavailable},
      {502, absl::StatusCode::kUnavailable},    {503, absl::StatusCode::kUnavailable},
      {504, absl::StatusCode::kUnavailable},    {599, absl::StatusCode::kUnavailable},
      {507, absl::StatusCode::kResourceExhausted}, {301, absl::StatusCode::kFailedPrecondition},
  };
  for (const Row& row : rows) {
    absl::Status s = HttpStatusToStatus(row.http, "call", "");
    EXPECT_EQ(s.code(), row.code) << row.http << ": " << s;
    EXPECT_TRUE(Contains(s, absl::StrCat("HTTP ", row.http))) << s;
  }
}

TEST(HttpErrorTest, ExactErrnoTravelsAsPayload) {
  EXPECT_EQ(ToErrno(HttpStatusToStatus(413, "upload 'big.mov'", "")), EFBIG);
  EXPECT_EQ(ToErrno(HttpStatusToStatus(507, "upload 'big.mov'", "")), ENOSPC);
  EXPECT_TRUE(Contains(HttpStatusToStatus(413, "upload", ""), "client_max_body_size"));
}

TEST(HttpErrorTest, CurlTable) {
  struct Row {
    CURLcode curl;
    absl::StatusCode code;
  } rows[] = {
      {CURLE_COULDNT_CONNECT, absl::StatusCode::kUnavailable},
      {CURLE_COULDNT_RESOLVE_HOST, absl::StatusCode::kUnavailable},
      {CURLE_OPERATION_TIMEDOUT, absl::StatusCode::kDeadlineExceeded},
      {CURLE_RECV_ERROR, absl::StatusCode::kUnavailable},
      {CURLE_GOT_NOTHING, absl::StatusCode::kUnavailable},
      {CURLE_PARTIAL_FILE, absl::StatusCode::kDataLoss},
      {CURLE_WRITE_ERROR, absl::StatusCode::kCancelled},
      {CURLE_PEER_FAILED_VERIFICATION, absl::StatusCode::kFailedPrecondition},
      {CURLE_URL_MALFORMAT, absl::StatusCode::kInvalidArgument},
      {CURLE_FTP_WEIRD_PASV_REPLY, absl::StatusCode::kInternal},  // no row: internal
  };
  for (const Row& row : rows) {
    absl::Status s = CurlCodeToStatus(row.curl, "list albums", "");
    EXPECT_EQ(s.code(), row.code) << row.curl << ": " << s;
    EXPECT_TRUE(Contains(s, "list albums")) << s;
  }
  EXPECT_TRUE(CurlCodeToStatus(CURLE_OK, "x", "").ok());
}

TEST(HttpErrorTest, CurlDetailAndAdviceAreInTheMessage) {
  absl::Status s = CurlCodeToStatus(CURLE_COULDNT_CONNECT, "ping (GET http://h:1/api/server/ping)",
                                    "Failed to connect to h port 1: Connection refused");
  EXPECT_TRUE(Contains(s, "http://h:1/api")) << s;
  EXPECT_TRUE(Contains(s, "Connection refused")) << s;
  EXPECT_TRUE(Contains(CurlCodeToStatus(CURLE_PEER_FAILED_VERIFICATION, "x", ""), "ca_file"));
}

TEST(HttpErrorTest, Transience) {
  EXPECT_TRUE(IsTransient(HttpStatusToStatus(503, "x", "")));
  EXPECT_TRUE(IsTransient(HttpStatusToStatus(429, "x", "")));
  EXPECT_TRUE(IsTransient(CurlCodeToStatus(CURLE_OPERATION_TIMEDOUT, "x", "")));
  EXPECT_TRUE(IsTransient(CurlCodeToStatus(CURLE_COULDNT_CONNECT, "x", "")));
  EXPECT_FALSE(IsTransient(HttpStatusToStatus(400, "x", "")));
  EXPECT_FALSE(IsTransient(HttpStatusToStatus(401, "x", "")));
  EXPECT_FALSE(IsTransient(CurlCodeToStatus(CURLE_PARTIAL_FILE, "x", "")));
  EXPECT_TRUE(NeverReachedServer(CURLE_COULDNT_CONNECT));
  EXPECT_TRUE(NeverReachedServer(CURLE_COULDNT_RESOLVE_HOST));
  EXPECT_FALSE(NeverReachedServer(CURLE_RECV_ERROR));
  EXPECT_FALSE(NeverReachedServer(CURLE_OPERATION_TIMEDOUT));
}

}  // namespace
}  // namespace immichfs::immich
