// Tests for src/spool/journal.cc: the record format, the directory scan at
// start-up, and failed/.
#include "spool/journal.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/hash.h"
#include "gtest/gtest.h"

namespace immichfs::cache {
namespace {

namespace fs = std::filesystem;

std::string MakeTempDir() {
  std::string tmpl = (fs::temp_directory_path() / "journal_test.XXXXXX").string();
  char* dir = ::mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

JournalRecord SampleRecord() {
  JournalRecord r;
  r.id = 17;
  r.state = JournalRecord::State::kWriting;
  r.album_id = "8d4f album with spaces";
  r.name = "my holiday\nphoto 100%\t\xC3\xBCnic\xC3\xB8" "de \xF0\x9F\x93\xB7.jpg";
  r.mtime = absl::FromUnixNanos(1714557600123456789);
  r.size = 123456;
  r.sha1_hex = "0123456789abcdef0123456789abcdef01234567";
  r.replaces_asset_id = "old-asset";
  r.prev_album_id = "prev album";
  r.restored_asset_id = "restored-asset";
  r.attempts = 3;
  return r;
}

void ExpectSameRecord(const JournalRecord& a, const JournalRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.album_id, b.album_id);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.mtime, b.mtime);
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.sha1_hex, b.sha1_hex);
  EXPECT_EQ(a.replaces_asset_id, b.replaces_asset_id);
  EXPECT_EQ(a.prev_album_id, b.prev_album_id);
  EXPECT_EQ(a.restored_asset_id, b.restored_asset_id);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.write_error, b.write_error);
  EXPECT_EQ(a.write_errno, b.write_errno);
  EXPECT_EQ(a.write_lost, b.write_lost);
}

// Appends a valid check line to `body`.
std::string WithCheck(const std::string& body) {
  return body + absl::StrFormat("check %016x\n", Xxh64(body.data(), body.size()));
}

TEST(JournalRecordTest, RoundTripsAwkwardNames) {
  JournalRecord r = SampleRecord();
  std::string text = EncodeRecord(r);
  absl::StatusOr<JournalRecord> back = DecodeRecord(text);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameRecord(r, *back);
  // One line per field: the newline and tab in the name are escaped.
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 13u) << text;
  EXPECT_NE(text.find("\xF0\x9F\x93\xB7"), std::string::npos) << "UTF-8 stays readable";
}

TEST(JournalRecordTest, RoundTripsEmptyOptionalFields) {
  JournalRecord r;
  r.id = 1;
  r.album_id = "a";
  r.name = " leading and trailing space ";
  absl::StatusOr<JournalRecord> back = DecodeRecord(EncodeRecord(r));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameRecord(r, *back);
}

// The incomplete mark of a file whose write failed (spool.h) survives a
// restart; a clean record carries no such keys (older versions read it).
TEST(JournalRecordTest, RoundTripsAWriteError) {
  JournalRecord r = SampleRecord();
  EXPECT_EQ(EncodeRecord(r).find("write_"), std::string::npos);
  r.write_error = "write to 'big.mp4': No space left on device\nsecond line";
  r.write_errno = 28;
  absl::StatusOr<JournalRecord> back = DecodeRecord(EncodeRecord(r));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameRecord(r, *back);
  r.write_lost = true;
  back = DecodeRecord(EncodeRecord(r));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameRecord(r, *back);
  EXPECT_FALSE(DecodeRecord(WithCheck("immichfs-spool 1\nid 1\nstate pending\nalbum a\n"
                                      "name x\nmtime_ns 0\nsize 0\nwrite_error oops\n"))
                   .ok())
      << "a write error without its errno is not guessed at";
}

