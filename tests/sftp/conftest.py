"""Fixtures for the SFTP tests: Debian's sshd serving real immichfs mounts of
the fake Immich to SFTP-only accounts made by contrib/immichfs-adduser.

    /usr/bin/python3 -m pytest tests/sftp          # as root, from the top

- `fake`: one FakeImmich for the session, with users alice@ and bob@.
- `sshd`: sshd -D on a free loopback port, config = a few lines +
  `Include contrib/sshd/immichfs-sftp.conf` (the shipped drop-in, unchanged).
- `alice`, `bob`: accounts made by immichfs-adduser (random names, group
  immich-sftp), each with its own SSH key and its own library, mounted at
  /srv/immich/<name> by the commands of contrib/systemd/immichfs@.service.in
  (UnitRunner). Removed with immichfs-deluser --purge at the end; the mount's
  log is checked for crashes and sanitizer reports and its exit status must
  be 0.
- `album`: a fresh album of alice's for one test (name unique per test).

Needs root, /dev/fuse and /usr/sbin/sshd; skipped otherwise, except with CI
set (then a failure: on the CI machine these tests must run).
"""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "mount"))
sys.path.insert(0, os.path.join(HERE, "..", "fake_immich"))

import mountutil  # noqa: E402
import sftputil  # noqa: E402
from fake_client import FakeImmich  # noqa: E402

from sftputil import ALICE, BOB  # noqa: E402
DEFAULT_LIMIT = 180


def pytest_configure(config):
    config.addinivalue_line("markers", "limit(seconds): watchdog limit for one SFTP test")


def _why_not():
    if os.geteuid() != 0:
        return "not root (the tests create system accounts and run sshd)"
    ok, why = mountutil.fuse_usable()
    if not ok:
        return why
    for prog in (sftputil.SSHD, shutil.which("sftp"), shutil.which("ssh"), shutil.which("ssh-keygen"),
                 shutil.which("setpriv"), shutil.which("curl")):
        if not prog or not os.access(prog, os.X_OK):
            return "missing program %s (contrib/install-deps --tests)" % (prog or "sftp/ssh/setpriv/curl")
    return ""


@pytest.fixture(scope="session", autouse=True)
def _guard():
    mountutil.require("SFTP", _why_not())


# ------------------------------------------------------------------ watchdog

_watch = mountutil.Watchdog(lambda a: a.kill())  # stuck calls then fail with ENOTCONN


@pytest.fixture(autouse=True)
def _watchdog(request):
    marker = request.node.get_closest_marker("limit")
    yield from _watch.guard(marker.args[0] if marker else DEFAULT_LIMIT)


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="immichfs-sftp-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def fake(workdir):
    with FakeImmich(users=[ALICE, BOB]) as f:
        yield f


@pytest.fixture
def healthy_fake(fake):
    yield fake
    if fake.proc is None:
        fake.start()
    fake.clear_faults()
    fake.set_latency(0)
    fake.set_offline(False)


@pytest.fixture(scope="session")
def sshd(workdir):
    s = sftputil.Sshd(os.path.join(workdir, "sshd"))
    s.start()
    yield s
    s.stop()


class Account:
    """One SFTP account: system user, key, library, mount."""

    def __init__(self, name, immich_user, key_path, workdir):
        self.name = name
        self.email, self.password, self.api_key, _ = immich_user
        self.key = key_path
        self.dir = workdir
        self.mountpoint = os.path.join(sftputil.SRV, name)
        self.unit = None
        self.hung = False

    def client(self, sshd, password=None):
        d = tempfile.mkdtemp(prefix="client-", dir=self.dir)
        if password is None:
            return sftputil.Client(sshd, self.name, key=self.key, workdir=d)
        return sftputil.Client(sshd, self.name, password=password, workdir=d)

    def kill(self):
        if self.unit:
            self.unit.kill()


