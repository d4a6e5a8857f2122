// common/log: level parsing and filtering.
#include "common/log.h"

#include "gtest/gtest.h"

namespace immichfs {
namespace {

TEST(LogTest, ParsesLevels) {
  LogLevel level = LogLevel::kInfo;
  ASSERT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
  ASSERT_TRUE(ParseLogLevel("warning", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
  ASSERT_TRUE(ParseLogLevel("warn", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
  ASSERT_TRUE(ParseLogLevel("info", &level));
  EXPECT_EQ(level, LogLevel::kInfo);
  ASSERT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
}

TEST(LogTest, RejectsUnknownLevelsAndLeavesTheOutputAlone) {
  LogLevel level = LogLevel::kWarning;
  for (const char* bad : {"", "verbose", "DEBUGGING", "3", "info "}) {
    EXPECT_FALSE(ParseLogLevel(bad, &level)) << bad;
    EXPECT_EQ(level, LogLevel::kWarning) << bad;
  }
}

TEST(LogTest, FiltersByLevel) {
  const LogLevel saved = GetLogLevel();
  SetLogLevel(LogLevel::kWarning);
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  EXPECT_TRUE(LogEnabled(LogLevel::kWarning));
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  SetLogLevel(LogLevel::kDebug);
  EXPECT_TRUE(LogEnabled(LogLevel::kDebug));
  SetLogLevel(saved);
}

}  // namespace
}  // namespace immichfs
