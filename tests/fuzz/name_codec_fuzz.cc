// libFuzzer target for the name codec (fs/name_codec.h). For any bytes x
// (a name as Immich could send it) it checks what the design promises:
//  - EncodeName(x) is a valid entry name if it fits NAME_MAX, and so is what
//    the listing makes of it with an id tag (FitNameMax), and it holds no
//    control character or DEL and is not only spaces;
//  - DecodeName(EncodeName(x)) == x, and EncodeName(x) is canonical;
//  - two different names never encode alike (the input is split in two);
//  - DecodeName and IsCanonicalName take any bytes (a name a user typed),
//    and a canonical name decodes to something that encodes back to it.
// The input is also used as a shown name, for the last point.
// tests/fuzz/regressions/name_codec/ holds inputs that broke the codec
// before the rule (empty, not UTF-8): run them as arguments to the binary.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>

#include "fs/name_codec.h"

namespace {

using immichfs::fs::DecodeName;
using immichfs::fs::EncodeName;
using immichfs::fs::FitNameMax;
using immichfs::fs::IsCanonicalName;
using immichfs::fs::IsValidEntryName;
using immichfs::fs::kNameMax;

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "name codec property broken: %s\n", what);
  std::abort();
}

void CheckOne(const std::string& x) {
  const std::string shown = EncodeName(x);
  // Within NAME_MAX it is shown as it is; beyond, shortened with an id tag.
  if (shown.size() <= kNameMax) Check(IsValidEntryName(shown), "an encoded name is invalid");
  Check(IsValidEntryName(FitNameMax(shown, "3f2a9c01")), "tagged name invalid");
  // What the design maps besides: control characters, DEL, all-space names.
  for (char c : shown) Check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F, "control char");
  Check(shown.find_first_not_of(' ') != std::string::npos, "a name of only spaces");
  Check(DecodeName(shown) == x, "decode(encode(x)) != x");
  Check(IsCanonicalName(shown), "an encoded name is not canonical");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  CheckOne(input);
  // Distinct inputs, distinct names.
  const size_t half = size / 2;
  const std::string a = input.substr(0, half), b = input.substr(half);
  CheckOne(a);
  CheckOne(b);
  Check((a == b) == (EncodeName(a) == EncodeName(b)), "two names encode alike");
  // The input as a name a user typed.
  const std::string decoded = DecodeName(input);
  if (IsCanonicalName(input)) Check(EncodeName(decoded) == input, "canonical name changes");
  return 0;
}
