#include "config/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace immichfs::config {
namespace {

// Far more than any key; a bigger file is not a key file.
constexpr size_t kMaxKeyFile = 4096;

// Closes the descriptor on every path out of ReadApiKeyFile.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status FileError(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("option 'api_key_file': ", path, " ", what));
}

}  // namespace

absl::Status CheckApiKey(absl::string_view key, absl::string_view source) {
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, " holds no API key; create one in Immich under Account Settings > API Keys"));
  }
  for (size_t i = 0; i < key.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(key[i]);
    if (c > ' ' && c < 0x7f) continue;
    const char* what = c == '\n' || c == '\r' ? "a line break"
                       : c == ' '             ? "a space"
                                              : "a control or non-ASCII character";
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the API key holds %s (byte 0x%02x at offset %d); it must be the key alone on one "
        "line (blanks around it are ignored)", source, what, c, i));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadApiKeyFile(const std::string& path,
                                           std::vector<std::string>* warnings) {
  // O_NONBLOCK: a FIFO must not hang the mount; it is refused below. Symlinks
  // are followed (Kubernetes secrets and many setups are links): what is
  // checked and read is the one file this open reached, via its descriptor.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) {
    return FileError(path, absl::StrCat("cannot be read: ", std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return FileError(path, absl::StrCat("cannot be examined: ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) return FileError(path, "is not a regular file");
  if (st.st_size > static_cast<off_t>(kMaxKeyFile)) {
    return FileError(path, absl::StrCat("is ", st.st_size, " bytes long; an API key file holds "
                                        "only the key"));
  }
  if ((st.st_mode & 077) != 0) {
    // Not fatal (a user's own machine), but say it: the key is a password.
    warnings->push_back(absl::StrFormat("api_key_file %s is readable by others (mode %o); "
                                        "chmod 600 it", path, st.st_mode & 07777));
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    warnings->push_back(absl::StrFormat("api_key_file %s belongs to uid %d, who can change the "
                                        "key; give it to the mounting user or root",
                                        path, st.st_uid));
  }
  std::string text(kMaxKeyFile + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError(path, absl::StrCat("cannot be read: ", std::strerror(errno)));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > kMaxKeyFile) return FileError(path, "grew while it was read; try again");
  text.resize(got);
  absl::string_view key = text;
  // Blanks and line ends around the key were always ignored (editors add
  // them); only what lies inside the key can reach an HTTP header.
  key = absl::StripAsciiWhitespace(key);
  if (key.empty()) return FileError(path, "is empty; put the Immich API key in it");
  if (absl::Status s = CheckApiKey(key, absl::StrCat("option 'api_key_file': ", path)); !s.ok()) {
    return s;
  }
  return std::string(key);
}

}  // namespace immichfs::config
