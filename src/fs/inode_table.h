// Inode numbers for the life of the mount. An inode is keyed on what it
// stands for (an album id, an asset id, a pending upload), so the same asset
// has the same inode in every album that holds it and across re-listings.
// Entries are never reused: a number once given keeps its meaning until the
// mount ends (rsync and find rely on stable st_ino). nlookup follows the
// kernel's lookup/forget protocol so we know what the kernel still holds.
//
// Memory (one inode per listed asset, so this is per-asset cost): a key is
// the kind and a PackedId (18 bytes: a UUID as 16 bytes, a pending id as a
// number, see packed_id.h), not the text "kind:id". Inode numbers are dense
// (1, 2, ...), so nodes live in a ChunkedVector indexed by number (32 bytes
// each), and each node keeps its `home` key, the one it was created for. The
// key -> inode map is then mostly a set of inode numbers whose hash and
// equality look at the node's home key (8 bytes a slot, not 18 + 8): ~45
// bytes per inode in all. The rarer mappings live beside it: `extra_` for
// keys that map to an inode other than through its home (Alias, Rebind) and
// `rebound_` for inodes that now stand for another key than their home.
// Invariant: a key is in homes_ or extra_, never both.
#ifndef IMMICHFS_FS_INODE_TABLE_H_
#define IMMICHFS_FS_INODE_TABLE_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "fs/chunked_vector.h"
#include "fs/packed_id.h"

namespace immichfs::fs {

using Ino = uint64_t;
inline constexpr Ino kRootIno = 1;

enum class NodeKind : uint8_t { kRoot, kAlbum, kAsset, kPending, kControlDir, kControlFile };

struct NodeRef {
  NodeKind kind;
  std::string id;  // album id, asset id, pending id (decimal), or control name
};

// NodeRef, packed.
struct NodeKey {
  NodeKind kind = NodeKind::kRoot;
  PackedId id;

  friend bool operator==(const NodeKey& a, const NodeKey& b) {
    return a.kind == b.kind && a.id == b.id;
  }
  template <typename H>
  friend H AbslHashValue(H h, const NodeKey& k) {
    return H::combine(std::move(h), k.kind, k.id);
  }
};
static_assert(sizeof(NodeKey) == 18 && alignof(NodeKey) == 1);

class InodeTable {
 public:
  InodeTable();
  InodeTable(const InodeTable&) = delete;  // homes_'s functors point here
  InodeTable& operator=(const InodeTable&) = delete;

  // The inode for (kind, id), created on first use.
  Ino Get(NodeKind kind, absl::string_view id);
  Ino Get(NodeKind kind, const PackedId& id);
  // An existing inode for (kind, id), without creating one.
  std::optional<Ino> Find(NodeKind kind, absl::string_view id) const;
  // Makes (kind, id) resolve to `ino` as well: a pending file that became an
  // asset keeps its inode, so open files and the kernel's dentries stay valid.
  void Alias(NodeKind kind, absl::string_view id, Ino ino);
  std::optional<NodeRef> Resolve(Ino ino) const;
  // The same without spelling the id out.
  std::optional<NodeKey> ResolveKey(Ino ino) const;
  // Rebinds `ino` to a new identity (the pending->asset hand-over).
  void Rebind(Ino ino, NodeKind kind, absl::string_view id);
  // Forgets that (kind, id) maps to an inode; the next Get gives it a new
  // one. The inode keeps whatever it resolves to now. Used when an inode
  // that stood for an asset was rebound to a file that then went its own
  // way (an overwrite renamed away from the asset it replaced).
  void Detach(NodeKind kind, absl::string_view id);

  void AddLookup(Ino ino, uint64_t n = 1);
  void Forget(Ino ino, uint64_t n);
  uint64_t LookupCount(Ino ino) const;
  size_t size() const;

 private:
  struct Node {
    uint64_t nlookup = 0;
    NodeKey home;  // the key it was created for; never changes
  };
  // An Ino stored with alignment 1, so an extra_ slot is 18 + 8 bytes.
  struct PackedIno {
    uint8_t bytes[8];
    PackedIno(Ino ino) { std::memcpy(bytes, &ino, sizeof(bytes)); }  // NOLINT: implicit
    operator Ino() const {  // NOLINT: implicit
      Ino ino;
      std::memcpy(&ino, bytes, sizeof(ino));
      return ino;
    }
  };
  struct HomeHash {
    using is_transparent = void;
    const InodeTable* table;
    // Called by homes_ only, with table->mu_ held.
    size_t operator()(Ino ino) const ABSL_SHARED_LOCKS_REQUIRED(table->mu_) {
      return (*this)(table->nodes_[ino - kRootIno].home);
    }
    size_t operator()(const NodeKey& key) const { return absl::Hash<NodeKey>()(key); }
  };
  struct HomeEq {
    using is_transparent = void;
    const InodeTable* table;
    bool operator()(Ino a, Ino b) const { return a == b; }
    bool operator()(Ino a, const NodeKey& b) const ABSL_SHARED_LOCKS_REQUIRED(table->mu_) {
      return table->nodes_[a - kRootIno].home == b;
    }
    bool operator()(const NodeKey& a, Ino b) const ABSL_SHARED_LOCKS_REQUIRED(table->mu_) {
      return table->nodes_[b - kRootIno].home == a;
    }
  };

  std::optional<Ino> LookupLocked(const NodeKey& key) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void AliasLocked(const NodeKey& key, Ino ino) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool KnownLocked(Ino ino) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return ino >= kRootIno && ino - kRootIno < nodes_.size();
  }

  mutable absl::Mutex mu_;
  ChunkedVector<Node> nodes_ ABSL_GUARDED_BY(mu_);  // inode n at n - kRootIno
  absl::flat_hash_set<Ino, HomeHash, HomeEq> homes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<NodeKey, PackedIno> extra_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Ino, NodeKey> rebound_ ABSL_GUARDED_BY(mu_);
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_INODE_TABLE_H_
