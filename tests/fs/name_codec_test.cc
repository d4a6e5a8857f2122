#include "fs/name_codec.h"

#include <string>

#include "gtest/gtest.h"

namespace immichfs::fs {
namespace {

const std::string kSlashShown = "\xEF\xBC\x8F";  // U+FF0F
const std::string kNulShown = "\xE2\x90\x80";    // U+2400
const std::string kQuote = "\xE2\x80\x9B";       // U+201B

TEST(NameCodecTest, PlainNamesAreUnchanged) {
  EXPECT_EQ(EncodeName("IMG_0001.jpg"), "IMG_0001.jpg");
  EXPECT_EQ(DecodeName("IMG_0001.jpg"), "IMG_0001.jpg");
  EXPECT_EQ(EncodeName("Été 2024 ✈"), "Été 2024 ✈");
}

TEST(NameCodecTest, SlashAndNulAreReplaced) {
  EXPECT_EQ(EncodeName("Trip 1/2"), "Trip 1" + kSlashShown + "2");
  EXPECT_EQ(DecodeName("Trip 1" + kSlashShown + "2"), "Trip 1/2");
  std::string with_nul("a\0b", 3);
  EXPECT_EQ(EncodeName(with_nul), "a" + kNulShown + "b");
  EXPECT_EQ(DecodeName("a" + kNulShown + "b"), with_nul);
}

TEST(NameCodecTest, ReplacementCharactersInTheOriginalAreQuoted) {
  const std::string name = "a" + kSlashShown + "b/c" + kQuote + "d";
  const std::string shown = EncodeName(name);
  EXPECT_EQ(shown, "a" + kQuote + kSlashShown + "b" + kSlashShown + "c" + kQuote + kQuote + "d");
  EXPECT_EQ(shown.find('/'), std::string::npos);
  EXPECT_EQ(DecodeName(shown), name);
}

TEST(NameCodecTest, DotNamesAreQuoted) {
  EXPECT_EQ(EncodeName("."), kQuote + ".");
  EXPECT_EQ(EncodeName(".."), kQuote + "..");
  EXPECT_EQ(DecodeName(EncodeName("..")), "..");
  EXPECT_EQ(EncodeName("...") , "...");
}

TEST(NameCodecTest, RoundTripsAwkwardNames) {
  for (const std::string& name :
       {std::string("/"), std::string("//"), kQuote, kQuote + kQuote, kSlashShown + "/",
        std::string("x\0/", 3), std::string("\xE2\x80"), std::string("end") + kQuote}) {
    EXPECT_EQ(DecodeName(EncodeName(name)), name) << name;
  }
}

TEST(NameCodecTest, WithTagGoesBeforeTheExtension) {
  EXPECT_EQ(WithTag("IMG_1.jpg", "3f2a9c01"), "IMG_1 (3f2a9c01).jpg");
  EXPECT_EQ(WithTag("README", "3f2a9c01"), "README (3f2a9c01)");
  EXPECT_EQ(WithTag(".hidden", "3f2a9c01"), ".hidden (3f2a9c01)");
  EXPECT_EQ(WithTag("a.tar.gz", "3f2a9c01"), "a.tar (3f2a9c01).gz");
}

TEST(NameCodecTest, FitNameMaxShortensTheStemAndKeepsTheExtension) {
  const std::string stem(300, 'x');
  const std::string fitted = FitNameMax(stem + ".jpg", "3f2a9c01");
  EXPECT_EQ(fitted.size(), kNameMax);
  EXPECT_TRUE(fitted.ends_with(" (3f2a9c01).jpg")) << fitted;
  EXPECT_EQ(FitNameMax("short.jpg", ""), "short.jpg");
}

TEST(NameCodecTest, FitNameMaxNeverCutsAUtf8Sequence) {
  std::string stem;
  for (int i = 0; i < 120; ++i) stem += "é";  // 2 bytes each: 240 bytes
  const std::string fitted = FitNameMax(stem + ".jpg", "3f2a9c01");
  ASSERT_LE(fitted.size(), kNameMax);
  const std::string kept = fitted.substr(0, fitted.find(" ("));
  EXPECT_EQ(kept.size() % 2, 0u);  // whole "é"s only
  EXPECT_TRUE(fitted.ends_with(" (3f2a9c01).jpg"));
}

TEST(NameCodecTest, LowerExtension) {
  EXPECT_EQ(LowerExtension("a.b.JPG"), ".jpg");
  EXPECT_EQ(LowerExtension("noext"), "");
  EXPECT_EQ(LowerExtension(".bashrc"), "");
}

}  // namespace
}  // namespace immichfs::fs
