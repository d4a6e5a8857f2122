#include "fs/asset_table.h"

#include <limits>

namespace immichfs::fs {
namespace {

constexpr int64_t kPast = std::numeric_limits<int64_t>::min();
constexpr int64_t kFuture = std::numeric_limits<int64_t>::max();

int64_t ToMicros(absl::Time t) {
  if (t == absl::InfinitePast()) return kPast;
  if (t == absl::InfiniteFuture()) return kFuture;
  return absl::ToUnixMicros(t);
}

absl::Time FromMicros(int64_t us) {
  if (us == kPast) return absl::InfinitePast();
  if (us == kFuture) return absl::InfiniteFuture();
  return absl::FromUnixMicros(us);
}

}  // namespace

AssetTable::AssetTable() : by_id_(0, IdHash{this}, IdEq{this}) {}

AssetTable::Index AssetTable::Put(const AssetRec& rec, std::optional<std::string>* old_name) {
  const PackedId id = PackedId::Of(rec.id);
  Index index;
  Slot* slot;
  if (auto it = by_id_.find(id); it != by_id_.end()) {
    index = *it;
    slot = &slots_[index];
    if (strings_.Get(slot->name) != rec.name) {
      if (old_name != nullptr) old_name->emplace(strings_.Get(slot->name));
      Discard(slot->name);
      slot->name = strings_.Add(rec.name);
    }
  } else {
    Slot fresh;
    fresh.id = id;
    fresh.name = strings_.Add(rec.name);
    slot = &slots_.push_back(fresh);
    index = static_cast<Index>(slots_.size() - 1);
    by_id_.insert(index);  // hashes the id now in the slot
  }
  slot->checksum = PackedSum::Of(rec.checksum);
  slot->size = rec.size;
  slot->mtime = ToMicros(rec.mtime);
  slot->ctime = ToMicros(rec.ctime);
  slot->uploaded = ToMicros(rec.uploaded);
  return index;
}

std::optional<AssetTable::Index> AssetTable::Find(const PackedId& id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return *it;
}

AssetRec AssetTable::Get(Index i) const {
  const Slot& s = slots_[i];
  AssetRec r;
  r.id = s.id.ToString();
  r.name = std::string(strings_.Get(s.name));
  r.checksum = s.checksum.ToString();
  r.size = s.size;
  r.mtime = FromMicros(s.mtime);
  r.ctime = FromMicros(s.ctime);
  r.uploaded = FromMicros(s.uploaded);
  return r;
}

AssetAttrs AssetTable::Attrs(Index i) const {
  const Slot& s = slots_[i];
  return AssetAttrs{s.size, FromMicros(s.mtime), FromMicros(s.ctime)};
}

absl::Time AssetTable::Uploaded(Index i) const { return FromMicros(slots_[i].uploaded); }

bool AssetTable::Wasteful() const {
  return garbage_ > (size_t{1} << 20) && garbage_ * 2 > strings_.bytes();
}

void AssetTable::CompactStrings(absl::FunctionRef<void(Remap)> others) {
  StringPool fresh;
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].name = fresh.Add(strings_.Get(slots_[i].name));
  }
  others([&](StringPool::Ref old) { return fresh.Add(strings_.Get(old)); });
  strings_ = std::move(fresh);
  garbage_ = 0;
}

}  // namespace immichfs::fs
