// json.cc against answers a broken or hostile server could send: nesting
// that would overflow a recursive parser's stack, numbers no int64 holds,
// and fields of the wrong type. Each must be a clear error (or, for counts,
// a documented clamp), never a crash or a silently wrong value.
#include <pthread.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "immich/json.h"

namespace immichfs::immich::json {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Runs `fn` on a thread with a 256 KiB stack: a recursive descent through a
// million levels needs far more, so the old parser crashed here.
void OnSmallStack(const std::function<void()>& fn) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 256 << 10), 0);
  pthread_t thread;
  auto run = [](void* arg) -> void* {
    (*static_cast<const std::function<void()>*>(arg))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, run, const_cast<std::function<void()>*>(&fn)), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

std::string Nested(size_t depth, const std::string& open = "[", const std::string& close = "]") {
  std::string s;
  s.reserve(depth * (open.size() + close.size()));
  for (size_t i = 0; i < depth; ++i) s.append(open);
  for (size_t i = 0; i < depth; ++i) s.append(close);
  return s;
}

std::string AlbumWith(absl::string_view field_json) {
  return absl::StrCat(R"([{"id":"a1","albumName":"A",)", field_json, "}]");
}

std::string PageWith(absl::string_view asset_fields, absl::string_view next = "null") {
  return absl::StrCat(R"({"assets":{"items":[{"id":"x1","originalFileName":"a.jpg",)",
                      asset_fields, R"(}],"nextPage":)", next, "}}");
}

TEST(JsonHostileTest, MillionLevelsOfNestingOnASmallStackAreAnError) {
  const std::string arrays = Nested(1000000);
  const std::string objects = Nested(1000000, R"({"a":)", "}");
  absl::Status list, page, page_objects;
  std::string message = "unset";
  OnSmallStack([&] {
    list = ParseAlbumList(arrays).status();
    page = ParseSearchPageInPlace(std::string(arrays)).status();
    page_objects = ParseSearchPage(objects).status();
    message = ParseErrorMessage(arrays);  // error bodies are parsed too
  });
  for (const absl::Status& s : {list, page, page_objects}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "nested deeper than 64 levels")) << s;
  }
  EXPECT_EQ(message, "");
}

TEST(JsonHostileTest, NestingUpToTheLimitIsFine) {
  // An unknown field nested 60 deep inside an album (3 levels): ignored.
  std::string ok = AlbumWith(absl::StrCat(R"("x":)", Nested(60)));
  absl::StatusOr<std::vector<Album>> albums = ParseAlbumList(ok);
  ASSERT_TRUE(albums.ok()) << albums.status();
  EXPECT_EQ(albums->at(0).id, "a1");
  EXPECT_FALSE(ParseAlbumList(AlbumWith(absl::StrCat(R"("x":)", Nested(63)))).ok());
}

TEST(JsonHostileTest, HugeAssetCountIsClamped) {
  for (const char* big : {"9223372036854775808", "18446744073709551615", "1e300",
                          R"("99999999999999999999")"}) {
    absl::StatusOr<std::vector<Album>> a = ParseAlbumList(AlbumWith(absl::StrCat(
        R"("assetCount":)", big)));
    ASSERT_TRUE(a.ok()) << big << ": " << a.status();
    EXPECT_EQ(a->at(0).asset_count, kInt64Max) << big;
  }
  absl::StatusOr<std::vector<Album>> a = ParseAlbumList(AlbumWith(R"("assetCount":"12")"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->at(0).asset_count, 12);
}

TEST(JsonHostileTest, BadAssetCountIsAnErrorNamingTheField) {
  for (const char* bad : {"-1", "1.5", R"("many")", "true", "{}", "[]", "-1e300"}) {
    absl::Status s = ParseAlbumList(AlbumWith(absl::StrCat(R"("assetCount":)", bad))).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << bad;
    EXPECT_TRUE(absl::StrContains(s.message(), "album #0 field 'assetCount'")) << s;
  }
}

TEST(JsonHostileTest, SizeBeyondInt64IsAnError) {
  for (const char* bad : {"9223372036854775808", "1e19", "-5", "2.5", R"("big")", "[1]"}) {
    absl::Status s =
        ParseSearchPage(PageWith(absl::StrCat(R"("exifInfo":{"fileSizeInByte":)", bad, "}")))
            .status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << bad;
    EXPECT_TRUE(absl::StrContains(s.message(), "asset #0 exifInfo field 'fileSizeInByte'")) << s;
  }
  absl::StatusOr<AssetPage> max =
      ParseSearchPage(PageWith(R"("exifInfo":{"fileSizeInByte":9223372036854775807})"));
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ(max->assets[0].size, kInt64Max);
  absl::StatusOr<AssetPage> text =
      ParseSearchPage(PageWith(R"("exifInfo":{"fileSizeInByte":"7"})"));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->assets[0].size, 7);
  absl::StatusOr<AssetPage> unset =
      ParseSearchPage(PageWith(R"("exifInfo":{"fileSizeInByte":null})"));
  ASSERT_TRUE(unset.ok());
  EXPECT_EQ(unset->assets[0].size, -1);
}

