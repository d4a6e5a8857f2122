"""A write that failed is never committed (issue 10 case 2), and no size
beyond the spool disk (issue 10 case 7): README "Write errors".

The spool lives on a small tmpfs (8 MiB). A 40 MiB copy fails with ENOSPC;
the partial file stays pending, shown in /.immich/status as incomplete with
its error, and never reaches the fake Immich -- until it is deleted (nothing
reaches Immich) or written again cleanly (then it commits)."""

import errno
import os
import subprocess
import time

import pytest

from writeutil import (MiB, album_assets, fsync_path, read_status, unique_bytes, wait_idle,
                       wait_in_album, write_file)

SETTLE = 0.3
TiB = 1 << 40


@pytest.fixture
def small_tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = tmp_path / "smallfs"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(d)], check=True)
    yield str(d)
    subprocess.run(["umount", "-l", str(d)], check=False)


def mount_small(fake, mounted, small_tmpfs):
    return mounted(fake, options=["settle=%s" % SETTLE], cache=os.path.join(small_tmpfs, "cache"))


def copy_40_mib(path):
    """What cp does: write 1 MiB at a time until done or an error; close.
    Returns the write error (None if all of it was written)."""
    data = unique_bytes(40 * MiB, "incomplete-40")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = None
    try:
        done = 0
        while done < len(data):
            done += os.write(fd, data[done:done + MiB])
    except OSError as e:
        err = e
    finally:
        os.close(fd)
    return err


def names_in_immich(fake, name):
    return [a for a in fake.state()["assets"] if a["name"] == name]


def pending_entry(mnt, name):
    for f in read_status(mnt)["pending_files"]:
        if f["name"] == name:
            return f
    return None


def past_settle():
    # Absence of a commit can only be shown by waiting: 10 settle times (a
    # commit starts once the settle time is over), generous on a busy machine.
    time.sleep(10 * SETTLE + 2)


def fail_a_big_copy(fake, m, album, name):
    """The report: a 40 MiB copy into the 8 MiB spool fails with ENOSPC; past
    the settle time nothing is in Immich, the status says why."""
    path = os.path.join(m.mountpoint, album, name)
    err = copy_40_mib(path)
    assert err is not None, "40 MiB written into an 8 MiB spool without an error"
    assert err.errno == errno.ENOSPC, err
    past_settle()
    assert names_in_immich(fake, name) == [], "the partial file was committed"
    assert album_assets(fake, album) == {}
    f = pending_entry(m.mountpoint, name)
    assert f is not None, read_status(m.mountpoint)
    assert f["incomplete"] is True and f["state"] == "incomplete", f
    assert "No space left on device" in f["write_error"], f
    assert "kept pending and not uploaded" in m.log()
    # fsync says so too, and commits nothing.
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError) as e:
            os.fsync(fd)
        assert e.value.errno == errno.ENOSPC, e.value
    finally:
        os.close(fd)
    return path


def test_a_failed_copy_is_not_committed_and_deleting_it_sends_nothing(fake, mounted, small_tmpfs):
    fake.seed_album("I delete")
    m = mount_small(fake, mounted, small_tmpfs)
    path = fail_a_big_copy(fake, m, "I delete", "big-delete.mp4")
    os.unlink(path)
    wait_idle(m.mountpoint)
    past_settle()
    assert names_in_immich(fake, "big-delete.mp4") == []
    assert os.listdir(os.path.join(m.mountpoint, "I delete")) == []


def test_a_failed_copy_written_again_cleanly_commits(fake, mounted, small_tmpfs):
    fake.seed_album("I rewrite")
    m = mount_small(fake, mounted, small_tmpfs)
    path = fail_a_big_copy(fake, m, "I rewrite", "big-rewrite.mp4")
    fits = unique_bytes(2 * MiB, "incomplete-fits")
    write_file(path, fits)          # open(O_TRUNC), write, close: cleanly
    wait_in_album(fake, "I rewrite", "big-rewrite.mp4", fits)
    wait_idle(m.mountpoint)
    assert len(names_in_immich(fake, "big-rewrite.mp4")) == 1


def test_the_mark_survives_a_restart(fake, mounted, small_tmpfs):
    fake.seed_album("I restart")
    m = mount_small(fake, mounted, small_tmpfs)
    fail_a_big_copy(fake, m, "I restart", "big-restart.mp4")
    m.kill()
    m2 = mounted.again(m)
    past_settle()
    assert names_in_immich(fake, "big-restart.mp4") == []
    f = pending_entry(m2.mountpoint, "big-restart.mp4")
    assert f is not None and f["incomplete"] is True, read_status(m2.mountpoint)
    os.unlink(os.path.join(m2.mountpoint, "I restart", "big-restart.mp4"))
    wait_idle(m2.mountpoint)


# ------------------------------------------------------------------ sizes

def test_truncate_to_10_tib_is_efbig_and_nothing_is_committed(fake, mounted, small_tmpfs):
    fake.seed_album("I sizes")
    # Nothing commits on its own here (fsync does): the files stay pending.
    m = mounted(fake, options=["settle=600"], cache=os.path.join(small_tmpfs, "cache"))
    album = os.path.join(m.mountpoint, "I sizes")
    r = subprocess.run(["truncate", "-s", "10T", os.path.join(album, "x.jpg")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "File too large" in r.stderr, r
    assert os.path.getsize(os.path.join(album, "x.jpg")) == 0
    # Python's os.truncate, on a file with content: EFBIG, the file unchanged.
    data = unique_bytes(MiB, "sizes-y")
    write_file(os.path.join(album, "y.jpg"), data)
    with pytest.raises(OSError) as e:
        os.truncate(os.path.join(album, "y.jpg"), 10 * TiB)
    assert e.value.errno == errno.EFBIG, e.value
    assert os.path.getsize(os.path.join(album, "y.jpg")) == MiB
    # Fits the disk (8 MiB) but not its free space now (w.jpg and y.jpg hold
    # 4 MiB): ENOSPC.
    write_file(os.path.join(album, "w.jpg"), unique_bytes(3 * MiB, "sizes-w"))
    with pytest.raises(OSError) as e:
        os.truncate(os.path.join(album, "y.jpg"), 6 * MiB)
    assert e.value.errno == errno.ENOSPC, e.value
    assert os.path.getsize(os.path.join(album, "y.jpg")) == MiB
    # A sparse file that fits is fine.
    with open(os.path.join(album, "z.jpg"), "wb") as f:
        f.truncate(MiB)
        f.seek(2 * MiB)
        f.write(b"end")
    for name in ("y.jpg", "z.jpg"):
        fsync_path(os.path.join(album, name))
    wait_in_album(fake, "I sizes", "y.jpg", data)
    wait_in_album(fake, "I sizes", "z.jpg", b"\0" * (2 * MiB) + b"end")
    assert names_in_immich(fake, "x.jpg") == []
    assert "can never fit in the spool" in m.log()
