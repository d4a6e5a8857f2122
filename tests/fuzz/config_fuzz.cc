// The command line (src/config/config.cc): ParseCommandLine through libfuse's
// fuse_opt, then Validate, on any argument list. mount(8), fstab and systemd
// hand us option strings we do not control; every bad one must become an
// error line, never a crash.
//
// Input: the arguments, separated by NUL bytes; the first is argv[0] (so
// "mount.immichfs" exercises the mount-helper rules). Validate reads the API
// key file: any api_key_file= is pointed at a scratch file holding the bytes
// after the last "\0KEY\0" of the input (or none, to test a missing file), so
// the fuzzer never opens files of the machine (/dev/zero, a FIFO) and still
// reaches the key checks. ca_file= is pointed there too.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/log.h"
#include "config/config.h"
#include "fuzz_dir.h"

namespace {

using immichfs::config::Config;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  immichfs::SetLogLevel(immichfs::LogLevel::kError);
  ::unsetenv("IMMICH_API_KEY");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = immichfs::fuzz::ScratchDir("config");
  const std::string key_path = dir + "/key";
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr absl::string_view kKey("\0KEY\0", 5);
  bool have_key = false;
  if (size_t at = input.rfind(kKey); at != absl::string_view::npos) {
    immichfs::fuzz::WriteWhole(key_path, input.substr(at + kKey.size()));
    input = input.substr(0, at);
    have_key = true;
  } else {
    ::unlink(key_path.c_str());
  }
  std::vector<std::string> args;
  size_t start = 0;
  for (;;) {
    size_t nul = input.find('\0', start);
    args.emplace_back(input.substr(start, nul == absl::string_view::npos ? nul : nul - start));
    if (nul == absl::string_view::npos) break;
    start = nul + 1;
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> errors;
  Config config =
      immichfs::config::ParseCommandLine(static_cast<int>(args.size()), argv.data(), &errors);
  if (!config.api_key_file.empty()) config.api_key_file = have_key ? key_path : dir + "/none";
  if (!config.ca_file.empty()) config.ca_file = key_path;
  immichfs::config::Validate(&config, &errors);
  (void)immichfs::config::UsageText(argv[0]);
  return 0;
}
