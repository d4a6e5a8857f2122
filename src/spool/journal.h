// The spool's journal: one small text record per pending file, <id>.meta next
// to <id>.data, replaced atomically (write a temp file, fsync, rename, fsync
// the directory). One file per record needs no compaction and no log replay,
// and a torn write can only ever hit the temp file.
//
// Record format (UTF-8 text, one "key value" per line, values
// percent-escaped so that names with spaces or newlines survive):
//
//   immichfs-spool 1
//   id 17
//   state pending              pending | writing | incomplete (pending, with
//                              write_error: older versions refuse the state)
//   album 8d4f...              album id
//   name IMG_0001.jpg
//   mtime_ns 1714557600000000000
//   size 123456
//   sha1 <40 hex, or empty>    known when the data streamed in in order
//   replaces <asset id or empty>
//   prev_album <album id or empty>   album the replaced asset was committed to
//                                    by an earlier generation of this file
//   restored <asset id or empty>     a trashed duplicate this commit restored
//   attempts 3
//   write_error <errno> <text>   only after a failed write, flush or fsync
//   write_lost 1                 only if the disk may have lost written bytes
//   check <16 hex>             xxHash64 of every byte before this line
//
// Unknown keys are ignored (newer versions may add some); a record whose check
// fails is reported, never guessed at.
//
// This file also owns the failed/ folder: files Immich refused for good are
// moved there with a <file>.reason text next to them.
#ifndef IMMICHFS_SPOOL_JOURNAL_H_
#define IMMICHFS_SPOOL_JOURNAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "spool/spool.h"

namespace immichfs::cache {

struct JournalRecord {
  // kPending: released (or fsynced) and durable, to be committed.
  // kWriting: being rewritten after it was released once; a crash leaves
  //           content nobody confirmed, so recovery moves it to failed/.
  enum class State { kPending, kWriting };
  PendingId id = 0;
  State state = State::kPending;
  std::string album_id;
  std::string name;
  absl::Time mtime = absl::UnixEpoch();
  uint64_t size = 0;
  std::string sha1_hex;
  std::string replaces_asset_id;
  std::string prev_album_id;
  std::string restored_asset_id;
  int attempts = 0;
  // Non-empty: a write, flush or fsync of this file failed (the error, one
  // line, and its errno). The file is "incomplete": never committed as it
  // stands until a truncate clears this (spool.h).
  std::string write_error;
  int write_errno = 0;
  // The disk reported a writeback error (fdatasync, early writeback): bytes
  // written before may be lost, so only a truncate to 0 clears write_error.
  bool write_lost = false;
};

std::string EncodeRecord(const JournalRecord& record);
// kDataLoss when the check does not match or a field does not parse.
absl::StatusOr<JournalRecord> DecodeRecord(absl::string_view text);

// Files of one spool directory. Stateless apart from the path; callers
// serialise writes of one id.
class Journal {
 public:
  explicit Journal(std::string dir);

  // Creates dir and dir/failed if missing.
  absl::Status Init() const;

  std::string DataPath(PendingId id) const;
  std::string MetaPath(PendingId id) const;
  std::string UploadPath(PendingId id) const;
  std::string TempPath(PendingId id, absl::string_view what) const;
  std::string FailedDir() const;
  const std::string& dir() const { return dir_; }

  // Replaces <id>.meta atomically; with `sync`, durable on return.
  absl::Status Write(const JournalRecord& record, bool sync) const;
  // Removes <id>.data, any temp files of id and then <id>.meta, and syncs
  // the directory. Missing is fine. With keep_upload, <id>.upload stays (an
  // upload in flight still reads it; its worker removes it).
  absl::Status Remove(PendingId id, bool keep_upload = false) const;

  struct Scan {
    std::vector<JournalRecord> records;  // with their data file present
    std::vector<PendingId> orphans;      // data without a record: never released
    std::vector<std::string> problems;   // corrupt records etc., for the log
    PendingId max_id = 0;                // highest id seen anywhere, failed/ too
  };
  // Reads every record; deletes leftover temp and upload links (an upload in
  // flight when the process died), which are never the only copy. A record
  // without data is dropped (listed in problems); data whose record is
  // missing or corrupt is an orphan (the spool moves it to failed/).
  absl::StatusOr<Scan> Load() const;

  // Moves the data of `record` to failed/ and writes the .reason file next to
  // it (both durable). The journal record is removed last, so a crash midway
  // leaves the file either pending or failed, never lost.
  absl::StatusOr<FailedFile> MoveToFailed(const JournalRecord& record, absl::Time when,
                                          const absl::Status& error,
                                          absl::string_view what_to_do) const;
  std::vector<FailedFile> ListFailed() const;

 private:
  std::string dir_;
};

}  // namespace immichfs::cache

#endif  // IMMICHFS_SPOOL_JOURNAL_H_
