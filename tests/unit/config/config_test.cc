// config: Validate() loads the API key so that only the key can reach the
// x-api-key header, and refuses credentials in the server URL.
#include "config/config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace immichfs::config {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/config_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    unsetenv("IMMICH_API_KEY");
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
    unsetenv("IMMICH_API_KEY");
  }
  std::string Write(const std::string& name, const std::string& content, mode_t mode = 0600) {
    std::string path = dir_ + "/" + name;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    close(fd);
    chmod(path.c_str(), mode);
    return path;
  }
  // Validate() on a config with the given URL and key file; -> errors.
  std::vector<std::string> Run(const std::string& url, const std::string& key_file,
                               Config* out = nullptr) {
    Config c;
    c.server_url = url;
    c.mountpoint = dir_;
    c.api_key_file = key_file;
    c.cache_dir = dir_ + "/cache";
    std::vector<std::string> errors;
    Validate(&c, &errors);
    if (out) *out = c;
    return errors;
  }
  std::string dir_;
};

TEST_F(ConfigTest, KeyFileWithOneNewlineIsTheKey) {
  Config c;
  EXPECT_TRUE(Run("https://h", Write("k", "abc-123\n"), &c).empty());
  EXPECT_EQ(c.api_key, "abc-123");
}

TEST_F(ConfigTest, LineBreaksAndControlCharactersInTheKeyAreRefused) {
  for (const std::string bad : {"abc\r\nx-evil: 1\n", "abc\nx-evil: 1", "ab c\n", "abc\x01\n",
                                "ab\rc"}) {
    std::string path = Write("k", bad);
    std::vector<std::string> errors = Run("https://h", path);
    ASSERT_EQ(errors.size(), 1u) << bad;
    EXPECT_TRUE(absl::StrContains(errors[0], path)) << errors[0];
    EXPECT_TRUE(absl::StrContains(errors[0], "api_key_file")) << errors[0];
  }
}

TEST_F(ConfigTest, EnvironmentKeyWithALineBreakIsRefused) {
  setenv("IMMICH_API_KEY", "abc\r\nx-evil: 1", 1);
  std::vector<std::string> errors = Run("https://h", "");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(absl::StrContains(errors[0], "IMMICH_API_KEY")) << errors[0];
  setenv("IMMICH_API_KEY", "good-key", 1);
  Config c;
  EXPECT_TRUE(Run("https://h", "", &c).empty());
  EXPECT_EQ(c.api_key, "good-key");
}

TEST_F(ConfigTest, SymlinkedKeyFileIsRead) {
  std::string real = Write("real", "abc\n");
  std::string link = dir_ + "/link";
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  Config c;
  EXPECT_TRUE(Run("https://h", link, &c).empty());
  EXPECT_EQ(c.api_key, "abc");
}

TEST_F(ConfigTest, AFifoIsRefusedWithoutHanging) {
  std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::vector<std::string> errors = Run("https://h", fifo);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(absl::StrContains(errors[0], "not a regular file")) << errors[0];
}

TEST_F(ConfigTest, CredentialsInTheUrlAreRefusedWithoutEchoingThem) {
  std::vector<std::string> errors = Run("https://user:s3cret@h/", Write("k", "abc\n"));
  ASSERT_EQ(errors.size(), 1u) << absl::StrJoin(errors, "; ");
  EXPECT_TRUE(absl::StrContains(errors[0], "user:password@")) << errors[0];
  EXPECT_FALSE(absl::StrContains(errors[0], "s3cret")) << errors[0];
  EXPECT_TRUE(Run("https://h/p@th", Write("k", "abc\n")).empty());
}

}  // namespace
}  // namespace immichfs::config
