// immichfs: wiring only. Parse and validate the options, check the server
// before touching the mountpoint, build the layers, mount, detach, serve.
//
// Every reason a mount can fail has its own exit code (config.h, immichfs(1))
// and one line on stderr that says what to do.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"
#include "config/config.h"
#include "config/mount_name.h"
#include "fs/catalog_store.h"
#include "fs/filesystem.h"
#include "fuse_ll/session.h"
#include "immich/batching_api.h"
#include "immich/http_api.h"
#include "readcache/block_cache.h"
#include "readcache/read_path.h"
#include "spool/spool.h"

namespace immichfs {
namespace {

using config::Config;

int Fail(int code, const std::string& line) {
  std::fprintf(stderr, "immichfs: %s\n", line.c_str());
  return code;
}

// Maps a failed pre-mount check to its exit code and a line saying what to do.
int ServerCheckFailed(const Config& c, const absl::Status& s) {
  if (absl::IsUnauthenticated(s) || absl::IsPermissionDenied(s)) {
    return Fail(config::kExitAuth,
                absl::StrCat("the API key was rejected by ", c.server_url, " (", s.message(),
                             "); create a key in Immich under Account Settings > API Keys and "
                             "put it in api_key_file"));
  }
  if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) {
    return Fail(config::kExitUnreachable,
                absl::StrCat("cannot reach Immich at ", c.server_url, ": ", s.message(),
                             "; check the URL and that the server is up, or mount with "
                             "-o offline_start to mount anyway"));
  }
  if (absl::IsFailedPrecondition(s)) {  // TLS: the message says what to set (http_error.cc)
    return Fail(config::kExitVersion, absl::StrCat(c.server_url, ": ", s.message()));
  }
  return Fail(config::kExitVersion,
              absl::StrCat(c.server_url, " does not answer like an Immich server: ", s.message(),
                           "; give the server's base URL, e.g. https://photos.example.com"));
}

// Immich >= 2.0 has every route immichfs uses; 3.1 is the reference.
absl::Status CheckServer(immich::ImmichApi& api, const Config& c, int* exit_code,
                         std::string* version_text) {
  absl::StatusOr<immich::ServerVersion> version = api.GetVersion();
  if (!version.ok()) {
    *exit_code = ServerCheckFailed(c, version.status());
    return version.status();
  }
  if (!version->AtLeast(2, 0)) {
    *exit_code = Fail(config::kExitVersion,
                      absl::StrCat("Immich ", version->major, ".", version->minor, ".",
                                   version->patch, " at ", c.server_url,
                                   " is too old; immichfs needs Immich 2.0 or newer"));
    return absl::FailedPreconditionError("unsupported version");
  }
  absl::StatusOr<immich::User> me = api.GetMe();
  if (!me.ok()) {
    *exit_code = ServerCheckFailed(c, me.status());
    return me.status();
  }
  LOG(kInfo, "connected to Immich %d.%d.%d at %s as %s", version->major, version->minor,
      version->patch, c.server_url, me->email);
  *version_text = absl::StrCat(version->major, ".", version->minor, ".", version->patch);
  return absl::OkStatus();
}

// mkdir -p, private to the mounting user: the cache holds their photos.
absl::Status MakeDirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i != path.size() && path[i] != '/') continue;
    std::string prefix = path.substr(0, i);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoFromSyscall(errno, absl::StrCat("mkdir ", prefix));
    }
  }
  return absl::OkStatus();
}

int CheckMountpoint(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return Fail(config::kExitMountpoint,
                absl::StrCat("mountpoint ", path, ": ", std::strerror(errno),
                             "; create it with mkdir -p ", path));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Fail(config::kExitMountpoint, absl::StrCat("mountpoint ", path, " is not a directory"));
  }
  return 0;
}

// Step 1: the command line. Returns the exit code when there is nothing to
// mount (help, version, bad options), nullopt to go on.
std::optional<int> ParseOptions(int argc, char** argv, Config* c) {
  std::vector<std::string> errors;
  *c = config::ParseCommandLine(argc, argv, &errors);
  if (c->show_help) {
    std::fputs(config::UsageText(argv[0]).c_str(), stdout);
    return config::kExitOk;
  }
  if (c->show_version) {
    std::printf("immichfs %s\n", IMMICHFS_VERSION);
    return config::kExitOk;
  }
  if (errors.empty()) config::Validate(c, &errors);
  if (!errors.empty()) {
    for (const std::string& e : errors) std::fprintf(stderr, "immichfs: %s\n", e.c_str());
    std::fprintf(stderr, "Try 'immichfs --help'.\n");
    return config::kExitUsage;
  }
  SetLogLevel(c->debug ? LogLevel::kDebug : c->log_level);
  if (int rc = CheckMountpoint(c->mountpoint); rc != 0) return rc;
  return std::nullopt;
}

