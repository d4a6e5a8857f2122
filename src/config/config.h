// The mount's configuration: parsed from the command line (or a mount
// helper's `-o` list) through a fuse_opt table, then validated as a whole so
// that every bad option is reported at once, each naming the option.
#ifndef IMMICHFS_CONFIG_CONFIG_H_
#define IMMICHFS_CONFIG_CONFIG_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/log.h"

namespace immichfs::config {

struct Config {
  std::string server_url;
  std::string mountpoint;

  std::string api_key_file;       // api_key_file=; else $IMMICH_API_KEY
  std::string api_key;            // loaded by Validate(), never from argv
  std::string cache_dir;          // cache_dir=; default $XDG_CACHE_HOME/immichfs or /var/cache/immichfs
  uint64_t cache_size = 2ull << 30;   // cache_size= bytes, K/M/G/T suffixes
  double dir_cache_ttl = 10.0;    // seconds a listing is trusted before a cheap revalidation
  double attr_timeout = 1.0;      // kernel entry/attr cache, seconds
  // Owner of every file; default (unset) is the user who mounts.
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  mode_t umask = 022;
  bool allow_other = false;
  LogLevel log_level = LogLevel::kInfo;
  std::string ca_file;
  bool insecure_tls = false;
  bool offline_start = false;     // mount even if Immich cannot be reached
  double settle = 2.0;            // seconds after the last close before a commit
  int upload_workers = 8;

  bool foreground = false;        // -f
  bool debug = false;             // -d: foreground + FUSE protocol trace
  bool single_thread = false;     // -s (not as a mount helper, where -s means sloppy)
  bool show_help = false;
  bool show_version = false;

  // Options handed to libfuse unchanged (fsname=, subtype=, ro, nosuid, ...).
  std::vector<std::string> fuse_options;
};

// Exit codes: one per reason a mount can fail, documented in immichfs(1).
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,          // bad command line or option
  kExitUnreachable = 2,    // the server did not answer
  kExitAuth = 3,           // the API key was rejected
  kExitVersion = 4,        // the server is not a supported Immich
  kExitMountpoint = 5,     // the mountpoint is missing, busy or not a directory
  kExitInternal = 6,       // anything else (cache dir unusable, FUSE setup failed)
};

// Parses argv. `errors` receives one line per problem (all of them); the
// result is meaningful only when `errors` is empty.
Config ParseCommandLine(int argc, char** argv, std::vector<std::string>* errors);

// Cross-field checks and defaults that need the environment: loads the API
// key, fills cache_dir, uid/gid. Appends every problem to `errors`.
void Validate(Config* config, std::vector<std::string>* errors);

std::string UsageText(const char* program);

// "512M", "2G", "1048576" -> bytes. False on anything else.
bool ParseSize(const std::string& text, uint64_t* bytes);

}  // namespace immichfs::config

#endif  // IMMICHFS_CONFIG_CONFIG_H_
