#include "fs/packed_id.h"

#include <deque>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/synchronization/mutex.h"

namespace immichfs::fs {
namespace {

constexpr char kHex[] = "0123456789abcdef";
// Where the dashes of a canonical UUID are: 8-4-4-4-12.
constexpr bool IsDash(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case too: it would not round-trip
}

// Strings that are not in a canonical form, by number. Never shrinks; a
// number once given names the same string for the life of the process.
class Interner {
 public:
  uint32_t Intern(absl::string_view s) {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(s);
    if (it != index_.end()) return it->second;
    strings_.emplace_back(s);
    uint32_t n = static_cast<uint32_t>(strings_.size() - 1);
    index_.emplace(strings_.back(), n);  // deque elements do not move
    return n;
  }
  std::string Get(uint32_t n) {
    absl::MutexLock lock(&mu_);
    return n < strings_.size() ? strings_[n] : std::string();
  }

 private:
  absl::Mutex mu_;
  std::deque<std::string> strings_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<absl::string_view, uint32_t> index_ ABSL_GUARDED_BY(mu_);
};

Interner& Strings() {
  static Interner* const interner = new Interner;  // never destroyed: ids outlive exit paths
  return *interner;
}

void PutU32(uint8_t* out, uint32_t v) { std::memcpy(out, &v, sizeof(v)); }
uint32_t GetU32(const uint8_t* in) {
  uint32_t v;
  std::memcpy(&v, in, sizeof(v));
  return v;
}

}  // namespace

PackedId PackedId::Of(absl::string_view id) {
  PackedId p;
  if (id.empty()) return p;
  if (id.size() == 36) {
    size_t n = 0;
    bool ok = true;
    for (size_t i = 0; i < id.size() && ok; ++i) {
      if (IsDash(i)) {
        ok = id[i] == '-';
        continue;
      }
      int v = HexValue(id[i]);
      ok = v >= 0;
      if (ok) p.bytes_[n / 2] |= static_cast<uint8_t>(n % 2 == 0 ? v << 4 : v);
      ++n;
    }
    if (ok) {
      p.tag_ = kUuid;
      return p;
    }
    p = PackedId();
  }
  // A decimal without leading zeros that fits 64 bits: a pending id.
  if (id.size() <= 19 && (id[0] != '0' || id.size() == 1) &&
      id.find_first_not_of("0123456789") == absl::string_view::npos) {
    uint64_t v = 0;
    for (char c : id) v = v * 10 + static_cast<uint64_t>(c - '0');
    std::memcpy(p.bytes_, &v, sizeof(v));
    p.tag_ = kNumber;
    return p;
  }
  PutU32(p.bytes_, Strings().Intern(id));
  p.tag_ = kInterned;
  return p;
}

std::string PackedId::ToString() const {
  switch (tag_) {
    case kEmpty:
      return std::string();
    case kUuid: {
      std::string out(36, '-');
      size_t n = 0;
      for (size_t i = 0; i < out.size(); ++i) {
        if (IsDash(i)) continue;
        uint8_t b = bytes_[n / 2];
        out[i] = kHex[n % 2 == 0 ? b >> 4 : b & 0xF];
        ++n;
      }
      return out;
    }
    case kNumber: {
      uint64_t v;
      std::memcpy(&v, bytes_, sizeof(v));
      return std::to_string(v);
    }
    default:
      return Strings().Get(GetU32(bytes_));
  }
}

int PackedId::Compare(const PackedId& a, const PackedId& b) {
  if (a.tag_ == kUuid && b.tag_ == kUuid) {
    // Lower-case hex digits sort as the nibbles they stand for.
    return std::memcmp(a.bytes_, b.bytes_, sizeof(a.bytes_));
  }
  return a.ToString().compare(b.ToString());
}

PackedSum PackedSum::Of(absl::string_view base64) {
  PackedSum p;
  if (base64.empty()) return p;
  std::string raw;
  // Only a form that encodes back to the same text is packed.
  if (base64.size() == 28 && absl::Base64Unescape(base64, &raw) && raw.size() == 20 &&
      absl::Base64Escape(raw) == base64) {
    std::memcpy(p.bytes_, raw.data(), 20);
    p.tag_ = kSha1;
    return p;
  }
  PutU32(p.bytes_, Strings().Intern(base64));
  p.tag_ = kInterned;
  return p;
}

std::string PackedSum::ToString() const {
  switch (tag_) {
    case kEmpty:
      return std::string();
    case kSha1:
      return absl::Base64Escape(
          absl::string_view(reinterpret_cast<const char*>(bytes_), sizeof(bytes_)));
    default:
      return Strings().Get(GetU32(bytes_));
  }
}

}  // namespace immichfs::fs