// Step 2: the Immich client, and the server checked before touching the
// mountpoint (with offline_start, an unreachable server is not fatal).
std::optional<int> ConnectToImmich(const Config& c, std::unique_ptr<immich::HttpImmichApi>* api,
                                   std::string* server_version) {
  immich::HttpApiOptions api_options;
  api_options.server_url = c.server_url;
  api_options.api_key = c.api_key;
  api_options.ca_file = c.ca_file;
  api_options.insecure_tls = c.insecure_tls;
  // The uploads, the cheap steps of the commits around them and the reads
  // each need connections of their own.
  api_options.max_connections = c.upload_workers + 8;
  absl::StatusOr<std::unique_ptr<immich::HttpImmichApi>> created =
      immich::HttpImmichApi::Create(api_options);
  if (!created.ok()) {
    return Fail(config::kExitUsage, absl::StrCat("server url: ", created.status().message()));
  }
  *api = *std::move(created);
  int exit_code = 0;
  if (absl::Status s = CheckServer(**api, c, &exit_code, server_version); !s.ok()) {
    bool offline_ok = c.offline_start && exit_code == config::kExitUnreachable;
    if (!offline_ok) return exit_code;
    LOG(kWarning, "Immich at %s is unreachable; mounting anyway (offline_start): listings show "
        "what is known until it is back", c.server_url);
  }
  return std::nullopt;
}

// What cache_dir holds that is opened before mounting.
struct CacheDir {
  std::unique_ptr<cache::Spool> spool;
  std::unique_ptr<cache::BlockCache> blocks;
};

// Step 3: the spool and the read cache, opened before mounting so that a bad
// cache_dir is an error the user sees on the terminal, not a mount that
// vanishes in the background.
std::optional<int> OpenCacheDir(const Config& c, immich::ImmichApi* api, CacheDir* out) {
  if (absl::Status s = MakeDirs(c.cache_dir); !s.ok()) {
    return Fail(config::kExitInternal,
                absl::StrCat("cache_dir: ", s.message(), "; give a writable -o cache_dir=DIR"));
  }
  // The write-back spool: opened (and recovered) now; its workers start after
  // the fork, when the Filesystem that owns its files exists (Spool::Start).
  cache::SpoolOptions spool_options;
  spool_options.dir = absl::StrCat(c.cache_dir, "/spool");
  spool_options.settle = absl::Seconds(c.settle);
  // More commits than uploads: while upload_workers uploads keep the server
  // busy, the others hash, check and wait for album adds (BatchingApi).
  spool_options.commit_workers = std::min(64, 4 * c.upload_workers);
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') {
    spool_options.device_id = absl::StrCat("immichfs-", host);
  }
  absl::StatusOr<std::unique_ptr<cache::Spool>> spool =
      cache::Spool::Open(spool_options, api);
  if (!spool.ok()) {
    // FailedPrecondition: another mount holds the spool; its message says what to do.
    const char* hint = absl::IsFailedPrecondition(spool.status())
                           ? ""
                           : "; give a writable -o cache_dir=DIR";
    return Fail(config::kExitInternal, absl::StrCat("write-back spool in ", spool_options.dir,
                                                    ": ", spool.status().message(), hint));
  }
  out->spool = *std::move(spool);
  // After the spool: its lock says this cache_dir is ours, so opening the
  // read cache (which clears stale temp files) cannot disturb another mount.
  cache::BlockCacheOptions block_options;
  block_options.dir = absl::StrCat(c.cache_dir, "/blocks");
  block_options.capacity = c.cache_size;
  absl::StatusOr<std::unique_ptr<cache::BlockCache>> blocks =
      cache::BlockCache::Open(block_options);
  if (!blocks.ok()) {
    return Fail(config::kExitInternal, absl::StrCat("read cache in ", c.cache_dir, ": ",
                                                    blocks.status().message(),
                                                    "; give a writable -o cache_dir=DIR"));
  }
  out->blocks = *std::move(blocks);
  return std::nullopt;
}