TEST(JsonHostileTest, NumbersNoDoubleHoldsAreNotJson) {
  for (const char* bad : {"1e400", "-1e400", "NaN", "Infinity"}) {
    absl::Status s =
        ParseSearchPage(PageWith(absl::StrCat(R"("exifInfo":{"fileSizeInByte":)", bad, "}")))
            .status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << bad;
    EXPECT_TRUE(absl::StrContains(s.message(), "not JSON")) << s;
  }
}

TEST(JsonHostileTest, BadNextPageIsAnErrorNotTheLastPage) {
  for (const char* bad : {R"("two")", "0", "-3", "4294967296", "2.5", "{}"}) {
    absl::Status s = ParseSearchPage(PageWith(R"("type":"IMAGE")", bad)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << bad;
    EXPECT_TRUE(absl::StrContains(s.message(), "field 'nextPage'")) << s;
  }
  absl::StatusOr<AssetPage> p = ParseSearchPage(PageWith(R"("type":"IMAGE")", "2147483647"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->next_page, 2147483647);
}

TEST(JsonHostileTest, WrongTypesAreErrorsNamingTheField) {
  struct Case {
    std::string body;
    const char* what;
  };
  const Case cases[] = {
      {PageWith(R"("originalFileName2":1,"isTrashed":"yes")"), "field 'isTrashed'"},
      {PageWith(R"("exifInfo":[1,2])"), "field 'exifInfo'"},
      {PageWith(R"("visibility":7)"), "field 'visibility'"},
      {PageWith(R"("fileModifiedAt":12345)"), "field 'fileModifiedAt'"},
      {R"({"assets":{"items":{"id":"x"}}})", "field 'items'"},
      {R"({"assets":[]})", "field 'assets'"},
      {R"({"assets":{"items":[7]}})", "asset #0 is a number, not an object"},
  };
  for (const Case& c : cases) {
    absl::Status s = ParseSearchPage(c.body).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << c.body;
    EXPECT_TRUE(absl::StrContains(s.message(), c.what)) << s;
  }
  absl::Status album = ParseAlbumList(AlbumWith(R"("albumUsers":{"role":"owner"})")).status();
  EXPECT_TRUE(absl::StrContains(album.message(), "field 'albumUsers'")) << album;
  absl::Status name = ParseAlbum(R"({"id":"a","albumName":["x"]})").status();
  EXPECT_TRUE(absl::StrContains(name.message(), "field 'albumName'")) << name;
}

TEST(JsonHostileTest, OtherNumbersAreRangeChecked) {
  EXPECT_FALSE(ParseServerVersion(R"({"major":1e300,"minor":0,"patch":0})").ok());
  EXPECT_FALSE(ParseServerVersion(R"({"major":3,"minor":4294967296,"patch":0})").ok());
  EXPECT_FALSE(ParseStorage(R"({"diskSizeRaw":18446744073709551615})").ok());
  EXPECT_FALSE(ParseStorage(R"({"diskAvailableRaw":-1})").ok());
  absl::StatusOr<Storage> s = ParseStorage(R"({"diskSizeRaw":9223372036854775807})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->size_bytes, kInt64Max);
}

}  // namespace
}  // namespace immichfs::immich::json
