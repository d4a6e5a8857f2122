#include "spool/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/hash.h"
#include "common/iso_time.h"
#include "common/status.h"
#include "common/text_file.h"
#include "common/unique_fd.h"

namespace immichfs::cache {
namespace {

constexpr absl::string_view kMagic = "immichfs-spool 1";
constexpr absl::string_view kReasonSuffix = ".reason";
// Longest name part of failed/<id>-<name>.reason that still fits NAME_MAX.
constexpr size_t kMaxFailedStem = 255 - kReasonSuffix.size();

absl::Status RemoveIfPresent(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoFromSyscall(errno, absl::StrCat("unlink ", path));
  }
  return absl::OkStatus();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    absl::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// "<digits>.<rest>" or "<digits>-<rest>" -> the digits as an id.
std::optional<PendingId> LeadingId(absl::string_view name, char sep, absl::string_view* rest) {
  size_t pos = name.find(sep);
  if (pos == 0 || pos == absl::string_view::npos) return std::nullopt;
  PendingId id = 0;
  if (!absl::SimpleAtoi(name.substr(0, pos), &id)) return std::nullopt;
  if (rest != nullptr) *rest = name.substr(pos + 1);
  return id;
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string TruncateUtf8(absl::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end));
}

std::string OneLine(absl::string_view text) {
  std::string out(text);
  std::replace(out.begin(), out.end(), '\n', ' ');
  std::replace(out.begin(), out.end(), '\r', ' ');
  return out;
}

}  // namespace

std::string EncodeRecord(const JournalRecord& r) {
  std::string out = absl::StrCat(kMagic, "\n");
  absl::StrAppend(&out, "id ", r.id, "\n");
  // A pending record of an incomplete file says "incomplete", not "pending":
  // older versions ignore the write_error key but refuse an unknown state
  // (the record is corrupt to them, its data goes to failed/), so they never
  // commit it. Records with state pending and write_error are read as well.
  absl::string_view state = r.state == JournalRecord::State::kWriting ? "writing"
                            : r.write_error.empty()                   ? "pending"
                                                                      : "incomplete";
  absl::StrAppend(&out, "state ", state, "\n");
  absl::StrAppend(&out, "album ", Escape(r.album_id), "\n");
  absl::StrAppend(&out, "name ", Escape(r.name), "\n");
  absl::StrAppend(&out, "mtime_ns ", absl::ToUnixNanos(r.mtime), "\n");
  absl::StrAppend(&out, "size ", r.size, "\n");
  absl::StrAppend(&out, "sha1 ", Escape(r.sha1_hex), "\n");
  absl::StrAppend(&out, "replaces ", Escape(r.replaces_asset_id), "\n");
  absl::StrAppend(&out, "prev_album ", Escape(r.prev_album_id), "\n");
  absl::StrAppend(&out, "restored ", Escape(r.restored_asset_id), "\n");
  absl::StrAppend(&out, "attempts ", r.attempts, "\n");
  if (!r.write_error.empty()) {
    // Only when set: a clean record stays as older versions wrote it.
    absl::StrAppend(&out, "write_error ", Escape(absl::StrCat(r.write_errno, " ", r.write_error)),
                    "\n");
    if (r.write_lost) absl::StrAppend(&out, "write_lost 1\n");
  }
  absl::StrAppendFormat(&out, "check %016x\n", Xxh64(out.data(), out.size()));
  return out;
}

