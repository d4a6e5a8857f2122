// The compact per-asset types: PackedId, PackedSum, StringPool, ChunkedVector,
// AssetTable. Each must give back exactly what it was given.
#include <set>
#include <string>
#include <vector>

#include "fs/asset_table.h"
#include "fs/chunked_vector.h"
#include "fs/packed_id.h"
#include "fs/string_pool.h"
#include "gtest/gtest.h"

namespace immichfs::fs {
namespace {

constexpr char kUuid[] = "3f2a9c01-7b1e-4c2d-9e8f-0123456789ab";

TEST(PackedIdTest, RoundTripsEveryForm) {
  for (const std::string& id :
       {std::string(kUuid), std::string("00000000-0000-0000-0000-000000000000"),
        std::string("ffffffff-ffff-ffff-ffff-ffffffffffff"),
        std::string("3F2A9C01-7B1E-4C2D-9E8F-0123456789AB"),  // upper case: interned
        std::string("3f2a9c01-7b1e-4c2d-9e8f-0123456789a"),   // 35 chars
        std::string("3f2a9c01+7b1e-4c2d-9e8f-0123456789ab"),  // no dash
        std::string(""), std::string("0"), std::string("7"), std::string("007"),
        std::string("18446744073709551615"), std::string("99999999999999999999"),
        std::string("id-1"), std::string("failed/IMG 1.jpg"), std::string("a\0b", 3)}) {
    EXPECT_EQ(PackedId::Of(id).ToString(), id) << id;
  }
}

TEST(PackedIdTest, EqualityAndHashFollowTheString) {
  EXPECT_EQ(PackedId::Of(kUuid), PackedId::Of(std::string(kUuid)));
  EXPECT_NE(PackedId::Of(kUuid), PackedId::Of("3f2a9c01-7b1e-4c2d-9e8f-0123456789ac"));
  EXPECT_EQ(PackedId::Of("x"), PackedId::Of("x"));
  EXPECT_NE(PackedId::Of("x"), PackedId::Of("y"));
  EXPECT_NE(PackedId::Of("7"), PackedId::Of("07"));
  EXPECT_TRUE(PackedId().empty());
  EXPECT_TRUE(PackedId::Of("").empty());
  EXPECT_EQ(absl::Hash<PackedId>()(PackedId::Of("id-1")), absl::Hash<PackedId>()(PackedId::Of("id-1")));
}

TEST(PackedIdTest, CompareIsTheStringOrder) {
  std::vector<std::string> ids = {kUuid,
                                  "3f2a9c01-7b1e-4c2d-9e8f-0123456789ac",
                                  "a0000000-0000-0000-0000-000000000000",
                                  "09999999-9999-9999-9999-999999999999",
                                  "10",
                                  "9",
                                  "id-1",
                                  ""};
  for (const std::string& a : ids) {
    for (const std::string& b : ids) {
      int want = a.compare(b);
      int got = PackedId::Compare(PackedId::Of(a), PackedId::Of(b));
      EXPECT_EQ(want < 0, got < 0) << a << " vs " << b;
      EXPECT_EQ(want == 0, got == 0) << a << " vs " << b;
    }
  }
}

TEST(PackedSumTest, RoundTripsSha1AndAnythingElse) {
  for (const std::string& sum : {std::string("qvTGHdzF6KLavt4PO0gs2a6pQ00="),  // sha1("hello")
                                 std::string("2jmj7l5rSw0yVb/vlWAYkK/YBwk="),  // sha1("")
                                 std::string(""), std::string("c1"),
                                 std::string("qvTGHdzF6KLavt4PO0gs2a6pQ00"),    // no padding
                                 std::string("qvTGHdzF6KLavt4PO0gs2a6pQ01=")}) {  // non-zero pad bits
    EXPECT_EQ(PackedSum::Of(sum).ToString(), sum) << sum;
  }
  EXPECT_EQ(PackedSum::Of("qvTGHdzF6KLavt4PO0gs2a6pQ00="), PackedSum::Of("qvTGHdzF6KLavt4PO0gs2a6pQ00="));
}

TEST(StringPoolTest, GivesBackWhatItStores) {
  StringPool pool;
  std::vector<std::pair<StringPool::Ref, std::string>> stored;
  for (int i = 0; i < 50000; ++i) {
    std::string s = "IMG_" + std::to_string(i) + std::string(i % 300, 'x') + ".jpg";
    stored.emplace_back(pool.Add(s), s);
  }
  stored.emplace_back(pool.Add(""), "");
  std::string huge(300000, 'h');  // more than a block
  stored.emplace_back(pool.Add(huge), huge);
  stored.emplace_back(pool.Add("after"), "after");
  for (const auto& [ref, s] : stored) EXPECT_EQ(pool.Get(ref), s);
  EXPECT_EQ(StringPool::Cost("abc"), 4u);
  EXPECT_EQ(StringPool::Cost(std::string(200, 'a')), 202u);
}

TEST(ChunkedVectorTest, ElementsStayPut) {
  ChunkedVector<int, 4> v;
  int& first = v.push_back(1);
  for (int i = 2; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(&first, &v[0]);
  ASSERT_EQ(v.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(v[i], i + 1);
}

AssetRec Rec(const std::string& id, const std::string& name) {
  AssetRec r;
  r.id = id;
  r.name = name;
  r.checksum = "qvTGHdzF6KLavt4PO0gs2a6pQ00=";
  r.size = 1234;
  r.mtime = absl::FromUnixMillis(1'700'000'000'123);
  r.ctime = absl::FromUnixMicros(1'700'000'001'000'001);
  r.uploaded = absl::InfinitePast();
  return r;
}

TEST(AssetTableTest, PutFindGetAndUpdateInPlace) {
  AssetTable t;
  AssetTable::Index a = t.Put(Rec(kUuid, "IMG_1.jpg"));
  AssetTable::Index b = t.Put(Rec("id-2", "a name longer than fifteen bytes.jpg"));
  EXPECT_NE(a, b);
  EXPECT_EQ(t.Find(PackedId::Of(kUuid)), a);
  EXPECT_EQ(t.Find(PackedId::Of("id-2")), b);
  EXPECT_FALSE(t.Find(PackedId::Of("id-3")).has_value());
  AssetRec got = t.Get(a);
  AssetRec want = Rec(kUuid, "IMG_1.jpg");
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.checksum, want.checksum);
  EXPECT_EQ(got.size, want.size);
  EXPECT_EQ(got.mtime, want.mtime);
  EXPECT_EQ(got.ctime, want.ctime);
  EXPECT_EQ(got.uploaded, absl::InfinitePast());
  EXPECT_EQ(t.Attrs(a).size, 1234);

  AssetRec changed = Rec(kUuid, "IMG_1.jpg");
  changed.size = 99;
  std::optional<std::string> old_name;
  EXPECT_EQ(t.Put(changed, &old_name), a);
  EXPECT_FALSE(old_name.has_value());
  EXPECT_EQ(t.Get(a).size, 99);
  EXPECT_EQ(t.Put(Rec(kUuid, "renamed.jpg"), &old_name), a);
  EXPECT_EQ(old_name, "IMG_1.jpg");
  EXPECT_EQ(t.Name(a), "renamed.jpg");
  EXPECT_EQ(t.size(), 2u);
}

TEST(AssetTableTest, ManyAssetsAndCompaction) {
  AssetTable t;
  std::vector<std::string> ids;
  for (int i = 0; i < 20000; ++i) {
    char id[37];
    snprintf(id, sizeof(id), "%08x-0000-4000-8000-%012x", i, i * 7);
    ids.push_back(id);
    EXPECT_EQ(t.Put(Rec(id, "IMG_" + std::to_string(i) + ".jpg")), static_cast<AssetTable::Index>(i));
  }
  StringPool::Ref extra = t.AddString("kept by someone else");
  StringPool::Ref dropped = t.AddString("dropped");
  t.Discard(dropped);
  t.CompactStrings([&](AssetTable::Remap remap) { extra = remap(extra); });
  EXPECT_EQ(t.String(extra), "kept by someone else");
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(t.Find(PackedId::Of(ids[i])), static_cast<AssetTable::Index>(i));
    EXPECT_EQ(t.Name(i), "IMG_" + std::to_string(i) + ".jpg");
  }
}

}  // namespace
}  // namespace immichfs::fs
