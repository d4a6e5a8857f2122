#include "fs/inode_table.h"

#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace immichfs::fs {
namespace {

TEST(InodeTableTest, RootIsOne) {
  InodeTable t;
  std::optional<NodeRef> root = t.Resolve(kRootIno);
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->kind, NodeKind::kRoot);
}

TEST(InodeTableTest, SameKeySameInodeDifferentKindsDiffer) {
  InodeTable t;
  Ino a = t.Get(NodeKind::kAsset, "id-1");
  EXPECT_EQ(t.Get(NodeKind::kAsset, "id-1"), a);
  Ino album = t.Get(NodeKind::kAlbum, "id-1");
  EXPECT_NE(album, a);
  EXPECT_NE(a, kRootIno);
  EXPECT_EQ(t.Resolve(a)->id, "id-1");
  EXPECT_EQ(t.Resolve(album)->kind, NodeKind::kAlbum);
  EXPECT_EQ(t.Find(NodeKind::kAsset, "id-1"), a);
  EXPECT_FALSE(t.Find(NodeKind::kAsset, "id-2").has_value());
  EXPECT_FALSE(t.Resolve(9999).has_value());
}

TEST(InodeTableTest, ForgottenInodesKeepTheirNumber) {
  InodeTable t;
  Ino a = t.Get(NodeKind::kAsset, "x");
  t.AddLookup(a, 3);
  EXPECT_EQ(t.LookupCount(a), 3u);
  t.Forget(a, 2);
  EXPECT_EQ(t.LookupCount(a), 1u);
  t.Forget(a, 5);  // more than held: clamps at zero
  EXPECT_EQ(t.LookupCount(a), 0u);
  EXPECT_EQ(t.Get(NodeKind::kAsset, "x"), a);
}

TEST(InodeTableTest, RebindKeepsTheInodeForTheNewIdentity) {
  InodeTable t;
  Ino p = t.Get(NodeKind::kPending, "7");
  t.Rebind(p, NodeKind::kAsset, "asset-7");
  EXPECT_EQ(t.Resolve(p)->kind, NodeKind::kAsset);
  EXPECT_EQ(t.Get(NodeKind::kAsset, "asset-7"), p);
  Ino q = t.Get(NodeKind::kAsset, "other");
  t.Alias(NodeKind::kPending, "8", q);
  EXPECT_EQ(t.Find(NodeKind::kPending, "8"), q);
}

TEST(InodeTableTest, ConcurrentGetsAgree) {
  InodeTable t;
  std::vector<std::vector<Ino>> seen(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 500; ++k) seen[i].push_back(t.Get(NodeKind::kAsset, std::to_string(k)));
    });
  }
  for (auto& th : threads) th.join();
  for (int i = 1; i < 4; ++i) EXPECT_EQ(seen[i], seen[0]);
  EXPECT_EQ(std::set<Ino>(seen[0].begin(), seen[0].end()).size(), 500u);
  EXPECT_EQ(t.size(), 501u);  // with the root
}

}  // namespace
}  // namespace immichfs::fs
