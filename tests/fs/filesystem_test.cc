// Level 2: fs::Filesystem over FakeImmichApi and a real cache::ReadPath
// (no disk cache), no kernel. Read-only behaviour of DESIGN.md "Namespace".
#include "fs/filesystem.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/iso_time.h"
#include "common/status.h"
#include "memory_immich/memory_immich.h"
#include "gtest/gtest.h"

namespace immichfs::fs {
namespace {

using fake::FakeImmichApi;
using fake::Method;

// Collects a listing; takes at most `capacity` entries per ReadDir call,
// as a small kernel buffer would.
class Collector : public DirSink {
 public:
  explicit Collector(size_t capacity = SIZE_MAX) : capacity_(capacity) {}
  bool Add(absl::string_view name, const Entry& entry, uint64_t next_offset) override {
    if (taken_ == capacity_) return false;
    ++taken_;
    names.emplace_back(name);
    entries[std::string(name)] = entry;
    offset = next_offset;
    return true;
  }
  void NextBatch() { taken_ = 0; }
  std::vector<std::string> names;
  std::map<std::string, Entry> entries;
  uint64_t offset = 0;

 private:
  size_t capacity_;
  size_t taken_ = 0;
};

class FilesystemTest : public ::testing::Test {
 protected:
  FilesystemTest() : reads_(&api_, nullptr, cache::ReadPathOptions{}) {}

  Filesystem& Fs() {
    if (!fs_) {
      FsOptions o;
      o.uid = 1000;
      o.gid = 100;
      o.umask = 022;
      o.dir_cache_ttl = absl::Seconds(10);
      o.clock = [this] { return now_; };
      fs_ = std::make_unique<Filesystem>(&api_, &reads_, o);
    }
    return *fs_;
  }

  Collector List(Ino ino, size_t capacity = SIZE_MAX, bool plus = false) {
    Collector c(capacity);
    absl::StatusOr<uint64_t> fh = Fs().OpenDir(ino);
    EXPECT_TRUE(fh.ok()) << fh.status();
    if (!fh.ok()) return c;
    for (;;) {
      size_t before = c.names.size();
      c.NextBatch();
      EXPECT_TRUE(Fs().ReadDir(ino, *fh, c.offset, plus, c).ok());
      if (c.names.size() == before) break;
    }
    Fs().ReleaseDir(*fh);
    return c;
  }

  Ino MustLookup(Ino parent, const std::string& name) {
    absl::StatusOr<Entry> e = Fs().Lookup(parent, name);
    EXPECT_TRUE(e.ok()) << name << ": " << e.status();
    return e.ok() ? e->attr.ino : 0;
  }

