#include "fs/name_codec.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace immichfs::fs {
namespace {

constexpr absl::string_view kSlash = "\xEF\xBC\x8F";  // U+FF0F FULLWIDTH SOLIDUS
constexpr absl::string_view kQuote = "\xE2\x80\x9B";  // U+201B SINGLE HIGH-REVERSED-9
constexpr absl::string_view kEmpty = "\xE2\x88\x85";  // U+2205 EMPTY SET
constexpr absl::string_view kSpace = "\xE2\x90\xA0";  // U+2420 SYMBOL FOR SPACE
// Control pictures U+2400..U+2421 are E2 90 80..A1: U+2400 + c for c < 0x20,
// U+2420 for a space (whole-space names only), U+2421 for DEL.
constexpr unsigned char kPictureLead1 = 0xE2, kPictureLead2 = 0x90;
constexpr unsigned char kPictureFirst = 0x80, kPictureSpace = 0xA0, kPictureDel = 0xA1;
constexpr char kHex[] = "0123456789ABCDEF";

bool StartsAt(absl::string_view s, size_t i, absl::string_view what) {
  return s.substr(i, what.size()) == what;
}

// Length of the valid UTF-8 sequence at s[i], or 0 if the byte there does
// not start one (strict: no overlong forms, surrogates or > U+10FFFF).
size_t Utf8Len(absl::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  const auto c1 = static_cast<unsigned char>(s[i + 1]);
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xF0 && c1 < 0x90)) return 0;  // overlong
  if (c == 0xED && c1 > 0x9F) return 0;                                 // surrogate
  if (c == 0xF4 && c1 > 0x8F) return 0;                                 // > U+10FFFF
  return n;
}

// A character EncodeName uses as a replacement (or its quote): one that is
// in the server name itself is shown with the quote before it.
bool IsReplacement(absl::string_view s, size_t i, size_t len) {
  if (len != 3) return false;
  if (StartsAt(s, i, kSlash) || StartsAt(s, i, kQuote)) return true;
  const auto c1 = static_cast<unsigned char>(s[i]), c2 = static_cast<unsigned char>(s[i + 1]),
             c3 = static_cast<unsigned char>(s[i + 2]);
  return c1 == kPictureLead1 && c2 == kPictureLead2 && c3 >= kPictureFirst && c3 <= kPictureDel;
}

void AppendPicture(std::string* out, unsigned char last) {
  out->push_back(static_cast<char>(kPictureLead1));
  out->push_back(static_cast<char>(kPictureLead2));
  out->push_back(static_cast<char>(last));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of what follows a quote at s[i] that DecodeName takes as quoted
// (a replacement character, '.', or ∅), else 0.
size_t QuotedLen(absl::string_view s, size_t i) {
  if (i >= s.size()) return 0;
  const size_t len = Utf8Len(s, i);
  if (len == 0) return 0;
  if (s[i] == '.' || IsReplacement(s, i, len) || StartsAt(s, i, kEmpty)) return len;
  return 0;
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
  // Whole names that cannot, or should not, be entries as they are.
  if (in.empty()) return std::string(kEmpty);
  if (in == "." || in == ".." || in == kEmpty) return absl::StrCat(kQuote, in);
  if (in.find_first_not_of(' ') == absl::string_view::npos) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) absl::StrAppend(&out, kSpace);
    return out;
  }
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (c == '/') {
      absl::StrAppend(&out, kSlash);
      ++i;
    } else if (c < 0x20) {
      AppendPicture(&out, static_cast<unsigned char>(kPictureFirst + c));
      ++i;
    } else if (c == 0x7F) {
      AppendPicture(&out, kPictureDel);
      ++i;
    } else if (const size_t len = Utf8Len(in, i); len == 0) {
      absl::StrAppend(&out, kQuote);
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
      ++i;
    } else {
      if (IsReplacement(in, i, len)) absl::StrAppend(&out, kQuote);
      absl::StrAppend(&out, in.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string DecodeName(absl::string_view in) {
  if (in == kEmpty) return "";
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size();) {
    if (StartsAt(in, i, kQuote)) {
      if (const size_t len = QuotedLen(in, i + kQuote.size()); len > 0) {
        absl::StrAppend(&out, in.substr(i + kQuote.size(), len));
        i += kQuote.size() + len;
        continue;
      }
      const size_t h = i + kQuote.size();
      if (h + 2 <= in.size() && HexValue(in[h]) >= 0 && HexValue(in[h + 1]) >= 0) {
        out.push_back(static_cast<char>(HexValue(in[h]) * 16 + HexValue(in[h + 1])));
        i = h + 2;
        continue;
      }
      // A quote that quotes nothing is itself (not canonical, never encoded).
    }
    if (StartsAt(in, i, kSlash)) {
      out += '/';
      i += kSlash.size();
      continue;
    }
    if (IsReplacement(in, i, Utf8Len(in, i)) && !StartsAt(in, i, kQuote)) {
      const auto last = static_cast<unsigned char>(in[i + 2]);
      out += last == kPictureDel ? '\x7F'
             : last == kPictureSpace ? ' '
                                     : static_cast<char>(last - kPictureFirst);
      i += 3;
      continue;
    }
    out += in[i++];
  }
  return out;
}

bool IsCanonicalName(absl::string_view shown) { return EncodeName(DecodeName(shown)) == shown; }

bool IsValidUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = Utf8Len(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

bool IsValidEntryName(absl::string_view name) {
  return !name.empty() && name.size() <= kNameMax && name != "." && name != ".." &&
         name.find('/') == absl::string_view::npos &&
         name.find('\0') == absl::string_view::npos && IsValidUtf8(name);
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
