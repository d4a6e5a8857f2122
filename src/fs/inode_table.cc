#include "fs/inode_table.h"

#include "absl/strings/str_cat.h"

namespace immichfs::fs {

InodeTable::InodeTable() {
  absl::MutexLock lock(&mu_);
  nodes_[kRootIno] = Node{NodeRef{NodeKind::kRoot, ""}, 1};
  by_key_[Key(NodeKind::kRoot, "")] = kRootIno;
}

std::string InodeTable::Key(NodeKind kind, absl::string_view id) {
  return absl::StrCat(static_cast<int>(kind), ":", id);
}

Ino InodeTable::Get(NodeKind kind, absl::string_view id) {
  std::string key = Key(kind, id);
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = by_key_.try_emplace(std::move(key), next_);
  if (inserted) {
    nodes_[next_] = Node{NodeRef{kind, std::string(id)}, 0};
    ++next_;
  }
  return it->second;
}

std::optional<Ino> InodeTable::Find(NodeKind kind, absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  auto it = by_key_.find(Key(kind, id));
  if (it == by_key_.end()) return std::nullopt;
  return it->second;
}

void InodeTable::Alias(NodeKind kind, absl::string_view id, Ino ino) {
  absl::MutexLock lock(&mu_);
  by_key_.try_emplace(Key(kind, id), ino);
}

void InodeTable::Rebind(Ino ino, NodeKind kind, absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;
  it->second.ref = NodeRef{kind, std::string(id)};
  by_key_.try_emplace(Key(kind, id), ino);
}

void InodeTable::Detach(NodeKind kind, absl::string_view id) {
  absl::MutexLock lock(&mu_);
  by_key_.erase(Key(kind, id));
}

std::optional<NodeRef> InodeTable::Resolve(Ino ino) const {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return std::nullopt;
  return it->second.ref;
}

void InodeTable::AddLookup(Ino ino, uint64_t n) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(ino);
  if (it != nodes_.end()) it->second.nlookup += n;
}

void InodeTable::Forget(Ino ino, uint64_t n) {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return;
  it->second.nlookup = it->second.nlookup > n ? it->second.nlookup - n : 0;
}

uint64_t InodeTable::LookupCount(Ino ino) const {
  absl::MutexLock lock(&mu_);
  auto it = nodes_.find(ino);
  return it == nodes_.end() ? 0 : it->second.nlookup;
}

size_t InodeTable::size() const {
  absl::MutexLock lock(&mu_);
  return nodes_.size();
}

}  // namespace immichfs::fs
