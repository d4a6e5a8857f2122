// Short immutable strings (file names) stored back to back in 256 KiB
// blocks (large enough to be mapped on their own, see memory.h) and named by
// a 32-bit reference.
//
// Why: a std::string is 32 bytes even when empty, and a name longer than 15
// bytes adds a heap block (16 bytes of malloc overhead, rounded up to 16).
// Here a name costs its bytes plus a 1-2 byte length. Strings never move, so
// a string_view into the pool stays valid until Clear().
//
// Nothing is freed one by one: the owner counts what it no longer refers to
// and rebuilds the pool when that grows (Catalog::CompactNamesLocked).
#ifndef IMMICHFS_FS_STRING_POOL_H_
#define IMMICHFS_FS_STRING_POOL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/string_view.h"

namespace immichfs::fs {

class StringPool {
 public:
  using Ref = uint32_t;  // block << 18 | offset
  static constexpr Ref kNone = 0xFFFFFFFF;

  Ref Add(absl::string_view s);
  absl::string_view Get(Ref ref) const;
  // Bytes a string takes in the pool (for the owner's accounting).
  static size_t Cost(absl::string_view s);
  size_t bytes() const { return bytes_; }

 private:
  static constexpr int kBlockBits = 18;
  static constexpr size_t kBlock = size_t{1} << kBlockBits;
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t used_ = kBlock;  // in the last block; kBlock: start a new one
  size_t bytes_ = 0;
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_STRING_POOL_H_
