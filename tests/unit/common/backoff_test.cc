// common/backoff.h: the retry delays of the HTTP client and the spool.
#include "common/backoff.h"

#include "gtest/gtest.h"

namespace immichfs {
namespace {

TEST(BackoffTest, DoublesFromTheFirstDelay) {
  EXPECT_EQ(ExponentialBackoff(absl::Milliseconds(250), absl::Seconds(10), 0),
            absl::Milliseconds(250));
  EXPECT_EQ(ExponentialBackoff(absl::Milliseconds(250), absl::Seconds(10), 1),
            absl::Milliseconds(500));
  EXPECT_EQ(ExponentialBackoff(absl::Milliseconds(250), absl::Seconds(10), 3),
            absl::Seconds(2));
}

TEST(BackoffTest, StopsAtTheCap) {
  EXPECT_EQ(ExponentialBackoff(absl::Seconds(1), absl::Minutes(5), 8), absl::Seconds(256));
  EXPECT_EQ(ExponentialBackoff(absl::Seconds(1), absl::Minutes(5), 9), absl::Minutes(5));
  EXPECT_EQ(ExponentialBackoff(absl::Seconds(1), absl::Minutes(5), 1 << 30), absl::Minutes(5));
  EXPECT_EQ(ExponentialBackoff(absl::Hours(1), absl::Minutes(5), 0), absl::Minutes(5));
}

TEST(BackoffTest, NoDoublingForZeroOrNegativeCounts) {
  EXPECT_EQ(ExponentialBackoff(absl::Seconds(1), absl::Minutes(5), -1), absl::Seconds(1));
}

}  // namespace
}  // namespace immichfs
