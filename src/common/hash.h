// Content hashing. Immich identifies content by SHA-1 (base64 in JSON, hex or
// base64 in the x-immich-checksum header); the spool hashes while data streams
// in, so Sha1 is incremental.
#ifndef IMMICHFS_COMMON_HASH_H_
#define IMMICHFS_COMMON_HASH_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

namespace immichfs {

using Sha1Digest = std::array<uint8_t, 20>;

class Sha1 {
 public:
  Sha1();
  ~Sha1();
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;

  void Update(const void* data, size_t size);
  Sha1Digest Final();
  void Reset();

 private:
  struct Ctx;
  Ctx* ctx_;
};

// The SHA-1 of bytes held in memory, at once.
Sha1Digest Sha1Of(absl::string_view bytes);

std::string ToHex(const uint8_t* data, size_t size);
// The value of one hex digit (either case), or -1.
int HexValue(char c);
inline std::string ToHex(const Sha1Digest& d) { return ToHex(d.data(), d.size()); }
std::string ToBase64(const uint8_t* data, size_t size);
inline std::string ToBase64(const Sha1Digest& d) { return ToBase64(d.data(), d.size()); }
// Accepts the 40-char hex or the 28-char base64 form; nullopt on anything else.
std::optional<Sha1Digest> ParseSha1(absl::string_view text);

// Fast non-cryptographic hash (xxHash64) for keys and journal record checks.
uint64_t Xxh64(const void* data, size_t size, uint64_t seed = 0);

}  // namespace immichfs

#endif  // IMMICHFS_COMMON_HASH_H_
