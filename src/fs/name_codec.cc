#include "fs/name_codec.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace immichfs::fs {
namespace {

constexpr absl::string_view kSlash = "\xEF\xBC\x8F";   // U+FF0F FULLWIDTH SOLIDUS
constexpr absl::string_view kNul = "\xE2\x90\x80";     // U+2400 SYMBOL FOR NULL
constexpr absl::string_view kQuote = "\xE2\x80\x9B";   // U+201B SINGLE HIGH-REVERSED-9

bool StartsAt(absl::string_view s, size_t i, absl::string_view what) {
  return s.substr(i, what.size()) == what;
}

// Largest prefix length <= max that does not cut a UTF-8 sequence.
size_t Utf8Prefix(absl::string_view s, size_t max) {
  if (s.size() <= max) return s.size();
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

std::pair<absl::string_view, absl::string_view> SplitExtension(absl::string_view name) {
  size_t dot = name.rfind('.');
  // A leading dot is a hidden name, not an extension; cap the extension so a
  // name of one long "extension" still shortens sensibly.
  if (dot == absl::string_view::npos || dot == 0 || name.size() - dot > 16) return {name, ""};
  return {name.substr(0, dot), name.substr(dot)};
}

}  // namespace

std::string EncodeName(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    if (in[i] == '/') {
      absl::StrAppend(&out, kSlash);
      ++i;
    } else if (in[i] == '\0') {
      absl::StrAppend(&out, kNul);
      ++i;
    } else if (StartsAt(in, i, kSlash) || StartsAt(in, i, kNul) || StartsAt(in, i, kQuote)) {
      absl::StrAppend(&out, kQuote);
      absl::StrAppend(&out, in.substr(i, 3));
      i += 3;
    } else {
      out += in[i++];
    }
  }
  // "." and ".." cannot be entries; Immich allows them as names.
  if (out == "." || out == "..") out.insert(0, std::string(kQuote));
  return out;
}

std::string DecodeName(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    if (StartsAt(in, i, kQuote) && i + 3 < in.size()) {
      i += 3;
      // The quoted character is copied as it is: one UTF-8 sequence or byte.
      size_t len = 1;
      unsigned char c = static_cast<unsigned char>(in[i]);
      if (c >= 0xF0) len = 4;
      else if (c >= 0xE0) len = 3;
      else if (c >= 0xC0) len = 2;
      absl::StrAppend(&out, in.substr(i, len));
      i += len;
    } else if (StartsAt(in, i, kSlash)) {
      out += '/';
      i += 3;
    } else if (StartsAt(in, i, kNul)) {
      out += '\0';
      i += 3;
    } else {
      out += in[i++];
    }
  }
  return out;
}

std::string FitNameMax(absl::string_view name, absl::string_view tag) {
  std::string suffix = tag.empty() ? "" : absl::StrCat(" (", tag, ")");
  auto [stem, ext] = SplitExtension(name);
  size_t room = kNameMax - suffix.size() - ext.size();
  if (stem.size() + suffix.size() + ext.size() <= kNameMax) {
    return absl::StrCat(stem, suffix, ext);
  }
  return absl::StrCat(stem.substr(0, Utf8Prefix(stem, room)), suffix, ext);
}

std::string WithTag(absl::string_view name, absl::string_view tag) { return FitNameMax(name, tag); }

std::string LowerExtension(absl::string_view name) {
  auto [stem, ext] = SplitExtension(name);
  (void)stem;
  return absl::AsciiStrToLower(ext);
}

}  // namespace immichfs::fs
