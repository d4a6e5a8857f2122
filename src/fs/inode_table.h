// Inode numbers for the life of the mount. An inode is keyed on what it
// stands for (an album id, an asset id, a pending upload), so the same asset
// has the same inode in every album that holds it and across re-listings.
// Entries are never reused: a number once given keeps its meaning until the
// mount ends (rsync and find rely on stable st_ino). nlookup follows the
// kernel's lookup/forget protocol so we know what the kernel still holds.
#ifndef IMMICHFS_FS_INODE_TABLE_H_
#define IMMICHFS_FS_INODE_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace immichfs::fs {

using Ino = uint64_t;
inline constexpr Ino kRootIno = 1;

enum class NodeKind : uint8_t { kRoot, kAlbum, kAsset, kPending, kControlDir, kControlFile };

struct NodeRef {
  NodeKind kind;
  std::string id;  // album id, asset id, pending id (decimal), or control name
};

class InodeTable {
 public:
  InodeTable();

  // The inode for (kind, id), created on first use.
  Ino Get(NodeKind kind, absl::string_view id);
  // An existing inode for (kind, id), without creating one.
  std::optional<Ino> Find(NodeKind kind, absl::string_view id) const;
  // Makes (kind, id) resolve to `ino` as well: a pending file that became an
  // asset keeps its inode, so open files and the kernel's dentries stay valid.
  void Alias(NodeKind kind, absl::string_view id, Ino ino);
  std::optional<NodeRef> Resolve(Ino ino) const;
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
  static std::string Key(NodeKind kind, absl::string_view id);

  mutable absl::Mutex mu_;
  Ino next_ ABSL_GUARDED_BY(mu_) = kRootIno + 1;
  absl::flat_hash_map<std::string, Ino> by_key_ ABSL_GUARDED_BY(mu_);
  struct Node {
    NodeRef ref;
    uint64_t nlookup = 0;
  };
  absl::flat_hash_map<Ino, Node> nodes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_INODE_TABLE_H_
