"""Startup failures (one exit code per reason, a message that says what is
wrong) and server faults while mounted: a read either fails with EIO or
returns the original's bytes, never different bytes."""

import errno
import hashlib
import os
import re
import subprocess
import time

import pytest

import mountutil
from fake_client import DEFAULT_KEY as FAKE_KEY, FakeImmich

MiB = 1 << 20
ORIGINAL = "GET /api/assets/.*/original"


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def read_exact_or_eio(path, want):
    """Reads the whole file; -> 'ok' or 'eio'. Any other outcome fails."""
    try:
        got = read_all(path)
    except OSError as e:
        assert e.errno == errno.EIO, "read failed with %s, not EIO" % e
        return "eio"
    assert len(got) == len(want), "read returned %d bytes, the original has %d" % (len(got), len(want))
    if got != want:
        first = next(i for i in range(len(want)) if got[i] != want[i])
        raise AssertionError("read returned WRONG bytes (first difference at offset %d)" % first)
    return "ok"


def original_requests(fake):
    return sum(v for k, v in fake.stats()["requests"].items() if "original" in k)


# ------------------------------------------------------------------ startup

def test_server_down_at_mount_exits_2_naming_the_url(fake, mounted, tmp_path):
    url = "http://127.0.0.1:%d" % mountutil.free_port()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = mountutil.run_immichfs(["-f", "-o", "api_key_file=%s,cache_dir=%s" % (
        mounted.key_file(fake.api_key), tmp_path / "cache"), url, str(mnt)])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert url in r.stderr, r.stderr
    assert not mountutil.is_mounted(str(mnt))


def test_wrong_key_exits_3(fake, mounted, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = mountutil.run_immichfs(["-f", "-o", "api_key_file=%s,cache_dir=%s" % (
        mounted.key_file("not-the-key"), tmp_path / "cache"), fake.url, str(mnt)])
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "key" in r.stderr.lower(), r.stderr
    assert not mountutil.is_mounted(str(mnt))


@pytest.mark.parametrize("option", ["cache_size=banana", "dir_cache_ttl=soon", "umask=999",
                                    "no_such_option"])
def test_bad_option_exits_1_naming_it(fake, mounted, tmp_path, option):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = mountutil.run_immichfs(["-f", "-o", "api_key_file=%s,cache_dir=%s,%s" % (
        mounted.key_file(fake.api_key), tmp_path / "cache", option), fake.url, str(mnt)])
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert option.split("=")[0] in r.stderr, r.stderr
    assert not mountutil.is_mounted(str(mnt))


def test_missing_mountpoint_exits_5(fake, mounted, tmp_path):
    mnt = tmp_path / "does-not-exist"
    r = mountutil.run_immichfs(["-f", "-o", "api_key_file=%s,cache_dir=%s" % (
        mounted.key_file(fake.api_key), tmp_path / "cache"), fake.url, str(mnt)])
    assert r.returncode == 5, (r.returncode, r.stderr)
    assert str(mnt) in r.stderr, r.stderr


def _run_refused(args, mnt):
    """Runs immichfs -f expecting it to refuse before mounting; a mount made
    anyway (the old behaviour) is cleared and fails the test."""
    try:
        return mountutil.run_immichfs(["-f"] + args + [str(mnt)], timeout=20)
    finally:
        if mountutil.is_mounted(str(mnt)):
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
            pytest.fail("mounted although it should have refused: %s" % args)


def test_url_with_credentials_is_refused_and_not_shown(fake, mounted, tmp_path):
    # The API key is the credential; a user:password@ would show in
    # /proc/mounts (fsname) to every local user.
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    opts = "api_key_file=%s,cache_dir=%s" % (mounted.key_file(fake.api_key), tmp_path / "cache")
    r = _run_refused(["-o", opts, fake.url.replace("http://", "http://user:s3cret@")], mnt)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "user:password@" in r.stderr and "s3cret" not in r.stderr, r.stderr
    with open("/proc/self/mountinfo") as f:
        assert "s3cret" not in f.read()
    # A query string (where a comma could hide) is refused as before.
    r = _run_refused(["-o", opts, fake.url + "/?a=1,allow_other"], mnt)
    assert r.returncode == 1 and "query" in r.stderr, (r.returncode, r.stderr)


def test_comma_in_url_adds_no_mount_option(fake, mounted):
    # A ',' in the URL used to end fsname= and start a mount option of its
    # own. The server is down (a closed loopback port) and offline_start
    # mounts anyway: only the mount options matter here.
    url = "http://127.0.0.1:%d/x,allow_other,default_permissions" % mountutil.free_port()
    m = mounted(fake, url=url, options=["offline_start"])
    with open("/proc/self/mountinfo") as f:
        line = next(ln for ln in f if ln.split()[4] == os.path.realpath(m.mountpoint))
    super_options = line.split(" - ", 1)[1].split()[2].split(",")
    # mountinfo writes blanks, '\\' and '#' as octal escapes.
    source = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                    line.split(" - ", 1)[1].split()[1])
    assert "allow_other" not in super_options and "default_permissions" not in super_options, line
    assert source == "immichfs#" + url.replace(",", "%2C"), line


