// config/mount_name: the URL in fsname= cannot add mount options, and a URL
// with credentials is recognised.
#include "config/mount_name.h"

#include <string>

#include "gtest/gtest.h"

namespace immichfs::config {
namespace {

TEST(MountNameTest, PlainUrlsStayReadable) {
  EXPECT_EQ(MountSourceName("https://photos.example.com"), "immichfs#https://photos.example.com");
  EXPECT_EQ(MountSourceName("http://127.0.0.1:2283/immich/"),
            "immichfs#http://127.0.0.1:2283/immich/");
  EXPECT_EQ(MountSourceName("http://[::1]:2283"), "immichfs#http://[::1]:2283");
}

TEST(MountNameTest, CommasAndEscapesCannotAddOptions) {
  EXPECT_EQ(MountSourceName("http://h/a,allow_other"), "immichfs#http://h/a%2Callow_other");
  EXPECT_EQ(MountSourceName("http://h/a\\,b c\n"), "immichfs#http://h/a%5C%2Cb%20c%0A");
  EXPECT_EQ(MountSourceName("http://h/?x=1,allow_other#f"),
            "immichfs#http://h/%3Fx=1%2Callow_other%23f");
  std::string all;
  for (int c = 1; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (char c : MountSourceName(all)) {
    EXPECT_TRUE(c > ' ' && c < 0x7f && c != ',' && c != '\\' && c != '"' && c != '\'') << int(c);
  }
}

TEST(MountNameTest, FindsCredentialsInTheAuthorityOnly) {
  EXPECT_TRUE(UrlHasUserinfo("http://user:pass@127.0.0.1:2283/"));
  EXPECT_TRUE(UrlHasUserinfo("https://user@h"));
  EXPECT_TRUE(UrlHasUserinfo("https://:p@h/x"));
  EXPECT_FALSE(UrlHasUserinfo("https://h/a@b"));
  EXPECT_FALSE(UrlHasUserinfo("https://h?x=a@b"));
  EXPECT_FALSE(UrlHasUserinfo("https://h#a@b"));
  EXPECT_FALSE(UrlHasUserinfo("https://h"));
  EXPECT_FALSE(UrlHasUserinfo("not a url@all"));
}

}  // namespace
}  // namespace immichfs::config
