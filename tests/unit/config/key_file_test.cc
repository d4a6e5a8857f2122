// config/key_file: the API key file is opened once, checked on its
// descriptor and must hold the key alone.
#include "config/key_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace immichfs::config {
namespace {

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/key_file_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  std::string Write(const std::string& content, mode_t mode = 0600) {
    std::string path = dir_ + "/key";
    unlink(path.c_str());
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    close(fd);
    chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(KeyFileTest, DropsOneLineEndOnly) {
  std::vector<std::string> warnings;
  for (const std::string ok : {"k3y.+/=_~-\n", "k3y.+/=_~-", "k3y.+/=_~-\r\n"}) {
    absl::StatusOr<std::string> key = ReadApiKeyFile(Write(ok), &warnings);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(*key, "k3y.+/=_~-");
  }
  EXPECT_TRUE(warnings.empty());
}

TEST_F(KeyFileTest, RefusesEverythingButTheKey) {
  std::vector<std::string> warnings;
  for (const std::string& bad :
       {std::string("k\r\nx-injected: 1\n"), std::string("k\nk\n"), std::string("k k\n"),
        std::string("k\tk\n"), std::string("k\rk"), std::string("k\x7f"),
        std::string("k\xc3\xa9"), std::string("k\0k", 3), std::string(""), std::string("\n"),
        std::string(5000, 'k')}) {
    std::string path = Write(bad);
    absl::StatusOr<std::string> key = ReadApiKeyFile(path, &warnings);
    ASSERT_FALSE(key.ok()) << "accepted: " << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(key.status()));
    EXPECT_TRUE(absl::StrContains(key.status().message(), path)) << key.status();
  }
}

TEST_F(KeyFileTest, SaysWhatIsWrong) {
  std::vector<std::string> warnings;
  absl::StatusOr<std::string> key = ReadApiKeyFile(Write("k\r\nx: 1"), &warnings);
  EXPECT_TRUE(absl::StrContains(key.status().message(), "line break")) << key.status();
  key = ReadApiKeyFile(Write(""), &warnings);
  EXPECT_TRUE(absl::StrContains(key.status().message(), "is empty")) << key.status();
  key = ReadApiKeyFile(dir_ + "/missing", &warnings);
  EXPECT_TRUE(absl::StrContains(key.status().message(), "No such file")) << key.status();
  key = ReadApiKeyFile(dir_, &warnings);
  EXPECT_TRUE(absl::StrContains(key.status().message(), "not a regular file")) << key.status();
}

TEST_F(KeyFileTest, WarnsWhenOthersCanReadIt) {
  std::vector<std::string> warnings;
  std::string path = Write("k\n", 0644);
  absl::StatusOr<std::string> key = ReadApiKeyFile(path, &warnings);
  ASSERT_TRUE(key.ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(absl::StrContains(warnings[0], "readable by others (mode 644)")) << warnings[0];
}

TEST_F(KeyFileTest, WarnsWhenSomeoneElseOwnsIt) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  std::vector<std::string> warnings;
  std::string path = Write("k\n");
  ASSERT_EQ(chown(path.c_str(), 12345, 12345), 0);
  absl::StatusOr<std::string> key = ReadApiKeyFile(path, &warnings);
  ASSERT_TRUE(key.ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(absl::StrContains(warnings[0], "uid 12345")) << warnings[0];
}

TEST_F(KeyFileTest, BlanksAroundTheKeyAreIgnored) {
  // As before key_file.cc: editors and `echo` leave them; they never reach a header.
  std::vector<std::string> warnings;
  for (const std::string ok : {"k\n\n", "k \n", "k\t\n", "k\r", " k\n", "\tk\r\n\r\n"}) {
    absl::StatusOr<std::string> key = ReadApiKeyFile(Write(ok), &warnings);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(*key, "k");
  }
}

TEST_F(KeyFileTest, FollowsASymlinkAndChecksWhatItReads) {
  // Kubernetes secrets and many setups are symlinks; the mode and owner
  // checked are those of the file the descriptor reached.
  std::vector<std::string> warnings;
  std::string real = Write("k\n", 0644);
  std::string link = dir_ + "/link";
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  absl::StatusOr<std::string> key = ReadApiKeyFile(link, &warnings);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "k");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(absl::StrContains(warnings[0], "readable by others (mode 644)")) << warnings[0];
}

TEST_F(KeyFileTest, CheckApiKeyNamesTheSource) {
  EXPECT_TRUE(CheckApiKey("abc", "$IMMICH_API_KEY").ok());
  absl::Status s = CheckApiKey("a\nb", "$IMMICH_API_KEY");
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_TRUE(absl::StrContains(s.message(), "$IMMICH_API_KEY")) << s;
  EXPECT_FALSE(CheckApiKey("", "$IMMICH_API_KEY").ok());
}

}  // namespace
}  // namespace immichfs::config
