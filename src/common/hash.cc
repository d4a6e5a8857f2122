#include "common/hash.h"

#include <openssl/evp.h>
#include <xxhash.h>

#include <algorithm>
#include <new>

namespace immichfs {

struct Sha1::Ctx {
  EVP_MD_CTX* md;
};

Sha1::Sha1() : ctx_(new Ctx{EVP_MD_CTX_new()}) {
  if (ctx_->md == nullptr) throw std::bad_alloc();
  Reset();
}

Sha1::~Sha1() {
  EVP_MD_CTX_free(ctx_->md);
  delete ctx_;
}

void Sha1::Reset() { EVP_DigestInit_ex(ctx_->md, EVP_sha1(), nullptr); }

void Sha1::Update(const void* data, size_t size) {
  EVP_DigestUpdate(ctx_->md, data, size);
}

Sha1Digest Sha1::Final() {
  Sha1Digest out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_->md, out.data(), &len);
  Reset();
  return out;
}

Sha1Digest Sha1Of(absl::string_view bytes) {
  Sha1 sha;
  sha.Update(bytes.data(), bytes.size());
  return sha.Final();
}

std::string ToHex(const uint8_t* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xf];
  }
  return out;
}

std::string ToBase64(const uint8_t* data, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                          static_cast<int>(size));
  out.resize(n);
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<Sha1Digest> ParseSha1(absl::string_view text) {
  Sha1Digest out{};
  if (text.size() == 40) {
    for (size_t i = 0; i < 20; ++i) {
      int hi = HexValue(text[2 * i]), lo = HexValue(text[2 * i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    return out;
  }
  // 20 bytes are 27 base64 digits and exactly one '=' of padding.
  if (text.size() == 28 && text[27] == '=' && text.substr(0, 27).find('=') == absl::string_view::npos) {
    unsigned char buf[24];
    int n = EVP_DecodeBlock(buf, reinterpret_cast<const unsigned char*>(text.data()), 28);
    // EVP_DecodeBlock does not strip padding: 28 chars decode to 21 bytes.
    if (n != 21) return std::nullopt;
    std::copy(buf, buf + 20, out.begin());
    return out;
  }
  return std::nullopt;
}

uint64_t Xxh64(const void* data, size_t size, uint64_t seed) {
  return XXH64(data, size, seed);
}

}  // namespace immichfs
