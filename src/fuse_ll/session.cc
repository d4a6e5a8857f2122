#include "fuse_ll/session.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status.h"
#include "fuse_ll/ops.h"

namespace immichfs::fuse_ll {

namespace {

// The kernel answers ENOENT for names and inodes it does not hold: nothing
// to drop then. Other errors only mean the cache times out by itself.
class Notifier final : public fs::KernelNotifier {
 public:
  explicit Notifier(fuse_session** se) : se_(se) {}
  void InvalEntry(fs::Ino parent, const std::string& name) override {
    if (*se_ == nullptr) return;
    int rc = fuse_lowlevel_notify_inval_entry(*se_, parent, name.c_str(), name.size());
    if (rc != 0 && rc != -ENOENT) {
      LOG(kDebug, "kernel entry invalidation of '%s' in inode %d: %s", name, parent,
          std::strerror(-rc));
    }
  }
  void InvalAttr(fs::Ino ino) override {
    if (*se_ == nullptr) return;
    int rc = fuse_lowlevel_notify_inval_inode(*se_, ino, -1, 0);  // attributes only
    if (rc != 0 && rc != -ENOENT) {
      LOG(kDebug, "kernel attribute invalidation of inode %d: %s", ino, std::strerror(-rc));
    }
  }

 private:
  fuse_session** se_;
};

// How /proc/self/mountinfo writes a path: space, tab, newline and backslash
// as octal escapes.
std::string MountinfoEscaped(absl::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\\') {
      absl::StrAppend(&out, "\\", static_cast<int>((c >> 6) & 7), static_cast<int>((c >> 3) & 7),
                      static_cast<int>(c & 7));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The kernel reads ahead of a FUSE file by the mount's bdi read_ahead_kb,
// 128 KiB by default, and the INIT answer can only lower it: so a sequential
// reader's requests arrive 128 KiB at a time although max_read is 1 MiB.
// Raising it to `kb` made the bench's cold 1 GiB read ~20% faster (fewer
// round trips through the kernel). Needs root (sysfs); otherwise it stays.
void RaiseReadahead(const std::string& mountpoint, unsigned kb) {
  char resolved[PATH_MAX];
  if (::realpath(mountpoint.c_str(), resolved) == nullptr) return;
  const std::string want = MountinfoEscaped(resolved);
  std::ifstream info("/proc/self/mountinfo");
  std::string line, device;
  while (std::getline(info, line)) {
    // "<id> <parent> <major:minor> <root> <mount point> <options> ... - <type> ..."
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    if (f.size() > 4 && f[4] == want && absl::StrContains(line, " - fuse.immichfs ")) {
      device = std::string(f[2]);  // the last one wins: the newest mount there
    }
  }
  if (device.empty()) {
    LOG(kDebug, "kernel read-ahead: mount %s not found in mountinfo", resolved);
    return;
  }
  const std::string path = absl::StrCat("/sys/class/bdi/", device, "/read_ahead_kb");
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  std::string value = absl::StrCat(kb, "\n");
  if (fd < 0 || ::write(fd, value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    LOG(kInfo, "kernel read-ahead stays at its default (%s: %s); only root can raise it",
        path, std::strerror(errno));
  } else {
    LOG(kDebug, "kernel read-ahead of %s raised to %d KiB", resolved, kb);
  }
  if (fd >= 0) ::close(fd);
}

// One option for libfuse's "-o" list, which splits at ',' and unescapes
// '\\': each of our options (already split once by our own parser) stays one.
std::string OptionEscaped(absl::string_view option) {
  std::string out;
  for (char c : option) {
    if (c == ',' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

struct Session::Impl {
  SessionContext ctx;
  fuse_session* se = nullptr;
  bool mounted = false;
  bool signals = false;
  bool single_thread = false;
  std::vector<std::string> args;
  Notifier notifier{&se};
};

fs::KernelNotifier* Session::notifier() { return &impl_->notifier; }

Session::~Session() {
  if (!impl_) return;
  if (impl_->se) {
    if (impl_->signals) fuse_remove_signal_handlers(impl_->se);
    if (impl_->mounted) fuse_session_unmount(impl_->se);
    fuse_session_destroy(impl_->se);
  }
}

absl::StatusOr<std::unique_ptr<Session>> Session::Mount(const SessionOptions& options) {
  std::unique_ptr<Session> session(new Session());
  session->impl_ = std::make_unique<Impl>();
  Impl& impl = *session->impl_;
  impl.single_thread = options.single_thread;

  impl.args = {"immichfs", "-o", OptionEscaped(absl::StrCat("fsname=", options.fsname)), "-o",
               "subtype=immichfs", "-o", absl::StrCat("max_read=", impl.ctx.max_io)};
  for (const std::string& o : options.fuse_options) {
    impl.args.push_back("-o");
    impl.args.push_back(OptionEscaped(o));
  }
  if (options.debug) impl.args.push_back("-d");
  std::vector<char*> argv;
  for (std::string& a : impl.args) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  const fuse_lowlevel_ops& ops = Operations();
  impl.se = fuse_session_new(&args, &ops, sizeof(ops), &impl.ctx);
  fuse_opt_free_args(&args);
  if (impl.se == nullptr) {
    return absl::InternalError("FUSE session could not be created (see the message above)");
  }
  if (fuse_set_signal_handlers(impl.se) != 0) {
    return absl::InternalError("could not install signal handlers");
  }
  impl.signals = true;
  if (fuse_session_mount(impl.se, options.mountpoint.c_str()) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot mount on ", options.mountpoint,
                     " (is it already mounted, or is /dev/fuse missing? see the message above)"));
  }
  impl.mounted = true;
  RaiseReadahead(options.mountpoint, static_cast<unsigned>(impl.ctx.max_io >> 10));
  return session;
}

absl::Status Session::Daemonize(bool foreground) {
  if (fuse_daemonize(foreground ? 1 : 0) != 0) {
    return absl::InternalError("could not detach into the background");
  }
  if (!foreground) LogToSyslog(true);
  return absl::OkStatus();
}

absl::Status Session::Run(fs::Filesystem* fs) {
  impl_->ctx.fs = fs;
  int rc;
  if (impl_->single_thread) {
    rc = fuse_session_loop(impl_->se);
  } else {
    fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(config, 0);
    fuse_loop_cfg_set_max_threads(config, 32);
    fuse_loop_cfg_set_idle_threads(config, 8);
    rc = fuse_session_loop_mt(impl_->se, config);
    fuse_loop_cfg_destroy(config);
  }
  if (rc != 0 && rc != -EINTR) {  // a signal ending the loop is the normal way out
    return ErrnoError(rc < 0 ? -rc : EIO, "the FUSE session loop failed");
  }
  return absl::OkStatus();
}

}  // namespace immichfs::fuse_ll
