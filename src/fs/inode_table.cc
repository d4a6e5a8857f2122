#include "fs/inode_table.h"

namespace immichfs::fs {
namespace {

NodeKey KeyOf(NodeKind kind, absl::string_view id) { return NodeKey{kind, PackedId::Of(id)}; }

}  // namespace

InodeTable::InodeTable() : homes_(0, HomeHash{this}, HomeEq{this}) {
  absl::MutexLock lock(&mu_);
  nodes_.push_back(Node{1, NodeKey{NodeKind::kRoot, PackedId()}});
  homes_.insert(kRootIno);
}

std::optional<Ino> InodeTable::LookupLocked(const NodeKey& key) const {
  if (auto it = homes_.find(key); it != homes_.end()) return *it;
  if (auto it = extra_.find(key); it != extra_.end()) return Ino{it->second};
  return std::nullopt;
}

void InodeTable::AliasLocked(const NodeKey& key, Ino ino) {
  if (!LookupLocked(key)) extra_.emplace(key, ino);
}

Ino InodeTable::Get(NodeKind kind, absl::string_view id) { return Get(kind, PackedId::Of(id)); }

Ino InodeTable::Get(NodeKind kind, const PackedId& id) {
  const NodeKey key{kind, id};
  absl::MutexLock lock(&mu_);
  if (std::optional<Ino> ino = LookupLocked(key)) return *ino;
  const Ino ino = kRootIno + nodes_.size();
  nodes_.push_back(Node{0, key});
  homes_.insert(ino);  // hashes the home key now in the node
  return ino;
}

std::optional<Ino> InodeTable::Find(NodeKind kind, absl::string_view id) const {
  const NodeKey key = KeyOf(kind, id);
  absl::MutexLock lock(&mu_);
  return LookupLocked(key);
}

void InodeTable::Alias(NodeKind kind, absl::string_view id, Ino ino) {
  const NodeKey key = KeyOf(kind, id);
  absl::MutexLock lock(&mu_);
  AliasLocked(key, ino);
}

void InodeTable::Rebind(Ino ino, NodeKind kind, absl::string_view id) {
  const NodeKey key = KeyOf(kind, id);
  absl::MutexLock lock(&mu_);
  if (!KnownLocked(ino)) return;
  if (nodes_[ino - kRootIno].home == key) {
    rebound_.erase(ino);
  } else {
    rebound_.insert_or_assign(ino, key);
  }
  AliasLocked(key, ino);
}

void InodeTable::Detach(NodeKind kind, absl::string_view id) {
  const NodeKey key = KeyOf(kind, id);
  absl::MutexLock lock(&mu_);
  if (auto it = homes_.find(key); it != homes_.end()) {
    homes_.erase(it);
  } else {
    extra_.erase(key);
  }
}

std::optional<NodeKey> InodeTable::ResolveKey(Ino ino) const {
  absl::MutexLock lock(&mu_);
  if (!KnownLocked(ino)) return std::nullopt;
  if (auto it = rebound_.find(ino); it != rebound_.end()) return it->second;
  return nodes_[ino - kRootIno].home;
}

std::optional<NodeRef> InodeTable::Resolve(Ino ino) const {
  std::optional<NodeKey> key = ResolveKey(ino);
  if (!key) return std::nullopt;
  return NodeRef{key->kind, key->id.ToString()};
}

void InodeTable::AddLookup(Ino ino, uint64_t n) {
  absl::MutexLock lock(&mu_);
  if (KnownLocked(ino)) nodes_[ino - kRootIno].nlookup += n;
}

void InodeTable::Forget(Ino ino, uint64_t n) {
  absl::MutexLock lock(&mu_);
  if (!KnownLocked(ino)) return;
  uint64_t& count = nodes_[ino - kRootIno].nlookup;
  count = count > n ? count - n : 0;
}

uint64_t InodeTable::LookupCount(Ino ino) const {
  absl::MutexLock lock(&mu_);
  return KnownLocked(ino) ? nodes_[ino - kRootIno].nlookup : 0;
}

size_t InodeTable::size() const {
  absl::MutexLock lock(&mu_);
  return nodes_.size();
}

}  // namespace immichfs::fs
