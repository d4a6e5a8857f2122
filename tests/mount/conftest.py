"""Fixtures for the level-4 mount tests: the real immichfs binary mounted
against the fake Immich server (tests/fake_immich).

    python3 -m pytest tests/mount            # from the repository root

- `fake_module`: one FakeImmich per test module (cheap; modules seed what they
  need once). `fake`: the same server, with faults, latency and offline
  cleared after each test.
- `mounted`: a factory, mount(fake, options=...) -> Mount, unmounted (and its
  log checked for sanitizer reports, crashes and a non-zero exit) after the
  test. `module_mounted` is the same for mounts shared by a module.
  `mounted.again(m)` restarts a mount (killed or stopped) on the same
  mountpoint and cache dir, as after a crash. Write tests: writeutil.py.
- Every test runs under a watchdog: if it is still running after its limit
  (default 120 s, `@pytest.mark.limit(seconds)` to change), every live mount's
  daemon is killed, which makes any system call stuck in the mount fail with
  ENOTCONN, so a hung filesystem fails the test instead of hanging the suite.

Without a usable /dev/fuse the tests are skipped, except when CI is set: on
the CI machine a mount test that cannot run is a failure.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fake_immich"))

import mountutil  # noqa: E402
from fake_client import FakeImmich  # noqa: E402

from mountutil import BOB  # noqa: E402
DEFAULT_LIMIT = 120


def pytest_configure(config):
    config.addinivalue_line("markers", "limit(seconds): watchdog limit for one mount test")
    config.addinivalue_line("markers", "slow: a long mount test (big files, crash loops)")


@pytest.fixture(scope="session", autouse=True)
def _fuse_guard():
    ok, why = mountutil.fuse_usable()
    mountutil.require("mount", "" if ok else why)


# ------------------------------------------------------------------ watchdog

def _kill_daemon(m):
    proc = m.proc
    if proc is not None and proc.poll() is None:
        proc.kill()


_watch = mountutil.Watchdog(_kill_daemon)
_register = _watch.register
_unregister = _watch.unregister


@pytest.fixture(autouse=True)
def _watchdog(request):
    marker = request.node.get_closest_marker("limit")
    yield from _watch.guard(marker.args[0] if marker else DEFAULT_LIMIT)


# ------------------------------------------------------------------ fake server

@pytest.fixture(scope="module")
def fake_module():
    with FakeImmich(users=[BOB]) as f:
        yield f


@pytest.fixture
def fake(fake_module):
    yield fake_module
    # Leave the shared server healthy for the next test.
    if fake_module.proc is None:
        fake_module.start()
    fake_module.clear_faults()
    fake_module.set_latency(0)
    fake_module.set_offline(False)


# ------------------------------------------------------------------ mounts

class MountFactory:
    """Makes mounts under `base`, each with its own mountpoint, cache dir and
    key file (mode 600); close() unmounts them all and checks their logs."""

    def __init__(self, base):
        self.base = str(base)
        self.mounts = []
        self.n = 0

    def key_file(self, key, name=None):
        self.n += 1
        path = os.path.join(self.base, name or "key%d" % self.n)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        os.chmod(path, 0o600)
        return path

    def __call__(self, fake, options=(), key=None, url=None, start=True, timeout=30, cache=None,
                 mnt=None):
        """cache / mnt: reuse a cache dir (a restart after a crash sees the
        same spool) or a mountpoint; new ones by default."""
        self.n += 1
        mnt = mnt or os.path.join(self.base, "mnt%d" % self.n)
        cache = cache or os.path.join(self.base, "cache%d" % self.n)
        m = mountutil.Mount(url or fake.url, self.key_file(key or fake.api_key), mnt, cache,
                            options=list(options))
        m.hung = False
        self.mounts.append(m)
        _register(m)
        if start:
            m.start(timeout=timeout)
        return m

    def close(self):
        errors = []
        for m in reversed(self.mounts):
            _unregister(m)
            try:
                if getattr(m, "hung", False):
                    m.kill()
                    m.stop(check=False)
                else:
                    m.stop(check=True)
            except AssertionError as e:
                errors.append(str(e))
        self.mounts = []
        if errors:
            pytest.fail("\n\n".join(errors), pytrace=False)

    def again(self, m, options=None, fake=None, start=True, timeout=30):
        """A new daemon on m's mountpoint and cache dir (after m was killed or
        stopped): what a restart after a crash does. A killed m is reaped
        here (its exit status is the kill's, not a failure)."""
        if m.proc is not None and m.proc.poll() is not None:
            m.stop(check=False)
        n = mountutil.Mount(m.url if fake is None else fake.url, m.key_file, m.mountpoint,
                            m.cache_dir, options=list(m.options if options is None else options))
        n.hung = False
        self.mounts.append(n)
        _register(n)
        if start:
            n.start(timeout=timeout)
        return n


@pytest.fixture
def mounted(tmp_path):
    f = MountFactory(tmp_path)
    yield f
    f.close()


@pytest.fixture(scope="module")
def module_mounted(tmp_path_factory):
    f = MountFactory(tmp_path_factory.mktemp("mounts"))
    yield f
    f.close()
