// ListingStore::Load (src/fs/catalog_store.cc) on any file content: stored
// listings are read at every start and after every restart, and a crash, a
// full disk or another version may have left anything in them. Load must
// return the listing, or an error, never crash.
//
// Input: the file's bytes. When the second line starts with "owner ?", the
// harness puts this store's owner hash there, so that the fuzzer gets past
// the owner check (a seed shows the shape). The album is "a1" in the state
// "album a1 3 1000 2000" (asset count, updated ns, last asset ns).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/hash.h"
#include "common/log.h"
#include "fs/catalog_store.h"
#include "fuzz_dir.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  immichfs::SetLogLevel(immichfs::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = immichfs::fuzz::ScratchDir("listing_store");
  static const std::string owner = "https://immich.example|key";
  static const std::string owner_hex =
      absl::StrFormat("%016x", immichfs::Xxh64(owner.data(), owner.size()));
  static const immichfs::fs::ListingStore store(dir, owner);
  std::string text(reinterpret_cast<const char*>(data), size);
  size_t nl = text.find('\n');
  if (nl != std::string::npos && text.compare(nl + 1, 7, "owner ?") == 0) {
    text.replace(nl + 7, 1, owner_hex);
  }
  immichfs::fuzz::WriteWhole(dir + "/a1", text);
  immichfs::fs::AlbumKey key;
  key.asset_count = 3;
  key.updated = absl::FromUnixNanos(1000);
  key.last_modified_asset = absl::FromUnixNanos(2000);
  (void)store.Load("a1", key);
  return 0;
}