namespace {

absl::Status Corrupt(absl::string_view why) {
  return absl::DataLossError(absl::StrCat("spool journal record is corrupt: ", why));
}

// DecodeRecord's first step (integrity): the check line is the last one; it
// covers every byte before it. Guarantees on success: the returned body (the
// lines before the check line, each with its newline) is what was written,
// not torn or damaged.
absl::StatusOr<absl::string_view> CheckedBody(absl::string_view text) {
  absl::string_view body = text;
  if (!absl::ConsumeSuffix(&body, "\n")) return Corrupt("no final newline (torn write?)");
  size_t nl = body.rfind('\n');
  if (nl == absl::string_view::npos) return Corrupt("no check line");
  absl::string_view check_line = body.substr(nl + 1);
  body = text.substr(0, nl + 1);
  if (!absl::ConsumePrefix(&check_line, "check ") || check_line.size() != 16) {
    return Corrupt("no check line");
  }
  uint64_t want = 0;
  if (!absl::SimpleHexAtoi(check_line, &want)) return Corrupt("check is not hex");
  if (Xxh64(body.data(), body.size()) != want) return Corrupt("check does not match");
  return body;
}

// The fields a record must have, as DecodeRecord finds them.
struct RequiredFields {
  bool id = false, album = false, name = false, size = false, mtime = false, state = false;
  bool incomplete = false;  // state incomplete: a write_error must come with it
};

// DecodeRecord's second step, one field: stores the value of `key` in `r`
// and notes a required field in `seen`; false if the value is not valid for
// the key. Unknown keys (written by a newer version) are ignored.
bool ParseField(absl::string_view key, const std::string& value, JournalRecord& r,
                RequiredFields& seen) {
  bool ok = true;
  if (key == "id") {
    ok = absl::SimpleAtoi(value, &r.id) && r.id != 0;
    seen.id = true;
  } else if (key == "state") {
    if (value == "pending") {
      r.state = JournalRecord::State::kPending;
    } else if (value == "writing") {
      r.state = JournalRecord::State::kWriting;
    } else if (value == "incomplete") {
      r.state = JournalRecord::State::kPending;  // with write_error: never committed
      seen.incomplete = true;
    } else {
      ok = false;
    }
    seen.state = true;
  } else if (key == "album") {
    r.album_id = value;
    seen.album = true;
  } else if (key == "name") {
    r.name = value;
    seen.name = !value.empty();
  } else if (key == "mtime_ns") {
    int64_t ns = 0;
    ok = absl::SimpleAtoi(value, &ns);
    r.mtime = absl::FromUnixNanos(ns);
    seen.mtime = true;
  } else if (key == "size") {
    ok = absl::SimpleAtoi(value, &r.size);
    seen.size = true;
  } else if (key == "sha1") {
    r.sha1_hex = value;
    ok = r.sha1_hex.empty() || (r.sha1_hex.size() == 40 && ParseSha1(r.sha1_hex).has_value());
  } else if (key == "replaces") {
    r.replaces_asset_id = value;
  } else if (key == "prev_album") {
    r.prev_album_id = value;
  } else if (key == "restored") {
    r.restored_asset_id = value;
  } else if (key == "attempts") {
    ok = absl::SimpleAtoi(value, &r.attempts) && r.attempts >= 0;
  } else if (key == "write_error") {
    size_t space = value.find(' ');
    ok = space != std::string::npos && space + 1 < value.size() &&
         absl::SimpleAtoi(value.substr(0, space), &r.write_errno) && r.write_errno > 0;
    if (ok) r.write_error = value.substr(space + 1);
  } else if (key == "write_lost") {
    ok = value == "1";
    r.write_lost = ok;
  }  // Unknown keys: written by a newer version, ignored.
  return ok;
}

}  // namespace

// Steps: integrity (CheckedBody) / header / fields, one line each
// (ParseField) / every required field present.
absl::StatusOr<JournalRecord> DecodeRecord(absl::string_view text) {
  absl::StatusOr<absl::string_view> body = CheckedBody(text);
  if (!body.ok()) return body.status();
  std::vector<absl::string_view> lines = absl::StrSplit(*body, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kMagic) {
    return Corrupt(absl::StrCat("unknown header '", lines.empty() ? "" : lines[0], "'"));
  }
  JournalRecord r;
  RequiredFields seen;
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    size_t sp = line.find(' ');
    absl::string_view key = line.substr(0, sp);
    absl::string_view raw = sp == absl::string_view::npos ? "" : line.substr(sp + 1);
    std::optional<std::string> value = Unescape(raw);
    if (!value) return Corrupt(absl::StrCat("bad escape in '", key, "'"));
    if (!ParseField(key, *value, r, seen)) {
      return Corrupt(absl::StrCat("bad value for '", key, "'"));
    }
  }
  if (!seen.id || !seen.album || !seen.name || !seen.size || !seen.mtime || !seen.state) {
    return Corrupt("a required field is missing");
  }
  if (seen.incomplete && r.write_error.empty()) {
    return Corrupt("state incomplete without write_error");
  }
  return r;
}