class Accounts:
    """Makes accounts with immichfs-adduser and mounts them with the unit's
    commands; close() stops and removes them all, then checks the logs."""

    def __init__(self, fake, workdir):
        self.fake = fake
        self.dir = workdir
        self.accounts = []
        self.made_group = subprocess.run(["getent", "group", sftputil.GROUP],
                                         capture_output=True).returncode != 0
        self.made_dirs = [d for d in (sftputil.SRV, sftputil.ETC, sftputil.CACHE) if not os.path.exists(d)]

    # Albums the tests seed through the fake's control API must show at once.
    def add(self, immich_user, tag="u", password_login=False, start=True, options="-o dir_cache_ttl=0"):
        name = sftputil.new_user_name(tag)
        adir = os.path.join(self.dir, name)
        os.makedirs(adir)
        key = os.path.join(adir, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        api_key_file = os.path.join(adir, "api-key")
        with open(api_key_file, "w") as f:
            f.write(immich_user[2] + "\n")
        args = ["--key-file", api_key_file, "--ssh-key", key + ".pub", "--no-start"]
        if password_login:
            args.append("--password-login")
        if options:
            args += ["--options", options]
        a = Account(name, immich_user, key, adir)
        self.accounts.append(a)
        r = sftputil.run_adduser(args + [name, self.fake.url])
        assert r.returncode == 0, "immichfs-adduser failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr)
        if start:
            self.mount(a)
        return a

    def mount(self, a):
        a.unit = sftputil.UnitRunner(os.path.abspath(mountutil.BIN), a.name,
                                     os.path.join(a.dir, "immichfs.log"))
        _watch.register(a)
        a.unit.start()
        assert mountutil.is_mounted(a.mountpoint), "not mounted:\n" + a.unit.log()

    def unmount(self, a, check=True):
        _watch.unregister(a)
        if a.unit is None:
            return
        hung = a.hung
        if hung:
            a.unit.kill()
            subprocess.run(["fusermount3", "-u", "-z", a.mountpoint], capture_output=True)
        rc = a.unit.stop()
        log = a.unit.log()
        a.unit = None
        if check and not hung:
            bad = [s for s in mountutil.SUSPICIOUS if s in log]
            assert not bad, "immichfs printed %s:\n%s" % (bad, log)
            assert rc == 0, "immichfs exited with %s after ExecStop:\n%s" % (rc, log)

    def close(self):
        errors = []
        for a in reversed(self.accounts):
            try:
                self.unmount(a)
            except AssertionError as e:
                errors.append(str(e))
            if mountutil.is_mounted(a.mountpoint):
                subprocess.run(["umount", "-l", a.mountpoint], capture_output=True)
            gone = subprocess.run(["getent", "passwd", a.name], capture_output=True).returncode != 0 \
                and not os.path.exists(os.path.join(sftputil.ETC, a.name + ".conf"))
            if gone:  # a test removed it already
                continue
            r = sftputil.run_deluser(["--purge", "--force", a.name])
            if r.returncode != 0:
                errors.append("immichfs-deluser %s: %s" % (a.name, r.stderr))
        self.accounts = []
        for d in reversed(self.made_dirs):
            for sub in ("authorized_keys",):
                try:
                    os.rmdir(os.path.join(d, sub))
                except OSError:
                    pass
            try:
                os.rmdir(d)
            except OSError:
                pass
        if self.made_group:
            subprocess.run(["groupdel", sftputil.GROUP], capture_output=True)
        if errors:
            raise AssertionError("\n\n".join(errors))


@pytest.fixture(scope="session")
def accounts(fake, workdir):
    acc = Accounts(fake, workdir)
    yield acc
    acc.close()


@pytest.fixture(scope="session")
def alice(accounts):
    return accounts.add(ALICE, "a", password_login=True)


@pytest.fixture(scope="session")
def bob(accounts):
    return accounts.add(BOB, "b")


@pytest.fixture
def album(request, fake, alice):
    """A fresh album of alice's, named after the test."""
    name = "T %s %s" % (request.node.name[:40].replace("/", "_"), os.urandom(2).hex())
    al = fake.seed_album(name, user=ALICE[0])
    return al


@pytest.fixture
def cli(alice, sshd):
    return alice.client(sshd)
