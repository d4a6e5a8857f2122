"""Mounting the real immichfs binary for tests, after libfuse's test/util.py:
start it in the foreground, wait until the kernel shows the mount, and on the
way out unmount, reap the process and check what it printed.

The daemon's stderr goes to a file; a test fails when it holds a sanitizer
report or a crash (sshfs's check_test_output does the same), because a
filesystem can answer every call right and still corrupt memory.
"""

import os
import stat
import subprocess
import socket
import threading
import time

BIN = os.environ.get("IMMICHFS_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "src", "immichfs")

# The fake server's users as the mount tests use them: the default user (the
# mount's) and a second one whose albums can be shared with it.
ADMIN = "admin@example.com"
BOB = ("bob@example.com", "bobpw", "bob-key", "Bob")

SUSPICIOUS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "Segmentation fault",
              "terminate called", "Assertion", "FATAL")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (for "server down")."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_text(path):
    """A log file's text, or "" when it is not there (yet)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def fuse_usable():
    """(ok, why): whether this machine can mount FUSE filesystems."""
    if not os.path.exists("/dev/fuse"):
        return False, "/dev/fuse is missing"
    try:
        if not stat.S_ISCHR(os.stat("/dev/fuse").st_mode):
            return False, "/dev/fuse is not a character device"
    except OSError as e:
        return False, str(e)
    if os.geteuid() != 0 and not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return False, "no access to /dev/fuse"
    return True, ""


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if line.split()[4] == path:
                return True
    return False


class Mount:
    """One immichfs process serving `mountpoint`."""

    def __init__(self, url, key_file, mountpoint, cache_dir, options=(), env=None):
        self.url = url
        self.key_file = key_file
        self.mountpoint = mountpoint
        self.cache_dir = cache_dir
        self.options = list(options)
        self.env = env
        self.proc = None
        self.log_path = os.path.join(cache_dir, "..", os.path.basename(mountpoint) + ".log")
        self.log_path = os.path.normpath(self.log_path)

    def argv(self):
        opts = ["api_key_file=" + self.key_file, "cache_dir=" + self.cache_dir] + self.options
        return [BIN, "-f", "-o", ",".join(opts), self.url, self.mountpoint]

    def start(self, timeout=20):
        os.makedirs(self.mountpoint, exist_ok=True)
        os.makedirs(self.cache_dir, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_mounted(self.mountpoint):
                return self
            if self.proc.poll() is not None:
                raise AssertionError("immichfs exited with %d before mounting:\n%s"
                                     % (self.proc.returncode, self.log()))
            time.sleep(0.05)
        self.stop(check=False)
        raise AssertionError("immichfs did not mount within %ds:\n%s" % (timeout, self.log()))

    def log(self):
        return read_text(self.log_path)

    def kill(self, sig=9):
        """Kills the daemon as a crash would, then clears the dead mount."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        subprocess.run(["fusermount3", "-u", "-z", self.mountpoint], stderr=subprocess.DEVNULL)

    def stop(self, check=True):
        if self.proc is None:
            return
        if is_mounted(self.mountpoint):
            r = subprocess.run(["fusermount3", "-u", self.mountpoint], capture_output=True)
            if r.returncode != 0:
                time.sleep(0.5)
                subprocess.run(["fusermount3", "-u", "-z", self.mountpoint], capture_output=True)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(10)
            if check:
                raise AssertionError("immichfs did not exit after unmount:\n" + self.log())
        self.proc = None
        self._log.close()
        if check:
            text = self.log()
            bad = [s for s in SUSPICIOUS if s in text]
            assert not bad, "immichfs printed %s:\n%s" % (bad, text)
            assert rc == 0, "immichfs exited with %d after unmount:\n%s" % (rc, text)


def run_immichfs(args, env=None, timeout=60):
    """Runs the binary to completion (for the startup-failure tests)."""
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, env=env,
                          timeout=timeout)


# ------------------------------------------------------------------ suite guards

def on_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(suite, why):
    """Called once per session by a suite's conftest: `why` (empty when all is
    there) says what the suite lacks. On CI a suite that cannot run fails;
    elsewhere it is skipped. A missing binary always fails."""
    import pytest
    if why:
        if on_ci():
            pytest.fail("%s tests cannot run on CI: %s" % (suite, why), pytrace=False)
        pytest.skip("%s tests cannot run here: %s" % (suite, why))
    if not os.access(BIN, os.X_OK):
        pytest.fail("immichfs binary %s is missing; build it or set IMMICHFS_BIN" % BIN,
                    pytrace=False)


class Watchdog:
    """Kills the daemons of a test that runs past its limit, so calls stuck in
    a hung mount fail (ENOTCONN) instead of hanging the whole run. Things to
    kill are registered while they live; each is marked .hung and killed with
    `kill(thing)`."""

    def __init__(self, kill):
        self._kill = kill
        self._live = []
        self._lock = threading.Lock()

    def register(self, thing):
        with self._lock:
            self._live.append(thing)

    def unregister(self, thing):
        with self._lock:
            if thing in self._live:
                self._live.remove(thing)

    def guard(self, limit):
        """A generator for an autouse fixture: yields once, fails the test if
        the limit fired."""
        import pytest
        fired = []

        def fire():
            fired.append(True)
            with self._lock:
                things = list(self._live)
            for t in things:
                t.hung = True
                self._kill(t)

        timer = threading.Timer(limit, fire)
        timer.daemon = True
        timer.start()
        yield
        timer.cancel()
        if fired:
            pytest.fail("test still running after %ds: watchdog killed the immichfs daemon(s)" % limit,
                        pytrace=False)
