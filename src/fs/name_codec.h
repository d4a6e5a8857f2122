// Names as the filesystem shows them. Immich names may hold '/' or NUL, or be
// longer than NAME_MAX; a directory entry may not. The mapping is rclone's:
// '/' shows as U+FF0F (／), NUL as U+2400 (␀), and a name that already holds
// one of those replacement characters gets U+201B (‛) before it, so that
// decoding is exact. Names that do not fit NAME_MAX are shortened and made
// unique with the asset's id (the listing table keeps the way back).
#ifndef IMMICHFS_FS_NAME_CODEC_H_
#define IMMICHFS_FS_NAME_CODEC_H_

#include <string>
#include "absl/strings/string_view.h"

namespace immichfs::fs {

inline constexpr size_t kNameMax = 255;

std::string EncodeName(absl::string_view immich_name);
std::string DecodeName(absl::string_view shown_name);

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