@pytest.mark.parametrize("content", ["KEY\r\nx-injected: 1", "KEY\nx-injected: 1", "KEY x"])
def test_key_file_with_more_than_the_key_exits_1(fake, mounted, tmp_path, content):
    # (key_file() adds the one newline a key file may end with.) Before the
    # fix the whole text went into the x-api-key header: a second header.
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    key = mounted.key_file(content.replace("KEY", fake.api_key))
    r = _run_refused(["-o", "api_key_file=%s,cache_dir=%s" % (key, tmp_path / "cache"), fake.url],
                     mnt)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert key in r.stderr and "alone on one line" in r.stderr, r.stderr


def test_offline_start_mounts_with_server_down(fake, mounted):
    url = "http://127.0.0.1:%d" % mountutil.free_port()
    m = mounted(fake, url=url, options=["offline_start"])
    assert mountutil.is_mounted(m.mountpoint)
    names = os.listdir(m.mountpoint)   # must answer (possibly empty), not fail
    assert isinstance(names, list)


def test_offline_start_then_server_comes_up(mounted):
    port = mountutil.free_port()
    m = mounted(None, url="http://127.0.0.1:%d" % port, key=FAKE_KEY, options=["offline_start"])
    with FakeImmich(port=port) as late:
        al = late.seed_album("Came later")
        late.add_asset("late.jpg", content=b"late bytes", album=al["id"])
        deadline = time.monotonic() + 60
        while True:
            try:
                if "Came later" in os.listdir(m.mountpoint):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the album never appeared once the server was up"
            time.sleep(0.2)
        with open(os.path.join(m.mountpoint, "Came later", "late.jpg"), "rb") as f:
            assert f.read() == b"late bytes"


# ------------------------------------------------------------------ faults while mounted

@pytest.fixture(scope="module")
def mnt(fake_module, module_mounted):
    fake_module.seed_album("Faulty")
    m = module_mounted(fake_module, options=["dir_cache_ttl=0.5"])
    return m.mountpoint


_seq = [0]


def fresh_asset(fake, size=3 * MiB + 11):
    """A new asset no earlier read has cached, in album 'Faulty'."""
    _seq[0] += 1
    name = "f%03d.jpg" % _seq[0]
    a = fake.add_asset(name, size=size, seed=1000 + _seq[0], album="Faulty")
    return a, fake.original_bytes(a["id"]), name


def wait_listed(mnt, name):
    deadline = time.monotonic() + 30
    while name not in os.listdir(os.path.join(mnt, "Faulty")):
        assert time.monotonic() < deadline, "%s never appeared in the listing" % name
        time.sleep(0.1)
    return os.path.join(mnt, "Faulty", name)


