#include "config/config.h"

#include <fcntl.h>
#include <fuse_opt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/url.h"
#include "config/key_file.h"
#include "config/mount_name.h"

namespace immichfs::config {
namespace {

enum Key {
  kApiKeyFile, kCacheDir, kCacheSize, kDirCacheTtl, kAttrTimeout, kUid, kGid, kUmask,
  kAllowOther, kLogLevel, kCaFile, kInsecureTls, kOfflineStart, kSettle, kUploadWorkers,
  kForeground, kDebug, kSingleThread, kHelp, kVersion,
  kFusePassthrough,  // handed to libfuse as -o
  kMountIgnored,     // fstab/mount(8) words with no meaning for a FUSE mount
  kMountHelperFlag,  // -n, -v, -s given by mount(8) to a mount helper
};

#define IMMICHFS_OPT(t, k) FUSE_OPT_KEY(t, k)
const fuse_opt kOptions[] = {
    IMMICHFS_OPT("api_key_file=", kApiKeyFile),
    IMMICHFS_OPT("cache_dir=", kCacheDir),
    IMMICHFS_OPT("cache_size=", kCacheSize),
    IMMICHFS_OPT("dir_cache_ttl=", kDirCacheTtl),
    IMMICHFS_OPT("attr_timeout=", kAttrTimeout),
    IMMICHFS_OPT("uid=", kUid),
    IMMICHFS_OPT("gid=", kGid),
    IMMICHFS_OPT("umask=", kUmask),
    IMMICHFS_OPT("allow_other", kAllowOther),
    IMMICHFS_OPT("log_level=", kLogLevel),
    IMMICHFS_OPT("ca_file=", kCaFile),
    IMMICHFS_OPT("insecure_tls", kInsecureTls),
    IMMICHFS_OPT("offline_start", kOfflineStart),
    IMMICHFS_OPT("settle=", kSettle),
    IMMICHFS_OPT("upload_workers=", kUploadWorkers),
    IMMICHFS_OPT("-f", kForeground),
    IMMICHFS_OPT("-d", kDebug),
    IMMICHFS_OPT("debug", kDebug),
    IMMICHFS_OPT("-s", kSingleThread),
    IMMICHFS_OPT("-n", kMountHelperFlag),
    IMMICHFS_OPT("-v", kMountHelperFlag),
    IMMICHFS_OPT("-h", kHelp),
    IMMICHFS_OPT("--help", kHelp),
    IMMICHFS_OPT("-V", kVersion),
    IMMICHFS_OPT("--version", kVersion),
    // Understood by libfuse's mount code.
    IMMICHFS_OPT("fsname=", kFusePassthrough),
    IMMICHFS_OPT("subtype=", kFusePassthrough),
    IMMICHFS_OPT("default_permissions", kFusePassthrough),
    IMMICHFS_OPT("auto_unmount", kFusePassthrough),
    IMMICHFS_OPT("ro", kFusePassthrough),
    IMMICHFS_OPT("rw", kFusePassthrough),
    IMMICHFS_OPT("nosuid", kFusePassthrough),
    IMMICHFS_OPT("suid", kFusePassthrough),
    IMMICHFS_OPT("nodev", kFusePassthrough),
    IMMICHFS_OPT("dev", kFusePassthrough),
    IMMICHFS_OPT("noexec", kFusePassthrough),
    IMMICHFS_OPT("exec", kFusePassthrough),
    IMMICHFS_OPT("noatime", kFusePassthrough),
    IMMICHFS_OPT("atime", kFusePassthrough),
    IMMICHFS_OPT("relatime", kFusePassthrough),
    IMMICHFS_OPT("sync", kFusePassthrough),
    IMMICHFS_OPT("async", kFusePassthrough),
    IMMICHFS_OPT("dirsync", kFusePassthrough),
    // fstab words that mean something to mount(8) or systemd, not to us.
    IMMICHFS_OPT("defaults", kMountIgnored),
    IMMICHFS_OPT("auto", kMountIgnored),
    IMMICHFS_OPT("noauto", kMountIgnored),
    IMMICHFS_OPT("user", kMountIgnored),
    IMMICHFS_OPT("nouser", kMountIgnored),
    IMMICHFS_OPT("users", kMountIgnored),
    IMMICHFS_OPT("_netdev", kMountIgnored),
    IMMICHFS_OPT("nofail", kMountIgnored),
    IMMICHFS_OPT("comment=", kMountIgnored),
    FUSE_OPT_END,
};
#undef IMMICHFS_OPT

struct ParseState {
  Config* config;
  std::vector<std::string>* errors;
  bool mount_helper;
  std::vector<std::string> positional;
};

std::string ValueOf(const char* arg) {
  const char* eq = std::strchr(arg, '=');
  return eq ? std::string(eq + 1) : std::string();
}

std::string NameOf(const char* arg) {
  const char* eq = std::strchr(arg, '=');
  return eq ? std::string(arg, eq - arg) : std::string(arg);
}

bool ParseSeconds(const std::string& text, double* out) {
  double v;
  if (!absl::SimpleAtod(text, &v) || v < 0 || v > 86400 * 365) return false;
  *out = v;
  return true;
}

void Bad(ParseState* st, const char* arg, absl::string_view why) {
  st->errors->push_back(absl::StrCat("option '", NameOf(arg), "': ", why));
}

int HandleOption(void* data, const char* arg, int key, fuse_args* /*out*/) {
  auto* st = static_cast<ParseState*>(data);
  Config& c = *st->config;
  std::string v = ValueOf(arg);
  switch (key) {
    case FUSE_OPT_KEY_NONOPT:
      st->positional.emplace_back(arg);
      return 0;
    case FUSE_OPT_KEY_OPT:
      // mount(8) and fstab may hand us x-systemd.* and similar words.
      if (absl::StartsWith(arg, "x-")) return 0;
      st->errors->push_back(absl::StrCat("unknown option '", arg, "' (see immichfs --help)"));
      return 0;
    case kApiKeyFile: c.api_key_file = v; return 0;
    case kCacheDir: c.cache_dir = v; return 0;
    case kCacheSize:
      if (!ParseSize(v, &c.cache_size) || c.cache_size < (16u << 20))
        Bad(st, arg, "wants a size of at least 16M, like 512M or 4G");
      return 0;
    case kDirCacheTtl:
      if (!ParseSeconds(v, &c.dir_cache_ttl)) Bad(st, arg, "wants seconds, like 10 or 0.5");
      return 0;
    case kAttrTimeout:
      if (!ParseSeconds(v, &c.attr_timeout)) Bad(st, arg, "wants seconds, like 1 or 0.5");
      return 0;
    case kSettle:
      if (!ParseSeconds(v, &c.settle)) Bad(st, arg, "wants seconds, like 2 or 0.5");
      return 0;
    case kUid: {
      uint32_t n;
      if (!absl::SimpleAtoi(v, &n)) Bad(st, arg, "wants a numeric user id");
      else c.uid = n;
      return 0;
    }
    case kGid: {
      uint32_t n;
      if (!absl::SimpleAtoi(v, &n)) Bad(st, arg, "wants a numeric group id");
      else c.gid = n;
      return 0;
    }
    case kUmask: {
      char* end = nullptr;
      unsigned long n = std::strtoul(v.c_str(), &end, 8);
      if (v.empty() || *end != '\0' || n > 0777) Bad(st, arg, "wants an octal mask, like 022");
      else c.umask = static_cast<mode_t>(n);
      return 0;
    }
    case kUploadWorkers: {
      int n;
      if (!absl::SimpleAtoi(v, &n) || n < 1 || n > 64) Bad(st, arg, "wants a number from 1 to 64");
      else c.upload_workers = n;
      return 0;
    }
    case kLogLevel:
      if (!ParseLogLevel(v, &c.log_level)) Bad(st, arg, "wants error, warning, info or debug");
      return 0;
    case kAllowOther: c.allow_other = true; return 0;
    case kCaFile: c.ca_file = v; return 0;
    case kInsecureTls: c.insecure_tls = true; return 0;
    case kOfflineStart: c.offline_start = true; return 0;
    case kForeground: c.foreground = true; return 0;
    case kDebug: c.debug = true; c.foreground = true; return 0;
    case kSingleThread:
      // As a mount helper, -s means "sloppy" (ignore unknown options): accept it.
      if (!st->mount_helper) c.single_thread = true;
      return 0;
    case kMountHelperFlag: return 0;
    case kHelp: c.show_help = true; return 0;
    case kVersion: c.show_version = true; return 0;
    case kFusePassthrough: c.fuse_options.emplace_back(arg); return 0;
    case kMountIgnored: return 0;
  }
  return 0;
}

}  // namespace

bool ParseSize(const std::string& text, uint64_t* bytes) {
  if (text.empty()) return false;
  uint64_t mult = 1;
  std::string digits = text;
  switch (absl::ascii_toupper(static_cast<unsigned char>(text.back()))) {
    case 'K': mult = 1ull << 10; break;
    case 'M': mult = 1ull << 20; break;
    case 'G': mult = 1ull << 30; break;
    case 'T': mult = 1ull << 40; break;
    default: break;
  }
  if (mult != 1) digits.pop_back();
  uint64_t n;
  if (!absl::SimpleAtoi(digits, &n) || n > (UINT64_MAX / mult)) return false;
  *bytes = n * mult;
  return true;
}

Config ParseCommandLine(int argc, char** argv, std::vector<std::string>* errors) {
  Config config;
  const char* base = std::strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  ParseState st{&config, errors, absl::StartsWith(base, "mount."), {}};
  fuse_args args = FUSE_ARGS_INIT(argc, argv);
  if (fuse_opt_parse(&args, &st, kOptions, HandleOption) != 0) {
    errors->push_back("the command line could not be parsed (see immichfs --help)");
  }
  fuse_opt_free_args(&args);
  if (config.show_help || config.show_version) return config;
  if (st.positional.size() != 2) {
    errors->push_back(absl::StrCat("expected <server-url> <mountpoint>, got ",
                                   st.positional.size(), " argument(s)"));
  } else {
    config.server_url = st.positional[0];
    // fstab's "immichfs#URL" form reaches us through mount.fuse3 with the
    // prefix already stripped; accept a leftover one anyway.
    if (absl::StartsWith(config.server_url, "immichfs#")) config.server_url.erase(0, 9);
    config.mountpoint = st.positional[1];
  }
  return config;
}

void Validate(Config* c, std::vector<std::string>* errors) {
  if (UrlHasUserinfo(c->server_url)) {
    // Not echoed: it holds a password.
    errors->push_back(
        "server url holds user:password@; immichfs logs in with the API key alone "
        "(api_key_file=), and the URL shows in /proc/mounts: remove the user:password@ part");
  } else if (!c->server_url.empty() && !HasHttpScheme(c->server_url)) {
    errors->push_back(absl::StrCat("server url '", c->server_url,
                                   "' must start with http:// or https://"));
  }
  if (!c->api_key_file.empty()) {
    std::vector<std::string> warnings;
    absl::StatusOr<std::string> key = ReadApiKeyFile(c->api_key_file, &warnings);
    for (const std::string& w : warnings) LOG(kWarning, "%s", w);
    if (key.ok()) {
      c->api_key = *std::move(key);
    } else {
      errors->emplace_back(key.status().message());
    }
  } else if (const char* env = std::getenv("IMMICH_API_KEY"); env && *env) {
    if (absl::Status s = CheckApiKey(env, "$IMMICH_API_KEY"); s.ok()) {
      c->api_key = env;
    } else {
      errors->emplace_back(s.message());
    }
  } else {
    errors->push_back(
        "no API key: give -o api_key_file=FILE (a file holding the key, mode 600) or set "
        "IMMICH_API_KEY; create a key in Immich under Account Settings > API Keys");
  }
  if (!c->ca_file.empty() && access(c->ca_file.c_str(), R_OK) != 0) {
    errors->push_back(absl::StrCat("option 'ca_file': cannot read ", c->ca_file, ": ",
                                   std::strerror(errno)));
  }
  if (c->cache_dir.empty()) {
    if (geteuid() == 0) {
      c->cache_dir = "/var/cache/immichfs";
    } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
      c->cache_dir = absl::StrCat(xdg, "/immichfs");
    } else if (const char* home = std::getenv("HOME"); home && *home) {
      c->cache_dir = absl::StrCat(home, "/.cache/immichfs");
    } else {
      errors->push_back("option 'cache_dir': no default (HOME unset); give -o cache_dir=DIR");
    }
  }
  if (c->uid == static_cast<uid_t>(-1)) c->uid = getuid();
  if (c->gid == static_cast<gid_t>(-1)) c->gid = getgid();
  if (c->allow_other) c->fuse_options.emplace_back("allow_other");
}

