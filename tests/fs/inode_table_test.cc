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

// The hand-over protocol of the write path, with UUID ids as Immich gives.
TEST(InodeTableTest, RebindAliasDetachKeepTheMapSemantics) {
  const std::string asset = "3f2a9c01-7b1e-4c2d-9e8f-0123456789ab";
  const std::string other = "0a2a9c01-7b1e-4c2d-9e8f-0123456789ab";
  InodeTable t;
  Ino a = t.Get(NodeKind::kAsset, asset);
  // O_TRUNC of the asset: its inode stands for pending file 12.
  t.Rebind(a, NodeKind::kPending, "12");
  EXPECT_EQ(t.Resolve(a)->kind, NodeKind::kPending);
  EXPECT_EQ(t.Resolve(a)->id, "12");
  EXPECT_EQ(t.Find(NodeKind::kPending, "12"), a);
  EXPECT_EQ(t.Find(NodeKind::kAsset, asset), a);  // still listed under the asset
  // The file commits as a new asset: the inode follows it.
  t.Rebind(a, NodeKind::kAsset, other);
  EXPECT_EQ(t.Resolve(a)->id, other);
  EXPECT_EQ(t.Get(NodeKind::kAsset, other), a);
  // Rebound home: back to what it was made for.
  t.Rebind(a, NodeKind::kAsset, asset);
  EXPECT_EQ(t.Resolve(a)->id, asset);
  // Detach the home key: the next Get makes a new inode; the old keeps its meaning.
  t.Detach(NodeKind::kAsset, asset);
  EXPECT_FALSE(t.Find(NodeKind::kAsset, asset).has_value());
  Ino fresh = t.Get(NodeKind::kAsset, asset);
  EXPECT_NE(fresh, a);
  EXPECT_EQ(t.Resolve(a)->id, asset);
  EXPECT_EQ(t.Find(NodeKind::kAsset, other), a);
  // Detach an alias.
  t.Detach(NodeKind::kAsset, other);
  EXPECT_FALSE(t.Find(NodeKind::kAsset, other).has_value());
  EXPECT_NE(t.Get(NodeKind::kAsset, other), a);
  // Alias never takes over a key that is mapped.
  t.Alias(NodeKind::kAsset, asset, a);
  EXPECT_EQ(t.Find(NodeKind::kAsset, asset), fresh);
  // Unknown inodes.
  EXPECT_FALSE(t.Resolve(0).has_value());
  t.Rebind(12345, NodeKind::kAsset, asset);
  EXPECT_EQ(t.LookupCount(12345), 0u);
}

TEST(InodeTableTest, ManyInodesStayDistinctAndResolve) {
  InodeTable t;
  std::vector<Ino> inos;
  for (int i = 0; i < 50000; ++i) {
    char id[37];
    snprintf(id, sizeof(id), "%08x-0000-4000-8000-000000000000", i);
    inos.push_back(t.Get(NodeKind::kAsset, id));
  }
  EXPECT_EQ(std::set<Ino>(inos.begin(), inos.end()).size(), inos.size());
  for (int i = 0; i < 50000; i += 997) {
    char id[37];
    snprintf(id, sizeof(id), "%08x-0000-4000-8000-000000000000", i);
    EXPECT_EQ(t.Find(NodeKind::kAsset, id), inos[i]);
    EXPECT_EQ(t.Resolve(inos[i])->id, id);
  }
}

}  // namespace
}  // namespace immichfs::fs
