#include "fuse_ll/session.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
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

  impl.args = {"immichfs", "-o", absl::StrCat("fsname=", options.fsname), "-o",
               "subtype=immichfs", "-o", absl::StrCat("max_read=", impl.ctx.max_io)};
  for (const std::string& o : options.fuse_options) {
    impl.args.push_back("-o");
    impl.args.push_back(o);
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