@pytest.mark.parametrize("kind,count,kw", [
    ("truncate", -1, {"after_bytes": 1000}),
    ("truncate", -1, {"after_bytes": 0}),
    ("truncate", 2, {"after_bytes": 70000}),
    ("drop", -1, {}),
    ("drop", 2, {}),
    ("status", -1, {"status": 500}),
])
def test_read_under_faults_never_returns_wrong_bytes(fake, mnt, kind, count, kw):
    a, want, name = fresh_asset(fake)
    path = wait_listed(mnt, name)
    assert os.stat(path).st_size == len(want)
    fake.reset_stats()
    fake.fault(ORIGINAL, kind, count=count, **kw)
    outcome = read_exact_or_eio(path, want)
    print("%s x%d: read %s after %d download attempts" % (kind, count, outcome, original_requests(fake)))
    assert original_requests(fake) > 0, "the read never reached the server: the fault was not exercised"
    if count == -1:
        # Every download fails: there is no way to the right bytes.
        assert outcome == "eio", "read succeeded although every download failed"
    fake.clear_faults()
    assert read_all(path) == want, "after the faults were cleared the file does not read right"


def test_truncated_range_mid_file(fake, mnt):
    """Faults that start after the first bytes were served: reads further in."""
    a, want, name = fresh_asset(fake, size=12 * MiB + 5)
    path = wait_listed(mnt, name)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert os.pread(fd, 4096, 0) == want[:4096]
        fake.fault(ORIGINAL, "truncate", count=-1, after_bytes=4321)
        for off in (5 * MiB + 3, 9 * MiB, len(want) - 100):
            try:
                got = os.pread(fd, 200_000, off)
            except OSError as e:
                assert e.errno == errno.EIO, e
                continue
            assert got == want[off:off + 200_000], "pread at %d returned wrong bytes" % off
        fake.clear_faults()
        for off in (5 * MiB + 3, 9 * MiB, len(want) - 100):
            assert os.pread(fd, 200_000, off) == want[off:off + 200_000]
    finally:
        os.close(fd)


def test_transient_503_on_listing_is_retried(fake, mnt):
    # An album not listed yet, so that its listing must come from the server.
    al = fake.seed_album("Retry me")
    for i in range(3):
        fake.add_asset("r%d.jpg" % i, content=b"retry %d" % i, album=al["id"])
    deadline = time.monotonic() + 30
    while "Retry me" not in os.listdir(mnt):
        assert time.monotonic() < deadline, "'Retry me' never appeared at the root"
        time.sleep(0.1)
    fake.reset_stats()
    fake.fault("POST /api/search/metadata|GET /api/albums/", "status", status=503, count=2)
    assert sorted(os.listdir(os.path.join(mnt, "Retry me"))) == ["r0.jpg", "r1.jpg", "r2.jpg"]
    left = [f for f in fake.faults() if f["count"] != 0]
    assert not left, "the 503s were never served: %s" % left
    with open(os.path.join(mnt, "Retry me", "r1.jpg"), "rb") as f:
        assert f.read() == b"retry 1"


def test_transient_503_on_root_listing_is_retried(fake, mnt):
    fake.seed_album("Root retry")
    fake.fault("GET /api/albums$", "status", status=503, count=2)
    deadline = time.monotonic() + 30
    while True:
        names = os.listdir(mnt)   # must never fail: the 503s are retried
        if "Root retry" in names:
            break
        assert time.monotonic() < deadline, "'Root retry' never appeared at the root"
        time.sleep(0.1)
    left = [f for f in fake.faults() if f["count"] != 0]
    assert not left, "the 503s were never served: %s" % left


def test_server_restart_while_mounted(fake, mnt):
    a, want, name = fresh_asset(fake, size=MiB + 1)
    path = wait_listed(mnt, name)
    fake.stop()
    try:
        read_exact_or_eio(path, want)
    finally:
        fake.start()
    assert hashlib.sha1(read_all(path)).hexdigest() == a["checksum_hex"]
