"""Milestone "read-only album mount": every change answers EROFS and the
server's library is left as it was.

A later milestone adds writes (DESIGN.md, Writing; chmod/chown then succeed
and change nothing): replace this file then."""

import errno
import os
import subprocess

import pytest


@pytest.fixture(scope="module")
def mnt(fake_module, module_mounted):
    f = fake_module
    f.add_asset("photo.jpg", content=b"photo bytes", album="Album",
                modified="2022-02-02T02:02:02Z")
    f.add_asset("other.jpg", content=b"other bytes", album="Album")
    f.seed_album("Empty")
    return module_mounted(f).mountpoint


@pytest.fixture
def unchanged(fake):
    """The library must be the same after the test."""
    def snap():
        st = fake.state()
        return (sorted((a["name"], tuple(sorted(a["assets"]))) for a in st["albums"]),
                sorted((a["id"], a["name"], a["checksum"], a["trashed"], a["fileModifiedAt"])
                       for a in st["assets"]))
    before = snap()
    fake.reset_stats()
    yield
    assert snap() == before
    s = fake.stats()
    assert s["uploads"] == 0, s


def erofs(fn, *args, **kw):
    with pytest.raises(OSError) as e:
        fn(*args, **kw)
    assert e.value.errno == errno.EROFS, "%s: %s, not EROFS" % (fn.__name__, e.value)


def P(mnt, *parts):
    return os.path.join(mnt, *parts)


def test_create_file(mnt, unchanged):
    erofs(open, P(mnt, "Album", "new.jpg"), "wb")
    erofs(os.open, P(mnt, "Album", "new2.jpg"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    erofs(os.mknod, P(mnt, "Album", "node.jpg"), 0o644)
    assert "new.jpg" not in os.listdir(P(mnt, "Album"))


def test_create_file_at_root(mnt, unchanged):
    erofs(open, P(mnt, "loose.jpg"), "wb")


def test_open_existing_for_writing(mnt, unchanged):
    erofs(open, P(mnt, "Album", "photo.jpg"), "r+b")
    erofs(open, P(mnt, "Album", "photo.jpg"), "ab")
    erofs(os.open, P(mnt, "Album", "photo.jpg"), os.O_WRONLY)
    erofs(os.open, P(mnt, "Album", "photo.jpg"), os.O_RDONLY | os.O_TRUNC)
    with open(P(mnt, "Album", "photo.jpg"), "rb") as f:
        assert f.read() == b"photo bytes"


def test_truncate(mnt, unchanged):
    erofs(os.truncate, P(mnt, "Album", "photo.jpg"), 0)
    assert os.stat(P(mnt, "Album", "photo.jpg")).st_size == len(b"photo bytes")


def test_mkdir(mnt, unchanged):
    erofs(os.mkdir, P(mnt, "New album"))
    erofs(os.mkdir, P(mnt, "Album", "sub"))
    assert "New album" not in os.listdir(mnt)


def test_rm(mnt, unchanged):
    erofs(os.unlink, P(mnt, "Album", "photo.jpg"))
    erofs(os.rmdir, P(mnt, "Empty"))
    erofs(os.rmdir, P(mnt, "Album"))   # EROFS, not ENOTEMPTY: nothing may change
    assert "photo.jpg" in os.listdir(P(mnt, "Album"))
    r = subprocess.run(["rm", "-f", P(mnt, "Album", "other.jpg")], capture_output=True, text=True)
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr


def test_mv(mnt, unchanged):
    erofs(os.rename, P(mnt, "Album", "photo.jpg"), P(mnt, "Album", "renamed.jpg"))
    erofs(os.rename, P(mnt, "Album", "photo.jpg"), P(mnt, "Empty", "photo.jpg"))
    erofs(os.rename, P(mnt, "Album"), P(mnt, "Renamed album"))
    erofs(os.link, P(mnt, "Album", "photo.jpg"), P(mnt, "Empty", "photo.jpg"))
    erofs(os.symlink, "photo.jpg", P(mnt, "Album", "link.jpg"))
    assert sorted(os.listdir(P(mnt, "Album"))) == ["other.jpg", "photo.jpg"]


def test_touch_and_utimens(mnt, unchanged):
    path = P(mnt, "Album", "photo.jpg")
    mtime = os.stat(path).st_mtime_ns
    erofs(os.utime, path, (0, 0))
    erofs(os.utime, path, None)
    r = subprocess.run(["touch", P(mnt, "Album", "touched.jpg")], capture_output=True, text=True)
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr
    assert os.stat(path).st_mtime_ns == mtime


def test_chmod_chown(mnt, unchanged):
    path = P(mnt, "Album", "photo.jpg")
    mode = os.stat(path).st_mode
    erofs(os.chmod, path, 0o600)
    erofs(os.chown, path, 1234, 1234)
    erofs(os.chmod, P(mnt, "Album"), 0o700)
    assert os.stat(path).st_mode == mode


def test_cp_into_album_fails(mnt, unchanged, tmp_path):
    src = tmp_path / "local.jpg"
    src.write_bytes(b"local")
    r = subprocess.run(["cp", str(src), P(mnt, "Album") + "/"], capture_output=True, text=True)
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr
