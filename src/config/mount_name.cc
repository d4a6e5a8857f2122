#include "config/mount_name.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace immichfs::config {

bool UrlHasUserinfo(absl::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return false;
  absl::string_view rest = url.substr(scheme_end + 3);
  return rest.substr(0, rest.find_first_of("/?#")).find('@') != absl::string_view::npos;
}

std::string MountSourceName(absl::string_view url) {
  std::string out = "immichfs#";
  for (char ch : url) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (absl::ascii_isalnum(c) || absl::string_view("-._~:/@[]%+=").find(ch) !=
                                      absl::string_view::npos) {
      out.push_back(ch);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

}  // namespace immichfs::config
