#include "fs/name_codec.h"

#include <set>
#include <string>
#include <vector>

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

const std::string kEmptyShown = "\xE2\x88\x85";  // U+2205 ∅
const std::string kSpaceShown = "\xE2\x90\xA0";  // U+2420 ␠

// Every name the server may send that is not a valid entry as it is.
std::vector<std::string> HostileNames() {
  return {"", ".", "..", " ", "   ", "/", std::string(1, '\0'), "a\nb.jpg", "tab\there.jpg",
          "del\x7F.jpg", "\x1F", "\r\n", "\xFF.jpg", "bad\xC0\xAF.jpg", "\xED\xA0\x80.jpg",
          "\xF4\x90\x80\x80", "\xE2\x80", kEmptyShown, kSpaceShown, kQuote, kQuote + "FF",
          "\xE2\x90\x8A", " x ", std::string(300, 'a') + ".jpg", std::string(200, '\n'),
          "./..", "a/b", kSlashShown};
}

TEST(NameCodecTest, EmptyNameShowsAsEmptySet) {
  EXPECT_EQ(EncodeName(""), kEmptyShown);
  EXPECT_EQ(DecodeName(kEmptyShown), "");
  // A name that is "∅" in Immich is told apart from the empty one.
  EXPECT_EQ(EncodeName(kEmptyShown), kQuote + kEmptyShown);
  EXPECT_EQ(DecodeName(kQuote + kEmptyShown), kEmptyShown);
  // Inside a longer name ∅ is an ordinary character.
  EXPECT_EQ(EncodeName("a" + kEmptyShown), "a" + kEmptyShown);
}

TEST(NameCodecTest, NamesOfOnlySpacesShowAsSpaceSymbols) {
  EXPECT_EQ(EncodeName(" "), kSpaceShown);
  EXPECT_EQ(EncodeName("   "), kSpaceShown + kSpaceShown + kSpaceShown);
  EXPECT_EQ(DecodeName(kSpaceShown + kSpaceShown), "  ");
  // Spaces around visible characters stay: names already shown do not change.
  EXPECT_EQ(EncodeName(" Trip "), " Trip ");
  EXPECT_EQ(EncodeName("a " + kSpaceShown), "a " + kQuote + kSpaceShown);
}

TEST(NameCodecTest, ControlCharactersShowAsControlPictures) {
  EXPECT_EQ(EncodeName("a\nb.jpg"), "a\xE2\x90\x8A" "b.jpg");   // ␊
  EXPECT_EQ(EncodeName("a\tb"), "a\xE2\x90\x89" "b");           // ␉
  EXPECT_EQ(EncodeName("\x1F"), "\xE2\x90\x9F");                  // ␟
  EXPECT_EQ(EncodeName("x\x7F"), "x\xE2\x90\xA1");                // ␡
  EXPECT_EQ(DecodeName("a\xE2\x90\x8A" "b.jpg"), "a\nb.jpg");
  // A control picture in the Immich name itself is quoted.
  EXPECT_EQ(EncodeName("\xE2\x90\x8A"), kQuote + "\xE2\x90\x8A");
  EXPECT_EQ(DecodeName(kQuote + "\xE2\x90\x8A"), "\xE2\x90\x8A");
}

TEST(NameCodecTest, InvalidUtf8BytesShowAsQuotedHex) {
  EXPECT_EQ(EncodeName("\xFF.jpg"), kQuote + "FF.jpg");
  EXPECT_EQ(EncodeName("\xC0\xAF"), kQuote + "C0" + kQuote + "AF");  // overlong '/'
  EXPECT_EQ(EncodeName("\xED\xA0\x80"), kQuote + "ED" + kQuote + "A0" + kQuote + "80");
  EXPECT_EQ(DecodeName(kQuote + "FF.jpg"), "\xFF.jpg");
  // A quote before the hex digits in Immich's name is quoted itself.
  EXPECT_EQ(EncodeName(kQuote + "FF"), kQuote + kQuote + "FF");
  EXPECT_EQ(DecodeName(kQuote + kQuote + "FF"), kQuote + "FF");
}

TEST(NameCodecTest, EveryHostileNameShowsValidAndDistinct) {
  std::set<std::string> shown;
  for (const std::string& name : HostileNames()) {
    const std::string s = EncodeName(name);
    // Over NAME_MAX the listing shortens and tags it.
    const std::string entry = s.size() > kNameMax ? FitNameMax(s, "3f2a9c01") : s;
    EXPECT_TRUE(IsValidEntryName(entry)) << "'" << name << "' shows as '" << entry << "'";
    EXPECT_EQ(DecodeName(s), name);
    EXPECT_TRUE(IsCanonicalName(s)) << s;
    EXPECT_TRUE(shown.insert(s).second) << "'" << name << "' shows like another name";
  }
}

TEST(NameCodecTest, EveryShortByteStringRoundTripsToADistinctValidName) {
  std::set<std::string> shown;
  size_t count = 0;
  auto check = [&](const std::string& name) {
    const std::string s = EncodeName(name);
    ASSERT_TRUE(IsValidEntryName(s)) << "'" << name << "' -> '" << s << "'";
    ASSERT_EQ(DecodeName(s), name);
    shown.insert(s);
    ++count;
  };
  check("");
  for (int a = 0; a < 256; ++a) {
    check(std::string(1, static_cast<char>(a)));
    for (int b = 0; b < 256; ++b) check({static_cast<char>(a), static_cast<char>(b)});
  }
  EXPECT_EQ(shown.size(), count);
}

TEST(NameCodecTest, OnlyCanonicalSpellingsAreCanonical) {
  for (const std::string& s : {std::string("IMG_1.jpg"), "a" + kSlashShown + "b",
                               std::string("a\xE2\x90\x8A" "b"), kEmptyShown, kSpaceShown,
                               kQuote + ".", kQuote + "FF", std::string(" x ")}) {
    EXPECT_TRUE(IsCanonicalName(s)) << s;
  }
  // Spellings that decode to a name which shows differently.
  for (const std::string& s : {kQuote + "x", kSpaceShown + "x", kQuote + "ff",
                               kQuote + kEmptyShown + "x", kQuote + "/" , std::string("\xFF")}) {
    EXPECT_FALSE(IsCanonicalName(s)) << s;
  }
}

TEST(NameCodecTest, ValidEntryNames) {
  EXPECT_TRUE(IsValidEntryName("a"));
  EXPECT_TRUE(IsValidEntryName(std::string(kNameMax, 'a')));
  for (const std::string& bad : {std::string(), std::string("."), std::string(".."),
                                 std::string("a/b"), std::string("a\0b", 3),
                                 std::string(kNameMax + 1, 'a'), std::string("\xFF"),
                                 std::string("\xC0\xAF"), std::string("\xED\xA0\x80")}) {
    EXPECT_FALSE(IsValidEntryName(bad)) << bad;
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
