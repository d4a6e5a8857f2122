#include "fs/name_policy.h"

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "fs/name_codec.h"

namespace immichfs::fs {
namespace {

constexpr absl::string_view kTempSuffixes[] = {".filepart", ".partial", ".part", ".tmp",
                                                ".temp",     ".crdownload", "~"};

// rsync's mkstemp name: "." + name + "." + 6 of [A-Za-z0-9].
std::optional<absl::string_view> RsyncInner(absl::string_view name) {
  if (name.size() < 9 || name[0] != '.') return std::nullopt;
  absl::string_view suffix = name.substr(name.size() - 7);
  if (suffix[0] != '.') return std::nullopt;
  for (char c : suffix.substr(1)) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return std::nullopt;
  }
  absl::string_view inner = name.substr(1, name.size() - 8);
  if (inner.empty()) return std::nullopt;
  // The 6 characters must not be the file's own extension (".abcdef.jpg" is
  // not a temp name, but ".x.jpg.AbC123" is): the inner name needs a dot.
  if (!absl::StrContains(inner, '.')) return std::nullopt;
  return inner;
}

}  // namespace

std::string FinalNameOf(absl::string_view name) {
  if (std::optional<absl::string_view> inner = RsyncInner(name)) return std::string(*inner);
  for (absl::string_view suffix : kTempSuffixes) {
    if (name.size() > suffix.size() && absl::EndsWithIgnoreCase(name, suffix)) {
      return std::string(name.substr(0, name.size() - suffix.size()));
    }
  }
  return std::string(name);
}

NamePolicy::NamePolicy(immich::ImmichApi* api, absl::Duration retry, Clock clock)
    : api_(api), retry_(retry), clock_(std::move(clock)) {}

std::optional<bool> NamePolicy::Accepts(const std::string& lower_ext) {
  {
    absl::MutexLock lock(&mu_);
    if (accepted_) return accepted_->contains(lower_ext);
    if (clock_() - last_try_ < retry_) return std::nullopt;
    last_try_ = clock_();
  }
  // Fetched without the lock: a slow server must not block other checks.
  absl::StatusOr<immich::MediaTypes> types = api_->GetMediaTypes();
  absl::MutexLock lock(&mu_);
  if (!types.ok()) {
    LOG(kWarning, "media types not known yet (%s); accepting every extension until they are",
        types.status().ToString());
    return accepted_ ? std::optional<bool>(accepted_->contains(lower_ext)) : std::nullopt;
  }
  if (!accepted_) {
    accepted_.emplace();
    for (const auto* list : {&types->image, &types->video}) {
      for (const std::string& ext : *list) accepted_->insert(absl::AsciiStrToLower(ext));
    }
  }
  return accepted_->contains(lower_ext);
}

absl::Status CheckNewName(const std::string& name, absl::string_view what) {
  const std::string immich_name = DecodeName(name);
  std::string why;
  if (immich_name.find('\0') != std::string::npos || !IsValidUtf8(immich_name)) {
    why = "it stands for a name with a NUL or a byte that is not UTF-8, which Immich cannot "
          "store";
  } else if (!IsCanonicalName(name)) {
    why = absl::StrCat("immichfs shows the name Immich would get (\"",
                       absl::Utf8SafeCHexEscape(immich_name), "\") as '", EncodeName(immich_name),
                       "'; use that spelling");
  } else {
    return absl::OkStatus();
  }
  // Escaped: the name may hold a newline or bytes that are not text.
  return ErrnoError(EINVAL, absl::StrCat(what, " name \"", absl::Utf8SafeCHexEscape(name),
                                         "\" refused with EINVAL: ", why,
                                         " (see \"Names\" in immichfs(1))"));
}

absl::Status NamePolicy::CheckName(const std::string& name) {
  if (absl::Status st = CheckNewName(name, "file"); !st.ok()) return st;
  const std::string final_name = FinalNameOf(name);
  if (IsAppleDouble(final_name)) {
    return ErrnoError(EOPNOTSUPP,
                      absl::StrCat("'", name, "' is a macOS resource-fork file (AppleDouble "
                                   "'._' companion), not a photo; refused with EOPNOTSUPP"));
  }
  const std::string ext = LowerExtension(final_name);
  if (Accepts(ext).value_or(true)) return absl::OkStatus();
  return ErrnoError(
      EOPNOTSUPP,
      absl::StrCat("'", name, "': Immich does not accept ",
                   ext.empty() ? std::string("files without an extension")
                               : absl::StrCat("'", ext, "' files"),
                   " (see GET /api/server/media-types); refused with EOPNOTSUPP"));
}

absl::Status NamePolicy::Precheck(const std::string& name, uint64_t size) {
  if (IsTempName(name)) {
    return absl::UnavailableError(absl::StrCat(
        "'", name, "' still has a temporary name; waiting for the client to rename it to '",
        FinalNameOf(name), "' before uploading"));
  }
  if (size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' is empty; Immich does not accept empty files"));
  }
  if (IsAppleDouble(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' is a macOS resource-fork file, not a photo"));
  }
  const std::string ext = LowerExtension(name);
  if (!Accepts(ext).value_or(true)) {
    return absl::InvalidArgumentError(absl::StrCat("Unsupported file type '", ext, "' of '",
                                                   name, "' (Immich refuses it)"));
  }
  return absl::OkStatus();
}

}  // namespace immichfs::fs