  std::string ReadAll(Ino ino) {
    absl::StatusOr<OpenResult> f = Fs().Open(ino, O_RDONLY);
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok()) return "";
    std::string out;
    char buf[7];  // odd size: many reads, unaligned
    for (;;) {
      absl::StatusOr<size_t> n = Fs().Read(ino, f->fh, out.size(), sizeof buf, buf);
      EXPECT_TRUE(n.ok()) << n.status();
      if (!n.ok() || *n == 0) break;
      out.append(buf, *n);
    }
    EXPECT_TRUE(Fs().Release(ino, f->fh).ok());
    return out;
  }

  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
  FakeImmichApi api_;
  cache::ReadPath reads_;
  std::unique_ptr<Filesystem> fs_;
};

TEST_F(FilesystemTest, RootListsAlbumsAsDirectories) {
  api_.AddAlbum("Holidays");
  api_.AddAlbum("Cats");
  Collector root = List(kRootIno);
  EXPECT_EQ(root.names, (std::vector<std::string>{".", "..", "Cats", "Holidays"}));
  const Attr& cats = root.entries["Cats"].attr;
  EXPECT_TRUE(S_ISDIR(cats.mode));
  EXPECT_EQ(cats.mode & 0777, 0755u);
  EXPECT_EQ(cats.uid, 1000u);
  EXPECT_EQ(cats.gid, 100u);
  absl::StatusOr<Attr> root_attr = Fs().GetAttr(kRootIno);
  ASSERT_TRUE(root_attr.ok());
  EXPECT_TRUE(S_ISDIR(root_attr->mode));
  EXPECT_EQ(root_attr->nlink, 4u);  // 2 + one per album
}

TEST_F(FilesystemTest, AlbumListsAssetsWithExactAttributes) {
  std::string album = api_.AddAlbum("Trip");
  absl::Time modified = absl::FromUnixMillis(1'600'000'000'123);
  std::string id = api_.AddAsset({.name = "IMG_1.jpg", .bytes = std::string(12345, 'x'),
                                  .file_modified_at = modified, .albums = {album}});
  Ino dir = MustLookup(kRootIno, "Trip");
  Collector listing = List(dir);
  EXPECT_EQ(listing.names, (std::vector<std::string>{".", "..", "IMG_1.jpg"}));
  const Attr& a = listing.entries["IMG_1.jpg"].attr;
  EXPECT_TRUE(S_ISREG(a.mode));
  EXPECT_EQ(a.mode & 0777, 0644u);
  EXPECT_EQ(a.size, 12345u);
  EXPECT_EQ(a.mtime.tv_sec, 1'600'000'000);
  EXPECT_EQ(a.mtime.tv_nsec, 123'000'000);
  absl::Time updated = api_.FindAsset(id)->updated_at;
  EXPECT_EQ(immichfs::FromTimespec(a.ctime), updated);
  absl::StatusOr<Attr> via_getattr = Fs().GetAttr(a.ino);
  ASSERT_TRUE(via_getattr.ok());
  EXPECT_EQ(via_getattr->size, 12345u);
  absl::StatusOr<Entry> via_lookup = Fs().Lookup(dir, "IMG_1.jpg");
  ASSERT_TRUE(via_lookup.ok());
  EXPECT_EQ(via_lookup->attr.ino, a.ino);
  EXPECT_GT(via_lookup->entry_timeout, 0);
  EXPECT_GT(via_lookup->attr_timeout, 0);
}

TEST_F(FilesystemTest, CollidingNamesGetStableIdSuffixes) {
  std::string album = api_.AddAlbum("A");
  std::string first = api_.AddAsset({.name = "DSC.jpg", .bytes = "1",
                                     .uploaded_at = absl::FromUnixSeconds(10), .albums = {album}});
  std::string second = api_.AddAsset({.name = "DSC.jpg", .bytes = "2",
                                      .uploaded_at = absl::FromUnixSeconds(20), .albums = {album}});
  std::string other_album = api_.AddAlbum("A");
  Collector root = List(kRootIno);
  const std::string tagged_album = "A (" + other_album.substr(0, 8) + ")";
  EXPECT_EQ(root.names, (std::vector<std::string>{".", "..", "A", tagged_album}));
  Ino dir = MustLookup(kRootIno, "A");
  const std::string tagged = "DSC (" + second.substr(0, 8) + ").jpg";
  EXPECT_EQ(List(dir).names, (std::vector<std::string>{".", "..", "DSC (" + second.substr(0, 8) +
                                                                        ").jpg", "DSC.jpg"}));
  EXPECT_EQ(ReadAll(MustLookup(dir, "DSC.jpg")), "1");
  EXPECT_EQ(ReadAll(MustLookup(dir, tagged)), "2");
  // The first one leaves: the second keeps its name (names never move).
  ASSERT_TRUE(api_.RemoveFromAlbum(album, {first}).ok());
  now_ += absl::Seconds(11);
  EXPECT_EQ(List(dir).names, (std::vector<std::string>{".", "..", tagged}));
}

TEST_F(FilesystemTest, SlashInNamesIsShownAsFullwidthSolidus) {
  std::string album = api_.AddAlbum("2024/05 Rome");
  api_.AddAsset("a/b.jpg", "ab", {album});
  Ino dir = MustLookup(kRootIno, "2024\xEF\xBC\x8F" "05 Rome");
  Collector listing = List(dir);
  ASSERT_EQ(listing.names.size(), 3u);
  EXPECT_EQ(listing.names[2], "a\xEF\xBC\x8F" "b.jpg");
  EXPECT_EQ(ReadAll(MustLookup(dir, listing.names[2])), "ab");
}

TEST_F(FilesystemTest, NamesFitNameMax) {
  std::string album = api_.AddAlbum(std::string(254, 'a') + "/");  // 256 bytes shown
  api_.AddAsset(std::string(251, 'b') + ".jpg", "x", {album});     // exactly 255: kept
  api_.AddAsset(std::string(300, 'c') + ".jpg", "y", {album});
  Collector root = List(kRootIno);
  ASSERT_EQ(root.names.size(), 3u);
  EXPECT_LE(root.names[2].size(), 255u);
  Ino dir = MustLookup(kRootIno, root.names[2]);
  Collector listing = List(dir);
  ASSERT_EQ(listing.names.size(), 4u);
  EXPECT_EQ(listing.names[2], std::string(251, 'b') + ".jpg");
  EXPECT_LE(listing.names[3].size(), 255u);
  EXPECT_TRUE(listing.names[3].ends_with(").jpg"));
  EXPECT_EQ(ReadAll(MustLookup(dir, listing.names[3])), "y");
  absl::StatusOr<Entry> too_long = Fs().Lookup(dir, std::string(256, 'z'));
  EXPECT_EQ(ToErrno(too_long.status()), ENAMETOOLONG);
}

TEST_F(FilesystemTest, InodesAreStableAcrossRelistingsAndSharedBetweenAlbums) {
  std::string a = api_.AddAlbum("A");
  std::string b = api_.AddAlbum("B");
  std::string id = api_.AddAsset("x.jpg", "x", {a, b});
  Ino dir_a = MustLookup(kRootIno, "A");
  Ino x_in_a = MustLookup(dir_a, "x.jpg");
  Ino x_in_b = MustLookup(MustLookup(kRootIno, "B"), "x.jpg");
  EXPECT_EQ(x_in_a, x_in_b);
  api_.AddAsset("y.jpg", "y", {a});  // the album changes: paged again
  api_.AddAlbum("C");
  now_ += absl::Seconds(11);
  EXPECT_EQ(List(kRootIno).entries["A"].attr.ino, dir_a);
  Collector listing = List(dir_a);
  EXPECT_EQ(listing.entries["x.jpg"].attr.ino, x_in_a);
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 3);
}

TEST_F(FilesystemTest, UnchangedAlbumIsRevalidatedNotRepaged) {
  std::string album = api_.AddAlbum("A");
  api_.AddAsset("x.jpg", "x", {album});
  Ino dir = MustLookup(kRootIno, "A");
  List(dir);
  List(dir);
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 1);
  EXPECT_EQ(api_.Calls(Method::kListAlbums), 1);
  for (int i = 0; i < 3; ++i) {
    now_ += absl::Seconds(11);
    EXPECT_EQ(List(dir).names.size(), 3u);
  }
  EXPECT_EQ(api_.Calls(Method::kListAlbums), 4);
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 1);
}

