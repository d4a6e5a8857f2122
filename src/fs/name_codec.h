// Names as the filesystem shows them. Immich takes any string as an album
// name or an originalFileName (another user's shared album included); a
// directory entry must be non-empty valid UTF-8 (for the tools that read it)
// without '/' or NUL, and may not be "." or "..". EncodeName maps every
// server name to such a name, one to one, in rclone's visible style:
//
//   '/'                     -> U+FF0F (／)
//   control byte c < 0x20   -> U+2400 + c (␀ ␁ ... ␉ for tab, ␊ for newline ... ␟)
//   DEL (0x7F)              -> U+2421 (␡)
//   a byte that is not part of valid UTF-8 -> U+201B (‛) and two upper-case
//                              hex digits, e.g. 0xFF -> "‛FF"
//   one of the characters above, or ‛ itself, in the server name
//                           -> ‛ before it ("a␊b" in Immich shows as "a‛␊b")
//   whole name ""           -> "∅" (U+2205); a name that is "∅" shows as "‛∅"
//   whole name "." / ".."   -> "‛." / "‛.."
//   whole name of only spaces -> one ␠ (U+2420) per space. Spaces around
//                              other characters are kept: names people
//                              already see do not change.
//
// Every other character is kept, so ordinary names show as they are.
// DecodeName inverts it: DecodeName(EncodeName(x)) == x for every byte
// string x, so two different server names never show alike. A shown name s
// is canonical when EncodeName(DecodeName(s)) == s; only canonical names can
// be created (a file or album made under another spelling would change its
// name once Immich has it). Names that do not fit NAME_MAX are shortened and
// made unique with the asset's id (FitNameMax; the listing keeps the way
// back, so such a name is looked up, never decoded).
#ifndef IMMICHFS_FS_NAME_CODEC_H_
#define IMMICHFS_FS_NAME_CODEC_H_

#include <string>
#include "absl/strings/string_view.h"

namespace immichfs::fs {

inline constexpr size_t kNameMax = 255;

std::string EncodeName(absl::string_view immich_name);
// Total: any input decodes to something (escapes it does not know are kept
// as they are).
std::string DecodeName(absl::string_view shown_name);
// EncodeName(DecodeName(shown)) == shown.
bool IsCanonicalName(absl::string_view shown_name);
// Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF.
bool IsValidUtf8(absl::string_view s);
// What a directory entry may be named: non-empty, at most NAME_MAX bytes,
// no '/' or NUL, not "." or "..", valid UTF-8.
bool IsValidEntryName(absl::string_view name);

// "IMG_1.jpg" + "3f2a9c01" -> "IMG_1 (3f2a9c01).jpg". `tag` is the first
// 8 hex digits of the asset or album id. Keeps the result within NAME_MAX.
std::string WithTag(absl::string_view name, absl::string_view tag);

// Shortens `name` at a UTF-8 boundary so that name + tag fits NAME_MAX,
// keeping the extension. Used for names Immich accepts but Linux does not.
std::string FitNameMax(absl::string_view name, absl::string_view tag);

// ".jpg" from "a.b.JPG" (lower case); empty when there is none.
std::string LowerExtension(absl::string_view name);

}  // namespace immichfs::fs

#endif  // IMMICHFS_FS_NAME_CODEC_H_
