#include "fs/string_pool.h"

#include <cstring>

namespace immichfs::fs {
namespace {

// Length prefix: LEB128 (one byte below 128, two below 16384, ...).
size_t LengthBytes(size_t n) {
  size_t b = 1;
  while (n >= 0x80) {
    n >>= 7;
    ++b;
  }
  return b;
}

}  // namespace

size_t StringPool::Cost(absl::string_view s) { return LengthBytes(s.size()) + s.size(); }

StringPool::Ref StringPool::Add(absl::string_view s) {
  const size_t need = Cost(s);
  if (used_ + need > kBlock) {
    // A string longer than a block gets a block of its own.
    blocks_.push_back(std::make_unique<char[]>(need > kBlock ? need : kBlock));
    used_ = 0;
    bytes_ += need > kBlock ? need : kBlock;
  }
  char* p = blocks_.back().get() + used_;
  const Ref ref = static_cast<Ref>((blocks_.size() - 1) << kBlockBits | used_);
  size_t n = s.size();
  while (n >= 0x80) {
    *p++ = static_cast<char>(0x80 | (n & 0x7F));
    n >>= 7;
  }
  *p++ = static_cast<char>(n);
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  used_ = need > kBlock ? kBlock : used_ + need;
  return ref;
}

absl::string_view StringPool::Get(Ref ref) const {
  const char* p = blocks_[ref >> kBlockBits].get() + (ref & (kBlock - 1));
  size_t n = 0;
  for (int shift = 0;; shift += 7) {
    const auto b = static_cast<unsigned char>(*p++);
    n |= static_cast<size_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) break;
  }
  return absl::string_view(p, n);
}

}  // namespace immichfs::fs
