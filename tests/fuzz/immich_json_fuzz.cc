// Every decoder of a server answer (src/immich/json.h) on the same input: a
// server, a proxy in front of it or a truncated transfer can send any bytes to
// any of them. Each input goes to all decoders, so the recorded real answers
// (tests/data/immich-api-responses/*.json, the seeds) grow coverage in every
// one. A decoder must return a value or an error, never crash, leak or hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "immich/json.h"

namespace json = immichfs::immich::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  (void)json::ParseServerVersion(body);
  (void)json::ParseUser(body);
  (void)json::ParseMediaTypes(body);
  (void)json::ParseStorage(body);
  (void)json::ParseAlbum(body);
  (void)json::ParseAlbumList(body);
  (void)json::ParseAsset(body);
  (void)json::ParseSearchPage(body);
  (void)json::ParseSearchPageInPlace(std::string(body));
  (void)json::ParseBulkCheck(body);
  (void)json::ParseUploadResult(body, 200);
  (void)json::ParseUploadResult(body, 201);
  (void)json::ParseBulkIdResults(body);
  (void)json::ParseErrorMessage(body);
  return 0;
}