TEST_F(FilesystemTest, PagesA5000AssetAlbumAndResumesReaddir) {
  std::string album = api_.AddAlbum("Big");
  for (int i = 0; i < 5000; ++i) {
    api_.AddAsset(absl::StrFormat("IMG_%05d.jpg", i), "bytes" + std::to_string(i), {album});
  }
  Ino dir = MustLookup(kRootIno, "Big");
  Collector listing = List(dir, /*capacity=*/100);  // 51 ReadDir calls
  EXPECT_EQ(listing.names.size(), 5002u);
  EXPECT_EQ(listing.entries.size(), 5002u);
  EXPECT_EQ(listing.names[2], "IMG_00000.jpg");
  EXPECT_EQ(listing.names[5001], "IMG_04999.jpg");
  EXPECT_EQ(api_.Calls(Method::kSearchAlbumAssets), 5);
}

TEST_F(FilesystemTest, ReadDirPlusCountsLookupsExceptDots) {
  std::string album = api_.AddAlbum("A");
  api_.AddAsset("x.jpg", "x", {album});
  Ino dir = MustLookup(kRootIno, "A");
  Collector listing = List(dir, SIZE_MAX, /*plus=*/true);
  Ino x = listing.entries["x.jpg"].attr.ino;
  EXPECT_EQ(Fs().LookupCount(x), 1u);
  EXPECT_EQ(Fs().LookupCount(dir), 1u);  // the Lookup only; "." is not counted
  ASSERT_TRUE(Fs().Lookup(dir, "x.jpg").ok());
  EXPECT_EQ(Fs().LookupCount(x), 2u);
  List(dir);  // plain readdir counts nothing
  EXPECT_EQ(Fs().LookupCount(x), 2u);
  Fs().Forget(x, 2);
  EXPECT_EQ(Fs().LookupCount(x), 0u);
  EXPECT_EQ(Fs().GetAttr(x)->size, 1u);  // forgotten inodes still resolve
}

