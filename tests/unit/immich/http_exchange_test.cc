// Content-Range parsing of http_exchange.cc (the rest of the range logic
// needs a server: tests/client/http_api_test.cc).
#include "immich/http_exchange.h"

#include "gtest/gtest.h"

namespace immichfs::immich::internal {
namespace {

TEST(HttpExchangeTest, ParsesContentRange) {
  uint64_t first = 0, last = 0, total = 0;
  ASSERT_TRUE(ParseContentRange("bytes 100-199/6498", &first, &last, &total));
  EXPECT_EQ(first, 100u);
  EXPECT_EQ(last, 199u);
  EXPECT_EQ(total, 6498u);
  ASSERT_TRUE(ParseContentRange(" bytes 0-0/1 ", &first, &last, &total));
  EXPECT_EQ(last, 0u);
  ASSERT_TRUE(ParseContentRange("bytes 0-5368709119/5368709120", &first, &last, &total));
  EXPECT_EQ(total, 5368709120u);  // > 4 GiB
}

TEST(HttpExchangeTest, RejectsMalformedContentRange) {
  uint64_t first = 0, last = 0, total = 0;
  for (const char* bad : {"", "bytes */5306", "bytes 100-199/*", "bytes 200-100/300",
                          "bytes 0-300/300", "items 0-1/2", "bytes 1-2", "bytes x-2/3"}) {
    EXPECT_FALSE(ParseContentRange(bad, &first, &last, &total)) << bad;
  }
}

}  // namespace
}  // namespace immichfs::immich::internal
