// Level 2: names from the server that are not valid entries as they are
// (empty, ".", "..", only spaces, control characters, '/', NUL, invalid
// UTF-8, over NAME_MAX) become valid, distinct, stable names; names made by
// the user round trip to Immich (name_codec.h, DESIGN.md "Namespace").
#include <fcntl.h>

#include <cerrno>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "fs/name_codec.h"
#include "write_fixture.h"

namespace immichfs::fs {
namespace {

const std::string kEmptySet = "\xE2\x88\x85";     // ∅
const std::string kQuote = "\xE2\x80\x9B";        // ‛
const std::string kSpaceSym = "\xE2\x90\xA0";     // ␠
const std::string kNewlineSym = "\xE2\x90\x8A";   // ␊
const std::string kSlashSym = "\xEF\xBC\x8F";     // ／

// Each name another Immich user could give an album or a file.
std::vector<std::string> Hostile() {
  return {"",          ".",         "..",           " ",         "  ",
          "a/b",       "new\nline", "tab\there",    "del\x7F",   std::string("nul\0x", 5),
          "\xFF\xFE",  "bad\xC0\xAF", kEmptySet,    ".immich",   std::string(300, 'L'),
          " lead",     "trail "};
}

void ExpectValidAndDistinct(const std::vector<std::string>& names, size_t count) {
  std::set<std::string> seen;
  for (const std::string& n : names) {
    EXPECT_TRUE(IsValidEntryName(n)) << "'" << n << "'";
    EXPECT_TRUE(seen.insert(n).second) << "'" << n << "' twice";
  }
  EXPECT_EQ(names.size(), count);
}

TEST_F(WriteTest, HostileAlbumNamesListAsValidDistinctNames) {
  const std::vector<std::string> hostile = Hostile();
  std::vector<std::string> ids;
  for (const std::string& name : hostile) {
    std::string album = api_.AddAlbum(name);
    api_.AddAsset(absl::StrCat("in-", ids.size(), ".jpg"), "data of " + name, {album});
    ids.push_back(album);
  }
  const std::string second_empty = api_.AddAlbum("");
  Start();
  Names root = List(kRootIno);
  ExpectValidAndDistinct(root.List(), hostile.size() + 1);
  EXPECT_TRUE(root.entries.contains(kEmptySet));
  EXPECT_TRUE(root.entries.contains(WithTag(kEmptySet, second_empty.substr(0, 8))));
  EXPECT_TRUE(root.entries.contains(kQuote + kEmptySet));  // the album called "∅"
  EXPECT_TRUE(root.entries.contains(kQuote + "."));
  EXPECT_TRUE(root.entries.contains(kQuote + ".."));
  EXPECT_TRUE(root.entries.contains(kSpaceSym));
  EXPECT_TRUE(root.entries.contains(kSpaceSym + kSpaceSym));
  EXPECT_TRUE(root.entries.contains("new" + kNewlineSym + "line"));
  EXPECT_TRUE(root.entries.contains(kQuote + "FF" + kQuote + "FE"));
  EXPECT_TRUE(root.entries.contains(" lead"));  // kept: names people already see
  EXPECT_TRUE(root.entries.contains("trail "));
  // An album called ".immich" does not hide behind the control folder.
  EXPECT_TRUE(root.entries.contains(WithTag(".immich", ids[13].substr(0, 8))));
  // Every album resolves by the name the rule gives it, and its file reads.
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& name = hostile[i];
    std::string shown = EncodeName(name);
    if (shown.size() > kNameMax || name == ".immich") shown = WithTag(shown, ids[i].substr(0, 8));
    ASSERT_TRUE(root.entries.contains(shown)) << "'" << shown << "'";
    Ino dir = MustLookup(kRootIno, shown);
    const std::string file = absl::StrCat("in-", i, ".jpg");
    EXPECT_EQ(Listing(dir), std::vector<std::string>{file});
    EXPECT_EQ(ReadAll(MustLookup(dir, file)), "data of " + name);
  }
  // The same names after a restart: stable.
  spool_.reset();
  fs_.reset();
  Start();
  EXPECT_EQ(List(kRootIno).List(), root.List());
}

TEST_F(WriteTest, HostileFileNamesListAsValidDistinctReadableNames) {
  const std::string album = api_.AddAlbum("Odd");
  const std::vector<std::string> hostile = Hostile();
  std::vector<std::string> ids;
  for (const std::string& name : hostile) {
    ids.push_back(api_.AddAsset(name, "bytes:" + name, {album}));
  }
  const std::string second_empty = api_.AddAsset("", "another empty name", {album});
  Start();
  Ino dir = MustLookup(kRootIno, "Odd");
  Names listing = List(dir);
  ExpectValidAndDistinct(listing.List(), hostile.size() + 1);
  EXPECT_TRUE(listing.entries.contains(kEmptySet));
  EXPECT_TRUE(listing.entries.contains(WithTag(kEmptySet, second_empty.substr(0, 8))));
  EXPECT_TRUE(listing.entries.contains("a" + kSlashSym + "b"));
  EXPECT_TRUE(listing.entries.contains(".immich"));  // only the root reserves it
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& name = hostile[i];
    std::string shown = EncodeName(name);
    if (shown.size() > kNameMax) shown = WithTag(shown, ids[i].substr(0, 8));
    ASSERT_TRUE(listing.entries.contains(shown)) << "'" << shown << "'";
    EXPECT_EQ(ReadAll(MustLookup(dir, shown)), "bytes:" + name) << "'" << shown << "'";
  }
}