std::string UsageText(const char* program) {
  return absl::StrCat(
      "usage: ", program, " [-f] [-d] [-s] [-o opt,...] <server-url> <mountpoint>\n"
      "\n"
      "Mounts an Immich server: albums are directories, photos and videos are files.\n"
      "\n"
      "options:\n"
      "  -f                     stay in the foreground\n"
      "  -d, -o debug           foreground, with a FUSE protocol trace\n"
      "  -s                     single-threaded\n"
      "  -o api_key_file=FILE   file holding the Immich API key (else $IMMICH_API_KEY)\n"
      "  -o cache_dir=DIR       spool and read cache (default /var/cache/immichfs for root,\n"
      "                         else $XDG_CACHE_HOME/immichfs or ~/.cache/immichfs)\n"
      "  -o cache_size=SIZE     read cache bound, e.g. 512M, 4G (default 2G)\n"
      "  -o dir_cache_ttl=SECS  trust a listing this long before revalidating (default 10)\n"
      "  -o attr_timeout=SECS   kernel attribute/entry cache (default 1)\n"
      "  -o uid=N,gid=N         owner of every file (default: the mounting user)\n"
      "  -o umask=MASK          permission mask, octal (default 022)\n"
      "  -o allow_other         let other users see the mount\n"
      "  -o log_level=LEVEL     error, warning, info (default) or debug\n"
      "  -o ca_file=FILE        trust this CA bundle for https\n"
      "  -o insecure_tls        do not verify the server's certificate (unsafe)\n"
      "  -o offline_start       mount even when Immich cannot be reached\n"
      "  -o settle=SECS         wait after the last close before uploading (default 2)\n"
      "  -o upload_workers=N    parallel uploads (default 8)\n"
      "  -h, --help             this text\n"
      "  -V, --version          print the version\n"
      "\n"
      "exit codes: 1 usage, 2 server unreachable, 3 API key rejected, 4 not a supported\n"
      "Immich (too old, not Immich, or its TLS certificate failed verification),\n"
      "5 mountpoint problem, 6 internal error (e.g. unusable cache_dir). See immichfs(1).\n");
}

}  // namespace immichfs::config
