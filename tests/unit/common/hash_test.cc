// common/hash: SHA-1 against FIPS 180 test vectors, the hex and base64 forms
// Immich uses, and xxHash64's reference value.
#include "common/hash.h"

#include <string>

#include "gtest/gtest.h"

namespace immichfs {
namespace {

std::string Sha1Hex(const std::string& data) { return ToHex(Sha1Of(data)); }

TEST(HashTest, Sha1KnownVectors) {
  EXPECT_EQ(Sha1Hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(Sha1Hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Sha1Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(Sha1Hex(std::string(1000000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(HashTest, Sha1IsIncrementalAndResetsAfterFinal) {
  const std::string text = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  Sha1 sha;
  for (char c : text) sha.Update(&c, 1);
  EXPECT_EQ(ToHex(sha.Final()), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  sha.Update("abc", 3);  // Final() left it ready for new data
  EXPECT_EQ(ToHex(sha.Final()), "a9993e364706816aba3e25717850c26c9cd0d89d");
  sha.Update("junk", 4);
  sha.Reset();
  EXPECT_EQ(ToHex(sha.Final()), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(HashTest, Base64) {
  Sha1 sha;
  sha.Update("abc", 3);
  EXPECT_EQ(ToBase64(sha.Final()), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
  const uint8_t bytes[] = {'f', 'o', 'o', 'b', 'a'};
  EXPECT_EQ(ToBase64(bytes, 0), "");
  EXPECT_EQ(ToBase64(bytes, 1), "Zg==");
  EXPECT_EQ(ToBase64(bytes, 3), "Zm9v");
  EXPECT_EQ(ToBase64(bytes, 5), "Zm9vYmE=");
}

TEST(HashTest, ParseSha1AcceptsHexAndBase64) {
  // test1.jpg of the recorded Immich answers: base64 in JSON.
  std::optional<Sha1Digest> b64 = ParseSha1("YOtifPfrVx8HKWU6EW2IsByjZ0g=");
  ASSERT_TRUE(b64.has_value());
  EXPECT_EQ(ToBase64(*b64), "YOtifPfrVx8HKWU6EW2IsByjZ0g=");
  std::optional<Sha1Digest> hex = ParseSha1(ToHex(*b64));
  ASSERT_TRUE(hex.has_value());
  EXPECT_EQ(*hex, *b64);
  std::optional<Sha1Digest> upper = ParseSha1("A9993E364706816ABA3E25717850C26C9CD0D89D");
  ASSERT_TRUE(upper.has_value());
  EXPECT_EQ(ToBase64(*upper), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
}

TEST(HashTest, ParseSha1RejectsAnythingElse) {
  for (const char* bad : {"", "abc", "a9993e364706816aba3e25717850c26c9cd0d89",
                          "a9993e364706816aba3e25717850c26c9cd0d89dd",
                          "g9993e364706816aba3e25717850c26c9cd0d89d",
                          "qZk+NkcGgWq6PiVxeFDCbJzQ2J0", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0A",
                          "qZk+NkcGgWq6PiVxeFDCbJzQ2J==", "qZk+NkcG!Wq6PiVxeFDCbJzQ2J0="}) {
    EXPECT_FALSE(ParseSha1(bad).has_value()) << bad;
  }
}

TEST(HashTest, Xxh64ReferenceValues) {
  EXPECT_EQ(Xxh64("", 0), 0xEF46DB3751D8E999ull);
  EXPECT_NE(Xxh64("a", 1), Xxh64("b", 1));
  EXPECT_NE(Xxh64("a", 1, 0), Xxh64("a", 1, 1));
}

}  // namespace
}  // namespace immichfs