Journal::Journal(std::string dir) : dir_(std::move(dir)) {}

absl::Status Journal::Init() const {
  for (const std::string& d : {dir_, FailedDir()}) {
    if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoFromSyscall(errno, absl::StrCat("create spool directory ", d));
    }
  }
  return SyncDir(dir_);
}

std::string Journal::DataPath(PendingId id) const { return absl::StrCat(dir_, "/", id, ".data"); }
std::string Journal::MetaPath(PendingId id) const { return absl::StrCat(dir_, "/", id, ".meta"); }
std::string Journal::UploadPath(PendingId id) const {
  return absl::StrCat(dir_, "/", id, ".upload");
}
std::string Journal::TempPath(PendingId id, absl::string_view what) const {
  return absl::StrCat(dir_, "/", id, ".", what, ".tmp");
}
std::string Journal::FailedDir() const { return absl::StrCat(dir_, "/failed"); }

absl::Status Journal::Write(const JournalRecord& record, bool sync) const {
  return WriteFileAtomically(dir_, MetaPath(record.id), TempPath(record.id, "meta"),
                             EncodeRecord(record), sync);
}

absl::Status Journal::Remove(PendingId id, bool keep_upload) const {
  // Data first: a crash midway leaves a record without data, which Load()
  // reports and drops; never data that looks like an unreleased file.
  for (const std::string& p : {DataPath(id), UploadPath(id), TempPath(id, "meta"),
                               TempPath(id, "data"), MetaPath(id)}) {
    if (keep_upload && p == UploadPath(id)) continue;
    if (absl::Status st = RemoveIfPresent(p); !st.ok()) return st;
  }
  return SyncDir(dir_);
}

absl::StatusOr<Journal::Scan> Journal::Load() const {
  Scan scan;
  std::vector<PendingId> metas, datas;
  for (const std::string& name : ListDir(dir_)) {
    absl::string_view rest;
    std::optional<PendingId> id = LeadingId(name, '.', &rest);
    if (!id) continue;  // "failed" and anything foreign
    scan.max_id = std::max(scan.max_id, *id);
    std::string path = absl::StrCat(dir_, "/", name);
    if (absl::EndsWith(rest, "tmp") || rest == "upload") {
      // A temp file is never the only copy of anything (it is renamed into
      // place when complete); an upload link is a second name of the data.
      if (absl::Status st = RemoveIfPresent(path); !st.ok()) {
        scan.problems.push_back(std::string(st.message()));
      }
    } else if (rest == "meta") {
      metas.push_back(*id);
    } else if (rest == "data") {
      datas.push_back(*id);
    }
  }
  std::sort(metas.begin(), metas.end());
  std::sort(datas.begin(), datas.end());
  for (PendingId id : metas) {
    bool has_data = std::binary_search(datas.begin(), datas.end(), id);
    absl::StatusOr<std::string> text = ReadFile(MetaPath(id));
    absl::StatusOr<JournalRecord> rec =
        text.ok() ? DecodeRecord(*text) : absl::StatusOr<JournalRecord>(text.status());
    if (rec.ok() && rec->id != id) {
      rec = absl::DataLossError(absl::StrCat("record says id ", rec->id));
    }
    if (!rec.ok()) {
      // Never guessed at: the data (if any) is kept as an orphan, which the
      // spool moves to failed/ for a human to look at.
      scan.problems.push_back(
          absl::StrCat("journal record ", MetaPath(id), ": ", rec.status().message()));
      if (has_data) scan.orphans.push_back(id);
      continue;
    }
    if (!has_data) {
      scan.problems.push_back(absl::StrCat("journal record ", MetaPath(id),
                                           " has no data file (removed while committed?); "
                                           "dropping the record"));
      (void)RemoveIfPresent(MetaPath(id));
      continue;
    }
    scan.records.push_back(*std::move(rec));
  }
  for (PendingId id : datas) {
    if (!std::binary_search(metas.begin(), metas.end(), id)) scan.orphans.push_back(id);
  }
  std::sort(scan.orphans.begin(), scan.orphans.end());
  for (const std::string& name : ListDir(FailedDir())) {
    if (std::optional<PendingId> id = LeadingId(name, '-', nullptr)) {
      scan.max_id = std::max(scan.max_id, *id);
    }
  }
  return scan;
}