// An incomplete file's record says "state incomplete": older versions refuse
// that state (corrupt record, data to failed/) instead of reading it as
// pending and committing the file. Records written with state pending and
// the write_error keys (by earlier builds of this version) are still read.
TEST(JournalRecordTest, AnIncompleteRecordHasItsOwnState) {
  JournalRecord r = SampleRecord();
  r.state = JournalRecord::State::kPending;
  EXPECT_NE(EncodeRecord(r).find("\nstate pending\n"), std::string::npos);
  r.write_error = "write to 'big.mp4': No space left on device";
  r.write_errno = 28;
  std::string text = EncodeRecord(r);
  EXPECT_NE(text.find("\nstate incomplete\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("\nstate pending\n"), std::string::npos) << text;
  absl::StatusOr<JournalRecord> back = DecodeRecord(text);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameRecord(r, *back);
  r.state = JournalRecord::State::kWriting;
  EXPECT_NE(EncodeRecord(r).find("\nstate writing\n"), std::string::npos);

  const std::string head = "immichfs-spool 1\nid 1\nalbum a\nname x\nmtime_ns 0\nsize 0\n";
  back = DecodeRecord(WithCheck(head + "state pending\nwrite_error 5 disk error\n"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->state, JournalRecord::State::kPending);
  EXPECT_EQ(back->write_errno, 5);
  EXPECT_EQ(back->write_error, "disk error");
  back = DecodeRecord(WithCheck(head + "state incomplete\nwrite_error 5 disk error\n"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->state, JournalRecord::State::kPending);
  EXPECT_EQ(back->write_errno, 5);
  EXPECT_EQ(DecodeRecord(WithCheck(head + "state incomplete\n")).status().code(),
            absl::StatusCode::kDataLoss)
      << "incomplete without its error is not guessed at";
}

TEST(JournalRecordTest, DetectsCorruption) {
  std::string text = EncodeRecord(SampleRecord());
  std::string flipped = text;
  flipped[flipped.find("size ") + 5] ^= 1;  // 123456 -> 023456
  EXPECT_EQ(DecodeRecord(flipped).status().code(), absl::StatusCode::kDataLoss);

  std::string torn = text.substr(0, text.size() / 2);
  EXPECT_EQ(DecodeRecord(torn).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeRecord("").status().code(), absl::StatusCode::kDataLoss);

  std::string no_newline = text.substr(0, text.size() - 1);
  EXPECT_EQ(DecodeRecord(no_newline).status().code(), absl::StatusCode::kDataLoss);
}

TEST(JournalRecordTest, RejectsMissingFieldsAndBadValuesEvenWithValidCheck) {
  EXPECT_EQ(DecodeRecord(WithCheck("immichfs-spool 1\nid 3\nstate pending\n")).status().code(),
            absl::StatusCode::kDataLoss);
  std::string text = EncodeRecord(SampleRecord());
  std::string body = text.substr(0, text.rfind("check "));
  std::string bad_size = body;
  bad_size.replace(bad_size.find("size 123456"), 11, "size 12x456");
  EXPECT_EQ(DecodeRecord(WithCheck(bad_size)).status().code(), absl::StatusCode::kDataLoss);
  std::string bad_escape = body;
  bad_escape.replace(bad_escape.find("%0A"), 3, "%G0");
  EXPECT_EQ(DecodeRecord(WithCheck(bad_escape)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeRecord(WithCheck("immichfs-spool 2\n" + body.substr(body.find('\n') + 1)))
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST(JournalRecordTest, IgnoresUnknownKeys) {
  std::string text = EncodeRecord(SampleRecord());
  std::string body = text.substr(0, text.rfind("check "));
  absl::StatusOr<JournalRecord> back = DecodeRecord(WithCheck(body + "future_key some value\n"));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameRecord(SampleRecord(), *back);
}

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir() + "/spool";
    journal_ = std::make_unique<Journal>(dir_);
    ASSERT_TRUE(journal_->Init().ok());
  }
  void TearDown() override { fs::remove_all(fs::path(dir_).parent_path()); }

  JournalRecord Record(PendingId id, const std::string& name, const std::string& data) {
    JournalRecord r;
    r.id = id;
    r.album_id = "album-1";
    r.name = name;
    r.size = data.size();
    r.mtime = absl::FromUnixSeconds(1700000000);
    WriteText(journal_->DataPath(id), data);
    EXPECT_TRUE(journal_->Write(r, /*sync=*/true).ok());
    return r;
  }

  std::string dir_;
  std::unique_ptr<Journal> journal_;
};

TEST_F(JournalTest, WriteThenLoadThenRemove) {
  JournalRecord r = Record(4, "a b.jpg", "data");
  absl::StatusOr<Journal::Scan> scan = journal_->Load();
  ASSERT_TRUE(scan.ok()) << scan.status();
  ASSERT_EQ(scan->records.size(), 1u);
  ExpectSameRecord(r, scan->records[0]);
  EXPECT_TRUE(scan->orphans.empty());
  EXPECT_EQ(scan->max_id, 4u);

  ASSERT_TRUE(journal_->Remove(4).ok());
  EXPECT_FALSE(fs::exists(journal_->DataPath(4)));
  EXPECT_FALSE(fs::exists(journal_->MetaPath(4)));
  scan = journal_->Load();
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->records.empty());
}

TEST_F(JournalTest, LoadSortsOutOrphansTempFilesAndBrokenRecords) {
  Record(1, "good.jpg", "good");
  WriteText(journal_->DataPath(2), "never released");            // data, no record
  Record(3, "lost.jpg", "x");
  fs::remove(journal_->DataPath(3));                              // record, no data
  Record(4, "corrupt.jpg", "kept");
  std::string meta4 = ReadText(journal_->MetaPath(4));
  meta4[meta4.find("name ") + 5] = 'C';
  WriteText(journal_->MetaPath(4), meta4);                        // bad check
  WriteText(journal_->TempPath(5, "meta"), "half a rec");         // torn temp
  fs::create_hard_link(journal_->DataPath(1), journal_->UploadPath(1));
  WriteText(journal_->FailedDir() + "/9-old.jpg", "failed before");

  absl::StatusOr<Journal::Scan> scan = journal_->Load();
  ASSERT_TRUE(scan.ok()) << scan.status();
  ASSERT_EQ(scan->records.size(), 1u);
  EXPECT_EQ(scan->records[0].id, 1u);
  EXPECT_EQ(scan->orphans, (std::vector<PendingId>{2, 4}));
  EXPECT_EQ(scan->problems.size(), 2u);  // 3 without data, 4 corrupt
  EXPECT_EQ(scan->max_id, 9u);
  EXPECT_FALSE(fs::exists(journal_->TempPath(5, "meta")));
  EXPECT_FALSE(fs::exists(journal_->UploadPath(1)));
  EXPECT_FALSE(fs::exists(journal_->MetaPath(3)));
  EXPECT_EQ(ReadText(journal_->DataPath(1)), "good") << "the upload link was a second name";
  EXPECT_EQ(ReadText(journal_->DataPath(4)), "kept") << "data of a corrupt record is kept";
}

TEST_F(JournalTest, MoveToFailedKeepsDataAndExplains) {
  JournalRecord r = Record(7, "notes\n1.txt", "some text");
  absl::StatusOr<FailedFile> f =
      journal_->MoveToFailed(r, absl::FromUnixSeconds(1700000100),
                             absl::InvalidArgumentError("Unsupported file type\nnotes.txt"),
                             "Convert it.");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(ReadText(f->path), "some text");
  EXPECT_FALSE(fs::exists(journal_->DataPath(7)));
  EXPECT_FALSE(fs::exists(journal_->MetaPath(7)));
  std::string reason = ReadText(f->reason_path);
  EXPECT_NE(reason.find("Unsupported file type notes.txt"), std::string::npos) << reason;
  EXPECT_NE(reason.find("what to do: Convert it."), std::string::npos) << reason;

  std::vector<FailedFile> failed = journal_->ListFailed();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].path, f->path);
  EXPECT_EQ(failed[0].name, "notes\n1.txt");
  EXPECT_EQ(failed[0].album_id, "album-1");
  EXPECT_EQ(failed[0].size, 9u);
  EXPECT_EQ(failed[0].failed_at, absl::FromUnixSeconds(1700000100));
  EXPECT_NE(failed[0].reason.find("Unsupported file type"), std::string::npos);

  absl::StatusOr<Journal::Scan> scan = journal_->Load();
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->records.empty());
  EXPECT_EQ(scan->max_id, 7u) << "ids in failed/ are never reused";
}

TEST_F(JournalTest, MoveToFailedFitsLongNamesIntoNameMax) {
  std::string name;
  while (name.size() < 300) name += "\xC3\xA9";  // two-byte UTF-8
  name += ".jpg";
  JournalRecord r = Record(12, name, "x");
  absl::StatusOr<FailedFile> f =
      journal_->MoveToFailed(r, absl::Now(), absl::InvalidArgumentError("no"), "");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_LE(fs::path(f->reason_path).filename().string().size(), 255u);
  EXPECT_TRUE(fs::exists(f->path));
  std::vector<FailedFile> failed = journal_->ListFailed();
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].name, name) << "the full name is in the reason file";
}

}  // namespace
}  // namespace immichfs::cache