TEST_F(WriteTest, NamesMadeOnTheMountReachImmichDecoded) {
  Start();
  // mkdir of a replacement spelling creates the name it stands for.
  ASSERT_TRUE(Fs().MkDir(kRootIno, kEmptySet).ok());
  ASSERT_TRUE(Fs().MkDir(kRootIno, "x" + kNewlineSym + "y").ok());
  ASSERT_TRUE(Fs().MkDir(kRootIno, kSpaceSym).ok());
  ASSERT_TRUE(api_.FindAlbumByName("").has_value());
  ASSERT_TRUE(api_.FindAlbumByName("x\ny").has_value());
  ASSERT_TRUE(api_.FindAlbumByName(" ").has_value());
  // A file written into the album Immich calls "" gets its decoded name.
  Ino dir = MustLookup(kRootIno, kEmptySet);
  const std::string shown = "a" + kSlashSym + "b" + kNewlineSym + kQuote + kQuote + ".jpg";
  Ino f = Put(dir, shown, "photo");
  ASSERT_TRUE(Commit(f).ok());
  std::map<std::string, immich::Asset> in = InImmich(api_.FindAlbumByName("")->id);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in.begin()->first, "a/b\n" + kQuote + ".jpg");
  // It keeps its name, also once listed afresh from Immich.
  EXPECT_EQ(Listing(dir), std::vector<std::string>{shown});
  spool_.reset();
  fs_.reset();
  Start();
  dir = MustLookup(kRootIno, kEmptySet);
  EXPECT_EQ(Listing(dir), std::vector<std::string>{shown});
  EXPECT_EQ(ReadAll(MustLookup(dir, shown)), "photo");
  // Renaming an album to a replacement spelling renames it to the decoded name.
  ASSERT_TRUE(Fs().Rename(kRootIno, kSpaceSym, kRootIno, kQuote + ".", 0).ok());
  EXPECT_TRUE(api_.FindAlbumByName(".").has_value());
}

TEST_F(WriteTest, SpellingsThatWouldNotRoundTripAreRefusedWithEinval) {
  const std::string album = api_.AddAlbum("A");
  Start();
  Ino dir = MustLookup(kRootIno, "A");
  for (const std::string& name :
       {kQuote + "x.jpg",             // a quote that quotes nothing: shows as ‛‛x.jpg
        kSpaceSym + "x.jpg",          // ␠ outside an all-space name: shows as " x.jpg"
        std::string("\xFF.jpg"),      // not UTF-8: Immich cannot store it
        kQuote + "FF.jpg",            // stands for a byte that is not UTF-8
        std::string("a\xE2\x90\x80" "b.jpg"),  // stands for a NUL
        std::string("new\nline.jpg")}) {  // shows as new␊line.jpg
    EXPECT_EQ(ToErrno(Fs().Create(dir, name, O_CREAT | O_WRONLY).status()), EINVAL) << name;
    EXPECT_EQ(ToErrno(Fs().MkDir(kRootIno, name).status()), EINVAL) << name;
  }
  EXPECT_EQ(ToErrno(Fs().Rename(kRootIno, "A", kRootIno, kQuote + "x", 0)), EINVAL);
  EXPECT_TRUE(Listing(dir).empty());
  EXPECT_EQ(api_.AlbumCount(), 1u);
  EXPECT_EQ(api_.FindAlbum(album)->name, "A");
}

}  // namespace
}  // namespace immichfs::fs
