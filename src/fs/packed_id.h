// Immich ids and checksums in the bytes they stand for, for the tables that
// hold one per asset (catalog.h, inode_table.h).
//
// Why: an Immich id is a UUID, 36 characters of text. As a std::string that
// is 32 bytes plus a 48-byte heap block (past the 15-byte small-string
// buffer), and an asset's id is held several times (catalog, inode table).
// Its 16 bytes are enough. Likewise the base64 SHA-1 checksum (28
// characters) is 20 bytes.
//
// Anything that is not in the canonical form (a UUID in upper case, ids of
// the test fakes, the inode table's pending ids and control names) still
// round-trips exactly: a decimal number (a pending id) is kept as a number,
// anything else is interned in a process-wide table of strings that is never
// freed. Immich itself only ever sends canonical ids, so that table holds a
// handful of names in practice.
//
// Layout: PackedId is 16 payload bytes and a tag byte (17 bytes, alignment
// 1, so it packs tightly into table slots); PackedSum is 20 + 1.
#ifndef IMMICHFS_FS_PACKED_ID_H_
#define IMMICHFS_FS_PACKED_ID_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"

namespace immichfs::fs {

class PackedId {
 public:
  PackedId() = default;  // the empty id
  // Any string; ToString() gives it back exactly.
  static PackedId Of(absl::string_view id);

  std::string ToString() const;
  bool empty() const { return tag_ == kEmpty; }

  // The order of the ids as strings (std::string's), cheap for two UUIDs.
  static int Compare(const PackedId& a, const PackedId& b);

  friend bool operator==(const PackedId& a, const PackedId& b) {
    return a.tag_ == b.tag_ && std::memcmp(a.bytes_, b.bytes_, sizeof(a.bytes_)) == 0;
  }
  friend bool operator!=(const PackedId& a, const PackedId& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const PackedId& p) {
    return H::combine(std::move(h), p.tag_,
                      absl::string_view(reinterpret_cast<const char*>(p.bytes_), sizeof(p.bytes_)));
  }

 private:
  enum Tag : uint8_t { kEmpty, kUuid, kNumber, kInterned };
  uint8_t bytes_[16] = {};
  uint8_t tag_ = kEmpty;
};
static_assert(sizeof(PackedId) == 17 && alignof(PackedId) == 1);

// A checksum as Immich sends it: base64 of a SHA-1 (28 characters).
class PackedSum {
 public:
  PackedSum() = default;  // the empty checksum
  static PackedSum Of(absl::string_view base64);
  std::string ToString() const;

  friend bool operator==(const PackedSum& a, const PackedSum& b) {
    return a.tag_ == b.tag_ && std::memcmp(a.bytes_, b.bytes_, sizeof(a.bytes_)) == 0;
  }

 private:
  enum Tag : uint8_t { kEmpty, kSha1, kInterned };
  uint8_t bytes_[20] = {};
  uint8_t tag_ = kEmpty;
};
static_assert(sizeof(PackedSum) == 21 && alignof(PackedSum) == 1);

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_PACKED_ID_H_