absl::StatusOr<FailedFile> Journal::MoveToFailed(const JournalRecord& record, absl::Time when,
                                                 const absl::Status& error,
                                                 absl::string_view what_to_do) const {
  std::string stem = TruncateUtf8(absl::StrCat(record.id, "-", record.name), kMaxFailedStem);
  FailedFile f;
  f.path = absl::StrCat(FailedDir(), "/", stem);
  f.reason_path = f.path + std::string(kReasonSuffix);
  f.album_id = record.album_id;
  f.name = record.name;
  f.size = record.size;
  f.failed_at = when;
  f.reason = OneLine(error.ToString());

  std::string text = absl::StrCat(
      "immichfs could not commit this file to Immich and will not retry it.\n",
      "name: ", Escape(record.name), "\n", "album: ", Escape(record.album_id), "\n",
      "size: ", record.size, "\n", "failed_at: ", FormatIsoTime(when), "\n",
      "reason: ", f.reason, "\n", "what to do: ", OneLine(what_to_do), "\n");
  // Reason first, then the data, then the record: a crash at any point
  // leaves the file pending (retried) or failed, never lost.
  if (absl::Status st = WriteFileAtomically(FailedDir(), f.reason_path,
                                            TempPath(record.id, "reason"), text, true);
      !st.ok()) {
    return st;
  }
  if (::rename(DataPath(record.id).c_str(), f.path.c_str()) != 0) {
    return ErrnoFromSyscall(errno, absl::StrCat("move ", DataPath(record.id), " to ", f.path));
  }
  if (absl::Status st = SyncDir(FailedDir()); !st.ok()) return st;
  if (absl::Status st = SyncDir(dir_); !st.ok()) return st;
  if (absl::Status st = Remove(record.id); !st.ok()) return st;
  return f;
}

std::vector<FailedFile> Journal::ListFailed() const {
  std::vector<FailedFile> out;
  for (const std::string& name : ListDir(FailedDir())) {
    if (absl::EndsWith(name, kReasonSuffix) || absl::EndsWith(name, ".tmp")) continue;
    FailedFile f;
    f.path = absl::StrCat(FailedDir(), "/", name);
    f.reason_path = f.path + std::string(kReasonSuffix);
    struct stat st;
    if (::stat(f.path.c_str(), &st) != 0) continue;
    f.size = static_cast<uint64_t>(st.st_size);
    f.failed_at = absl::TimeFromTimespec(st.st_mtim);
    absl::string_view rest;
    f.name = LeadingId(name, '-', &rest) ? std::string(rest) : name;
    absl::StatusOr<std::string> text = ReadFile(f.reason_path);
    if (!text.ok()) {
      f.reason = "no .reason file next to it";
      out.push_back(std::move(f));
      continue;
    }
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      size_t colon = line.find(": ");
      if (colon == absl::string_view::npos) continue;
      absl::string_view key = line.substr(0, colon), value = line.substr(colon + 2);
      if (key == "name") {
        if (auto v = Unescape(value)) f.name = *v;
      } else if (key == "album") {
        if (auto v = Unescape(value)) f.album_id = *v;
      } else if (key == "failed_at") {
        if (auto t = ParseIsoTime(value)) f.failed_at = *t;
      } else if (key == "reason") {
        f.reason = std::string(value);
      }
    }
    out.push_back(std::move(f));
  }
  std::stable_sort(out.begin(), out.end(), [](const FailedFile& a, const FailedFile& b) {
    return a.failed_at < b.failed_at;
  });
  return out;
}

}  // namespace immichfs::cache
