// Every asset the catalog has seen, packed: the one per-asset record of the
// daemon, so its size is the daemon's size (target: <= 300 bytes per asset
// after listing 100 000; this is ~90 plus the name).
//
// Layout, per asset:
//   Slot (80 bytes) in a ChunkedVector, at a stable 32-bit Index:
//     size, fileModifiedAt, updatedAt, createdAt as int64 (microseconds),
//     the name as a StringPool::Ref, id as PackedId (17), checksum as
//     PackedSum (21);
//   the name's bytes in a StringPool (length prefix + bytes);
//   ~5 bytes in the id index: a flat_hash_set of Index whose hash and
//     equality look the id up in the slot (heterogeneous lookup by PackedId),
//     so the 17-byte key is not stored twice.
// Assets are never removed (as before: an asset gone from every album is
// still answered for by inode until the mount ends); a re-listed asset
// updates its slot in place.
//
// Times keep microseconds (what absl::Time from Immich's ISO strings holds;
// Immich sends milliseconds); InfinitePast/InfiniteFuture are kept as such.
// Not thread-safe: the Catalog's mutex guards it.
#ifndef IMMICHFS_FS_ASSET_TABLE_H_
#define IMMICHFS_FS_ASSET_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fs/chunked_vector.h"
#include "fs/packed_id.h"
#include "fs/string_pool.h"

namespace immichfs::fs {

// An asset, unpacked: what the catalog hands out for one asset.
struct AssetRec {
  std::string id;
  std::string name;       // originalFileName as Immich has it
  std::string checksum;   // base64 SHA-1
  int64_t size = 0;
  absl::Time mtime;       // fileModifiedAt
  absl::Time ctime;       // updatedAt
  absl::Time uploaded;    // createdAt
};

// What a directory listing needs of an asset, without its strings.
struct AssetAttrs {
  int64_t size = 0;
  absl::Time mtime;
  absl::Time ctime;
};

class AssetTable {
 public:
  using Index = uint32_t;

  AssetTable();
  AssetTable(const AssetTable&) = delete;  // the index's functors point here
  AssetTable& operator=(const AssetTable&) = delete;

  // Adds the asset, or updates the one with rec.id. If an existing asset's
  // name changed, `old_name` (if given) receives the name it had.
  Index Put(const AssetRec& rec, std::optional<std::string>* old_name = nullptr);
  std::optional<Index> Find(const PackedId& id) const;
  size_t size() const { return slots_.size(); }

  AssetRec Get(Index i) const;
  AssetAttrs Attrs(Index i) const;
  const PackedId& Id(Index i) const { return slots_[i].id; }
  absl::Time Uploaded(Index i) const;
  absl::string_view Name(Index i) const { return strings_.Get(slots_[i].name); }
  StringPool::Ref NameRef(Index i) const { return slots_[i].name; }

  // The pool holds the names and whatever else the owner adds (shown names
  // of listings). Discard() counts a string no longer referred to.
  StringPool::Ref AddString(absl::string_view s) { return strings_.Add(s); }
  absl::string_view String(StringPool::Ref ref) const { return strings_.Get(ref); }
  void Discard(StringPool::Ref ref) { garbage_ += StringPool::Cost(strings_.Get(ref)); }
  // Whether more than half the pool (and over 1 MiB) is discarded strings.
  bool Wasteful() const;
  // Rebuilds the pool with the assets' names and the strings `others`
  // moves: it is called with a function from an old ref to a new one, to
  // apply to every ref it holds.
  using Remap = absl::FunctionRef<StringPool::Ref(StringPool::Ref)>;
  void CompactStrings(absl::FunctionRef<void(Remap)> others);

 private:
  struct Slot {
    int64_t size = 0;
    int64_t mtime = 0;     // microseconds since the epoch, see ToMicros
    int64_t ctime = 0;
    int64_t uploaded = 0;
    StringPool::Ref name = StringPool::kNone;
    PackedId id;
    PackedSum checksum;
  };
  static_assert(sizeof(Slot) <= 80);

  struct IdHash {
    using is_transparent = void;
    const AssetTable* table;
    size_t operator()(Index i) const { return (*this)(table->slots_[i].id); }
    size_t operator()(const PackedId& id) const { return absl::Hash<PackedId>()(id); }
  };
  struct IdEq {
    using is_transparent = void;
    const AssetTable* table;
    bool operator()(Index a, Index b) const { return a == b; }
    bool operator()(Index a, const PackedId& b) const { return table->slots_[a].id == b; }
    bool operator()(const PackedId& a, Index b) const { return table->slots_[b].id == a; }
  };

  ChunkedVector<Slot> slots_;
  absl::flat_hash_set<Index, IdHash, IdEq> by_id_;
  StringPool strings_;
  size_t garbage_ = 0;  // bytes of strings_ no longer referred to
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_ASSET_TABLE_H_
