// common/iso_time: the timestamp forms Immich sends and the one it is sent.
#include "common/iso_time.h"

#include "gtest/gtest.h"

namespace immichfs {
namespace {

absl::Time Utc(int y, int mo, int d, int h, int mi, int s) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

TEST(IsoTimeTest, ParsesTheFormsImmichSends) {
  EXPECT_EQ(ParseIsoTime("2024-05-01T10:00:00.000Z"), Utc(2024, 5, 1, 10, 0, 0));
  EXPECT_EQ(ParseIsoTime("2024-05-02T10:00:00+00:00"), Utc(2024, 5, 2, 10, 0, 0));
  EXPECT_EQ(ParseIsoTime("2024-05-02T12:00:00+02:00"), Utc(2024, 5, 2, 10, 0, 0));
  EXPECT_EQ(ParseIsoTime("2026-11-21T23:40:22.597654+00:00"),
            Utc(2026, 11, 21, 23, 40, 22) + absl::Microseconds(597654));
  EXPECT_EQ(ParseIsoTime("2026-11-21T23:40:48.640Z"),
            Utc(2026, 11, 21, 23, 40, 48) + absl::Milliseconds(640));
  // No zone: taken as UTC.
  EXPECT_EQ(ParseIsoTime("2024-05-01T10:00:00"), Utc(2024, 5, 1, 10, 0, 0));
}

TEST(IsoTimeTest, RejectsGarbage) {
  for (const char* bad : {"", "yesterday", "2024-05-01", "2024-13-01T10:00:00Z", "10:00:00Z"}) {
    EXPECT_FALSE(ParseIsoTime(bad).has_value()) << bad;
  }
}

TEST(IsoTimeTest, FormatsUtcWithMillisecondsAndZ) {
  EXPECT_EQ(FormatIsoTime(Utc(2024, 5, 1, 10, 0, 0)), "2024-05-01T10:00:00.000Z");
  EXPECT_EQ(FormatIsoTime(Utc(1999, 12, 31, 23, 59, 59) + absl::Microseconds(123456)),
            "1999-12-31T23:59:59.123Z");
  absl::Time t = Utc(2026, 11, 21, 23, 40, 48) + absl::Milliseconds(640);
  EXPECT_EQ(ParseIsoTime(FormatIsoTime(t)), t);
}

TEST(IsoTimeTest, Timespec) {
  absl::Time t = Utc(2024, 5, 1, 10, 0, 0) + absl::Nanoseconds(5);
  timespec ts = immichfs::ToTimespec(t);
  EXPECT_EQ(ts.tv_sec, absl::ToUnixSeconds(Utc(2024, 5, 1, 10, 0, 0)));
  EXPECT_EQ(ts.tv_nsec, 5);
  EXPECT_EQ(FromTimespec(ts), t);
}

}  // namespace
}  // namespace immichfs
