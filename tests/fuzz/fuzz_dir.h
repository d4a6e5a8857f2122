// Scratch files for the fuzz targets that read from disk (the journal, the
// stored listings and album list): one private directory per process, on
// tmpfs when there is one, removed at exit.
#ifndef IMMICHFS_TESTS_FUZZ_FUZZ_DIR_H_
#define IMMICHFS_TESTS_FUZZ_FUZZ_DIR_H_

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/string_view.h"

namespace immichfs::fuzz {

inline std::string& ScratchRoot() {
  static std::string root;
  return root;
}

// A fresh directory for `name`; aborts when none can be made (the target
// could test nothing).
inline std::string ScratchDir(const char* name) {
  const char* base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  std::string tmpl = std::string(base) + "/immichfs-fuzz-" + name + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  ScratchRoot() = tmpl;
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(ScratchRoot(), ec);
  });
  return tmpl;
}

// Replaces `path` with exactly `text`. False when it cannot (e.g. the name is
// a directory); the caller decides whether that may happen.
inline bool TryWriteWhole(const std::string& path, absl::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return ::close(fd) == 0 && ok;
}

// The same for a file that must be written; aborts when it cannot (a full
// /dev/shm is not a finding).
inline void WriteWhole(const std::string& path, absl::string_view text) {
  if (!TryWriteWhole(path, text)) {
    std::perror(path.c_str());
    std::abort();
  }
}

}  // namespace immichfs::fuzz

#endif  // IMMICHFS_TESTS_FUZZ_FUZZ_DIR_H_