// Step 4: mount, then fork into the background (before any thread starts:
// the caches and the spool start threads).
std::optional<int> Mount(const Config& c, std::unique_ptr<fuse_ll::Session>* out) {
  fuse_ll::SessionOptions session_options;
  session_options.mountpoint = c.mountpoint;
  session_options.fuse_options = c.fuse_options;
  session_options.debug = c.debug;
  session_options.single_thread = c.single_thread;
  // Percent-encoded: a ',' in the URL must not become another mount option.
  session_options.fsname = config::MountSourceName(c.server_url);
  absl::StatusOr<std::unique_ptr<fuse_ll::Session>> session =
      fuse_ll::Session::Mount(session_options);
  if (!session.ok()) return Fail(config::kExitMountpoint, std::string(session.status().message()));
  if (absl::Status s = (*session)->Daemonize(c.foreground); !s.ok()) {
    return Fail(config::kExitInternal, std::string(s.message()));
  }
  *out = *std::move(session);
  return std::nullopt;
}

// Step 5: the filesystem over the client and the cache_dir, served until
// unmounted.
int Serve(const Config& c, immich::BatchingApi* api, CacheDir& cache_dir,
          fuse_ll::Session& session, const std::string& server_version) {
  cache::ReadPath reads(api, cache_dir.blocks.get(), cache::ReadPathOptions{});
  // The album list and listings, saved per server and user: a restart does
  // not page unchanged albums again, a start while Immich is down shows them.
  fs::CatalogStore catalog_store(c.cache_dir, absl::StrCat(c.server_url, "\n", c.api_key));
  fs::FsOptions fs_options;
  fs_options.uid = c.uid;
  fs_options.gid = c.gid;
  fs_options.umask = c.umask;
  fs_options.attr_timeout = absl::Seconds(c.attr_timeout);
  fs_options.dir_cache_ttl = absl::Seconds(c.dir_cache_ttl);
  fs_options.offline_start = c.offline_start;
  fs::Filesystem filesystem(api, &reads, fs_options);
  filesystem.SetSpool(cache_dir.spool.get());
  filesystem.SetCallStats([api] { return api->Stats(); });
  filesystem.SetNotifier(session.notifier());
  filesystem.SetServerVersion(server_version);
  filesystem.SetCatalogStore(&catalog_store);
  if (absl::Status s = filesystem.Prime(); !s.ok()) {
    LOG(kWarning, "album list not loaded yet: %s; will retry on access", s.ToString());
  }
  cache_dir.spool->Start(&filesystem);
  absl::Status run = session.Run(&filesystem);
  // The workers call into the filesystem and the session: stop them first
  // (commits in flight finish; everything pending stays for the next mount).
  cache_dir.spool.reset();
  if (!run.ok()) {
    LOG(kError, "%s", run.ToString());
    return config::kExitInternal;
  }
  LOG(kInfo, "unmounted %s", c.mountpoint);
  return config::kExitOk;
}

int Main(int argc, char** argv) {
  Config c;
  if (std::optional<int> rc = ParseOptions(argc, argv, &c)) return *rc;
  std::unique_ptr<immich::HttpImmichApi> http;
  std::string server_version;
  if (std::optional<int> rc = ConnectToImmich(c, &http, &server_version)) return *rc;
  // Everything goes through the batching layer: concurrent commits share
  // their bulk-upload-checks and album adds (batching_api.h).
  immich::BatchingOptions batching;
  batching.max_uploads = c.upload_workers;
  immich::BatchingApi api(http.get(), batching);
  CacheDir cache_dir;
  if (std::optional<int> rc = OpenCacheDir(c, &api, &cache_dir)) return *rc;
  api.SetCheckAhead(
      [spool = cache_dir.spool.get()](size_t max) { return spool->ChecksumsAhead(max); });
  std::unique_ptr<fuse_ll::Session> session;
  if (std::optional<int> rc = Mount(c, &session)) return *rc;
  return Serve(c, &api, cache_dir, *session, server_version);
}

}  // namespace
}  // namespace immichfs

int main(int argc, char** argv) { return immichfs::Main(argc, argv); }