TEST_F(FilesystemTest, ReadsTheOriginalBytes) {
  std::string album = api_.AddAlbum("A");
  std::string content;
  for (int i = 0; i < 300'000; ++i) content += static_cast<char>('a' + i % 26);
  api_.AddAsset("big.jpg", content, {album});
  Ino f = MustLookup(MustLookup(kRootIno, "A"), "big.jpg");
  absl::StatusOr<OpenResult> h = Fs().Open(f, O_RDONLY);
  ASSERT_TRUE(h.ok());
  std::vector<char> buf(70'000);
  absl::StatusOr<size_t> n = Fs().Read(f, h->fh, 250'000, buf.size(), buf.data());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 50'000u);
  EXPECT_EQ(std::string(buf.data(), *n), content.substr(250'000));
  n = Fs().Read(f, h->fh, 300'000, buf.size(), buf.data());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  ASSERT_TRUE(Fs().Release(f, h->fh).ok());
}

TEST_F(FilesystemTest, ReopeningUnchangedContentKeepsThePageCache) {
  std::string album = api_.AddAlbum("A");
  std::string id = api_.AddAsset("x.jpg", "one", {album});
  Ino dir = MustLookup(kRootIno, "A");
  Ino f = MustLookup(dir, "x.jpg");
  EXPECT_EQ(ReadAll(f), "one");
  absl::StatusOr<OpenResult> again = Fs().Open(f, O_RDONLY);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->keep_cache);
  ASSERT_TRUE(Fs().Release(f, again->fh).ok());
  api_.SetAssetBytes(id, "changed!");
  now_ += absl::Seconds(11);
  List(dir);
  EXPECT_EQ(Fs().GetAttr(f)->size, 8u);
  absl::StatusOr<OpenResult> changed = Fs().Open(f, O_RDONLY);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(changed->keep_cache);
  ASSERT_TRUE(Fs().Release(f, changed->fh).ok());
  EXPECT_EQ(ReadAll(f), "changed!");
}

TEST_F(FilesystemTest, DirectoriesCannotBeOpenedAsFiles) {
  EXPECT_EQ(ToErrno(Fs().Open(kRootIno, O_RDONLY).status()), EISDIR);
  api_.AddAlbum("A");
  EXPECT_EQ(ToErrno(Fs().Open(MustLookup(kRootIno, "A"), O_RDONLY).status()), EISDIR);
}

TEST_F(FilesystemTest, StatFsReportsServerStorage) {
  api_.SetStorage({.size_bytes = 4096 * 1000, .available_bytes = 4096 * 250,
                   .used_bytes = 4096 * 750});
  absl::StatusOr<FsStat> st = Fs().StatFs();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->block_size, 4096u);
  EXPECT_EQ(st->blocks, 1000u);
  EXPECT_EQ(st->blocks_free, 250u);
  EXPECT_EQ(st->blocks_avail, 250u);
  EXPECT_EQ(st->name_max, 255u);
  api_.SetDown(true);
  now_ += absl::Seconds(60);
  EXPECT_EQ(Fs().StatFs()->blocks, 1000u);  // last known numbers while down
}

TEST_F(FilesystemTest, StatFsFailsWhenNothingIsKnown) {
  api_.SetDown(true);
  EXPECT_EQ(ToErrno(Fs().StatFs().status()), EIO);
}

TEST_F(FilesystemTest, ServerDownListsWhatIsKnown) {
  std::string album = api_.AddAlbum("A");
  api_.AddAsset("x.jpg", "x", {album});
  Ino dir = MustLookup(kRootIno, "A");
  List(dir);
  api_.SetDown(true);
  now_ += absl::Seconds(11);
  EXPECT_EQ(List(kRootIno).names, (std::vector<std::string>{".", "..", "A"}));
  EXPECT_EQ(List(dir).names, (std::vector<std::string>{".", "..", "x.jpg"}));
  EXPECT_TRUE(Fs().Lookup(dir, "x.jpg").ok());
  EXPECT_EQ(ToErrno(Fs().Lookup(dir, "y.jpg").status()), ENOENT);
}

TEST_F(FilesystemTest, AnAlbumNeverListedIsNotShownEmptyWhileImmichIsDown) {
  // An empty listing would make `rsync --delete` from the mount drop the
  // album's files from a backup: fail instead, until Immich answers.
  std::string album = api_.AddAlbum("A");
  api_.AddAsset("x.jpg", "x", {album});
  api_.AddAlbum("Empty");
  List(kRootIno);  // the album list is known, no album's contents are
  Ino dir = MustLookup(kRootIno, "A");
  Ino empty = MustLookup(kRootIno, "Empty");
  api_.SetDown(true);
  now_ += absl::Seconds(11);
  EXPECT_EQ(ToErrno(Fs().OpenDir(dir).status()), EIO);
  // Lookups still answer from what is known (a create needs them).
  EXPECT_EQ(ToErrno(Fs().Lookup(dir, "y.jpg").status()), ENOENT);
  // An album Immich said holds nothing lists as empty.
  EXPECT_EQ(List(empty).names, (std::vector<std::string>{".", ".."}));
  api_.SetDown(false);
  now_ += absl::Seconds(11);
  EXPECT_EQ(List(dir).names, (std::vector<std::string>{".", "..", "x.jpg"}));
}

TEST_F(FilesystemTest, ColdStartWithServerDownIsEio) {
  api_.SetDown(true);
  EXPECT_EQ(ToErrno(Fs().OpenDir(kRootIno).status()), EIO);
  EXPECT_EQ(ToErrno(Fs().Lookup(kRootIno, "A").status()), EIO);
  api_.SetDown(false);
  api_.AddAlbum("A");
  EXPECT_TRUE(Fs().Lookup(kRootIno, "A").ok());
}

TEST_F(FilesystemTest, UnknownNamesAreEnoent) {
  std::string album = api_.AddAlbum("A");
  EXPECT_EQ(ToErrno(Fs().Lookup(kRootIno, "Nope").status()), ENOENT);
  Ino dir = MustLookup(kRootIno, "A");
  EXPECT_EQ(ToErrno(Fs().Lookup(dir, "nope.jpg").status()), ENOENT);
  // The album is deleted on the server: after the TTL it is gone here too.
  ASSERT_TRUE(api_.DeleteAlbum(album).ok());
  now_ += absl::Seconds(11);
  EXPECT_EQ(ToErrno(Fs().Lookup(kRootIno, "A").status()), ENOENT);
  EXPECT_EQ(ToErrno(Fs().OpenDir(dir).status()), ENOENT);
  EXPECT_EQ(ToErrno(Fs().GetAttr(9999).status()), ESTALE);
}

TEST_F(FilesystemTest, LivePhotoVideoPartIsNotListed) {
  std::string album = api_.AddAlbum("A");
  std::string motion = api_.AddAsset({.name = "IMG_1.MOV", .bytes = "mov",
                                      .visibility = "hidden", .albums = {album}});
  api_.AddAsset({.name = "IMG_1.HEIC", .bytes = "heic", .live_photo_video_id = motion,
                 .albums = {album}});
  EXPECT_EQ(List(MustLookup(kRootIno, "A")).names,
            (std::vector<std::string>{".", "..", "IMG_1.HEIC"}));
}

}  // namespace
}  // namespace immichfs::fs
