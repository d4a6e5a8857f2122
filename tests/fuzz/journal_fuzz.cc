// The spool's recovery (Spool::Open: Journal::Load, MoveToFailed, ListFailed
// in src/spool/journal.cc and spool_recover.cc) over a spool directory a crash
// may have left in any state: half-written or zero-filled journal records,
// data without records, stray temp files, failed/ files with damaged .reason
// texts. Recovery must keep, fail or drop each file and never crash.
//
// Input: the files of the spool directory, each introduced by a line
//   @@ <name>           e.g. "@@ 17.meta", "@@ 17.data", "@@ failed/3-x.jpg.reason"
// followed by its bytes up to the next "\n@@ " (names with other slashes, "."
// or ".." are skipped). In a file's text, a line "check ?" is replaced by the
// record's true check line, so that the fuzzer gets past the xxHash to the
// fields; a torn or altered record keeps whatever check it has.
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/hash.h"
#include "common/log.h"
#include "fuzz_dir.h"
#include "spool/spool.h"

namespace {

using immichfs::fuzz::TryWriteWhole;

// "check ?" -> "check <xxh64 of every byte before the line>".
std::string WithCheck(absl::string_view text) {
  size_t at = text.find("check ?");
  if (at == absl::string_view::npos || (at != 0 && text[at - 1] != '\n')) {
    return std::string(text);
  }
  std::string out(text.substr(0, at));
  absl::StrAppendFormat(&out, "check %016x", immichfs::Xxh64(out.data(), out.size()));
  absl::string_view rest = text.substr(at + 7);
  out.append(rest.data(), rest.size());
  return out;
}

bool SafeName(absl::string_view name) {
  absl::string_view base = name;
  if (base.substr(0, 7) == "failed/") base.remove_prefix(7);
  return !base.empty() && base.size() <= 200 && base != "." && base != ".." &&
         base.find('/') == absl::string_view::npos && base.find('\0') == absl::string_view::npos;
}

// Writes the files described by `input` into `dir` (which has failed/).
void Populate(const std::string& dir, absl::string_view input) {
  size_t pos = input.substr(0, 3) == "@@ " ? 0 : input.find("\n@@ ");
  while (pos != absl::string_view::npos) {
    if (input[pos] == '\n') ++pos;
    pos += 3;  // "@@ "
    size_t eol = input.find('\n', pos);
    absl::string_view name = input.substr(pos, eol == absl::string_view::npos ? eol : eol - pos);
    size_t start = eol == absl::string_view::npos ? input.size() : eol + 1;
    size_t next = input.find("\n@@ ", start);
    // The newline before the next marker belongs to the content: records end
    // with one.
    size_t end = next == absl::string_view::npos ? input.size() : next + 1;
    // A name that cannot be a file ("failed", the directory) is skipped.
    if (SafeName(name)) {
      (void)TryWriteWhole(dir + "/" + std::string(name),
                          WithCheck(input.substr(start, end - start)));
    }
    pos = next;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  immichfs::SetLogLevel(immichfs::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string root = immichfs::fuzz::ScratchDir("journal");
  const std::string dir = root + "/spool";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  ::mkdir(dir.c_str(), 0700);
  ::mkdir((dir + "/failed").c_str(), 0700);
  Populate(dir, absl::string_view(reinterpret_cast<const char*>(data), size));

  immichfs::cache::SpoolOptions options;
  options.dir = dir;
  auto spool = immichfs::cache::Spool::Open(options, /*api=*/nullptr);
  if (spool.ok()) {
    for (const auto& f : (*spool)->List("")) {
      char buf[64];
      (void)(*spool)->Read(f.id, 0, sizeof buf, buf);
    }
    (void)(*spool)->Stats();
  }
  return 0;
}
