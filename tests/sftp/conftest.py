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


class Accounts(sftputil.Accounts):
    """sftputil.Accounts on the session's fake, under the watchdog."""

    def __init__(self, fake, workdir):
        super().__init__(fake.url, workdir, watch=_watch)
        self.fake = fake


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
