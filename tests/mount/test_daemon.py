"""The daemon as users start it: without -f it forks into the background
(fstab mounts, `immichfs URL DIR` by hand). Every other mount test runs it
with -f, so this is the one that covers the forked process."""

import os
import subprocess
import time

import pytest

import mountutil
from writeutil import unique_bytes, wait_in_album, write_file


def test_background_daemon_reads_caches_writes_and_exits_on_unmount(fake, tmp_path):
    data = unique_bytes(5 * (1 << 20) + 123, "daemon-read")
    fake.add_asset("clip.mp4", content=data, album="D bg")
    key = tmp_path / "key"
    key.write_text(fake.api_key)
    key.chmod(0o600)
    mnt, cache = tmp_path / "mnt", tmp_path / "cache"
    mnt.mkdir()
    opts = "api_key_file=%s,cache_dir=%s,settle=0.2" % (key, cache)
    r = subprocess.run([mountutil.BIN, "-o", opts, fake.url, str(mnt)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        assert mountutil.is_mounted(str(mnt))
        with open(mnt / "D bg" / "clip.mp4", "rb") as f:
            assert f.read() == data                  # streamed by the forked daemon
        deadline = time.monotonic() + 30             # and its cache writer runs
        while not any(os.scandir(cache / "blocks")):
            assert time.monotonic() < deadline, "no block reached the read cache"
            time.sleep(0.1)
        new = unique_bytes(40_000, "daemon-write")
        write_file(str(mnt / "D bg" / "new.jpg"), new)
        wait_in_album(fake, "D bg", "new.jpg", new, timeout=60)
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-f", "cache_dir=%s," % cache], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "the daemon did not exit after the unmount"
        time.sleep(0.1)


def _wait_gone(cache):
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-f", "cache_dir=%s" % cache], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "the daemon did not exit after the unmount"
        time.sleep(0.1)


def _fstab_setup(fake, tmp_path, album):
    fake.add_asset("fstab.jpg", content=b"fstab bytes", album=album)
    key = tmp_path / "key"
    key.write_text(fake.api_key)
    key.chmod(0o600)
    mnt, cache = tmp_path / "mnt", tmp_path / "cache"
    mnt.mkdir()
    return mnt, cache, "api_key_file=%s,cache_dir=%s" % (key, cache)


def test_fstab_fuse_type_with_immichfs_hash_source(fake, tmp_path):
    """fstab: 'immichfs#URL DIR fuse OPTS': mount(8) runs mount.fuse3, which
    runs immichfs in the background, found in the system PATH that mount(8)
    sets (it ignores the caller's): so for this test /usr/local/bin/immichfs
    links to the binary under test, and is removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root: mount(8) and /usr/local/bin")
    link = "/usr/local/bin/immichfs"
    if os.path.lexists(link):
        pytest.skip("%s exists (an installed immichfs); not replacing it" % link)
    mnt, cache, opts = _fstab_setup(fake, tmp_path, "D fstab")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(os.path.abspath(mountutil.BIN), link)
    try:
        r = subprocess.run(["mount", "-t", "fuse", "-o", opts + ",_netdev,nofail,allow_other",
                            "immichfs#" + fake.url, str(mnt)], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        try:
            with open(mnt / "D fstab" / "fstab.jpg", "rb") as f:
                assert f.read() == b"fstab bytes"
        finally:
            subprocess.run(["umount", str(mnt)], capture_output=True)
    finally:
        os.unlink(link)
    _wait_gone(cache)


def test_mount_helper_named_mount_immichfs(fake, tmp_path):
    """fstab type 'immichfs': mount(8) runs /sbin/mount.immichfs SOURCE DIR -o OPTS
    (here the same binary under that name, called as mount(8) calls it)."""
    mnt, cache, opts = _fstab_setup(fake, tmp_path, "D helper")
    helper = tmp_path / "mount.immichfs"
    helper.symlink_to(os.path.abspath(mountutil.BIN))
    r = subprocess.run([str(helper), fake.url, str(mnt), "-o", "rw,noexec,nosuid,nodev," + opts + ",_netdev"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        assert mountutil.is_mounted(str(mnt))
        with open(mnt / "D helper" / "fstab.jpg", "rb") as f:
            assert f.read() == b"fstab bytes"
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
    _wait_gone(cache)
