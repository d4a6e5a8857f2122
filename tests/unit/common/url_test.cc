// common/url.h: the scheme check shared by config::Validate and the client.
#include "common/url.h"

#include "gtest/gtest.h"

namespace immichfs {
namespace {

TEST(UrlTest, HttpAndHttpsOnly) {
  EXPECT_TRUE(HasHttpScheme("http://h:2283"));
  EXPECT_TRUE(HasHttpScheme("https://photos.example.com/"));
  for (const char* bad : {"", "example.com", "ftp://h/", "http:/h", " https://h",
                          "HTTPS://h", "httpx://h"}) {
    EXPECT_FALSE(HasHttpScheme(bad)) << bad;
  }
}

}  // namespace
}  // namespace immichfs
