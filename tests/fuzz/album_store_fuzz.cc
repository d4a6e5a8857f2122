// AlbumStore::Load (src/fs/catalog_store.cc) on any file content: the saved
// album list is read at every start, and a crash, a full disk or another
// version may have left anything in it. Load must return the albums, or an
// error, never crash.
//
// Input: the file's bytes. When the second line starts with "owner ?", the
// harness puts this store's owner hash there, so that the fuzzer gets past
// the owner check to the album lines (a seed shows the shape).
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/hash.h"
#include "fs/catalog_store.h"
#include "fuzz_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = immichfs::fuzz::ScratchDir("album_store");
  static const std::string owner = "https://immich.example|key";
  static const std::string owner_hex =
      absl::StrFormat("%016x", immichfs::Xxh64(owner.data(), owner.size()));
  std::string text(reinterpret_cast<const char*>(data), size);
  size_t nl = text.find('\n');
  if (nl != std::string::npos && text.compare(nl + 1, 7, "owner ?") == 0) {
    text.replace(nl + 7, 1, owner_hex);
  }
  const std::string path = dir + "/albums";
  immichfs::fuzz::WriteWhole(path, text);
  immichfs::fs::AlbumStore store(path, owner);
  (void)store.Load();
  return 0;
}
