"""Writing through the mount (DESIGN.md, Writing; Deleting and moving): the
spool's read-your-writes, commits after the settle time or at fsync, what
cp/rsync do, the namespace operations and their errnos, and /.immich/status.

Each test seeds its own albums (names unique in the module's fake server)
and mounts afresh, so that the mount sees them at once and its log is
checked when the test ends."""

import errno
import json
import os
import stat
import subprocess
import threading
import time

import pytest

from writeutil import (MiB, SETTLE, album_assets, album_of, assets_with_checksum, commits_in_flight,
                       expect_errno, fsync_path, iso_to_epoch, pending_bytes, pending_files, poll,
                       read_file, read_status, sha1_hex, status_path, unique_bytes, wait_album_names,
                       wait_idle, wait_in_album, write_file)

# What immichfs answers for a name Immich would never accept (DESIGN.md:
# "refused at create with a clear errno"; src/fs/name_policy.h documents
# EOPNOTSUPP, for create, mknod and the target of a rename).
UNSUPPORTED = errno.EOPNOTSUPP

T1 = 1500000000.5          # 2017-07-14T02:40:00.500Z
T2 = 1600000000.125        # 2020-09-13T12:26:40.125Z


@pytest.fixture
def setup(fake, mounted):
    """setup(albums=[...], options=[...]) -> mountpoint: seeds the albums,
    then mounts (settle=0.2 unless options say otherwise)."""
    def make(albums=(), options=(SETTLE,)):
        for a in albums:
            fake.seed_album(a)
        m = mounted(fake, options=list(options))
        make.mount = m
        return m.mountpoint
    fake.reset_stats()
    return make


def P(mnt, *parts):
    return os.path.join(mnt, *parts)


def run(argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode == 0, "%s: exit %d\n%s" % (" ".join(argv), r.returncode, r.stderr)
    return r.stdout


def ls_l(directory):
    """{name: (size, mtime seconds)} as `ls -l` shows them."""
    out = run(["ls", "-l", "--time-style=+%s", directory])
    rows = {}
    for line in out.splitlines()[1:]:
        f = line.split(None, 6)
        rows[f[6]] = (int(f[4]), int(f[5]))
    return rows


# ------------------------------------------------------------------ cp, rsync

def test_cp_p_keeps_mtime(fake, setup, tmp_path):
    mnt = setup(["W cp"])
    data = unique_bytes(70_000, "cp")
    src = tmp_path / "cp.jpg"
    src.write_bytes(data)
    os.utime(src, (T1, T1))
    run(["cp", "-p", str(src), P(mnt, "W cp") + "/"])
    # At once, before any commit: the right size and mtime.
    st = os.stat(P(mnt, "W cp", "cp.jpg"))
    assert (st.st_size, st.st_mtime) == (len(data), T1)
    assert ls_l(P(mnt, "W cp"))["cp.jpg"] == (len(data), int(T1))
    a = wait_in_album(fake, "W cp", "cp.jpg", data)
    assert abs(iso_to_epoch(a["fileModifiedAt"]) - T1) < 0.0015, a
    wait_idle(mnt)
    st = os.stat(P(mnt, "W cp", "cp.jpg"))
    assert (st.st_size, round(st.st_mtime, 3)) == (len(data), T1)


def test_rsync_a_temp_file_and_rename(fake, setup, tmp_path):
    mnt = setup(["W rsync"])
    src = tmp_path / "src"
    src.mkdir()
    want = {}
    for i, size in enumerate([1, 5000, 2 * MiB + 3]):
        name = "r%d.jpg" % i
        want[name] = unique_bytes(size, name)
        (src / name).write_bytes(want[name])
        os.utime(src / name, (T1 + i, T1 + i))
    run(["rsync", "-a", str(src) + "/", P(mnt, "W rsync") + "/"])
    rows = ls_l(P(mnt, "W rsync"))
    assert sorted(rows) == sorted(want), rows
    for i, name in enumerate(sorted(want)):
        assert rows[name][0] == len(want[name])
    got = wait_album_names(fake, "W rsync", want)
    wait_idle(mnt)
    got = album_assets(fake, "W rsync")
    # No temp files (".r1.jpg.XXXXXX") in Immich, exactly the renamed names.
    assert sorted(got) == sorted(want), sorted(got)
    for name, data in want.items():
        a = got[name]
        assert a["checksum_hex"] == sha1_hex(data), name
        i = int(name[1])
        assert abs(iso_to_epoch(a["fileModifiedAt"]) - (T1 + i)) < 0.0015, a
    assert fake.stats()["uploads"] == len(want)
    # A second rsync finds every file up to date (size and mtime as Immich
    # has them) and sends nothing.
    fake.reset_stats()
    out = run(["rsync", "-a", "--itemize-changes", str(src) + "/", P(mnt, "W rsync") + "/"])
    changed = [l for l in out.splitlines() if l[1:2] == "f"]
    assert changed == [], out
    assert fake.stats()["uploads"] == 0


def test_rsync_remove_source_files_then_all_in_immich(fake, setup, tmp_path):
    mnt = setup(["W move"])
    src = tmp_path / "src"
    src.mkdir()
    want = {}
    for i in range(12):
        name = "m%02d.jpg" % i
        want[name] = unique_bytes(1000 + i * 7919, name)
        (src / name).write_bytes(want[name])
    run(["rsync", "-a", "--remove-source-files", str(src) + "/", P(mnt, "W move") + "/"])
    assert os.listdir(src) == []
    wait_album_names(fake, "W move", want)
    wait_idle(mnt)
    got = album_assets(fake, "W move")
    assert sorted(got) == sorted(want)
    for name, data in want.items():
        assert got[name]["checksum_hex"] == sha1_hex(data), name
        assert read_file(P(mnt, "W move", name)) == data


@pytest.mark.limit(240)
def test_eight_writers_at_once(fake, setup):
    mnt = setup(["W par"], options=[SETTLE, "upload_workers=4"])
    want = {}
    errors = []

    def writer(w):
        try:
            for j in range(4):
                name = "w%d_%d.jpg" % (w, j)
                data = unique_bytes(256 * 1024 + w * 100_003 + j * 77_777, name)
                want[name] = data
                fd = os.open(P(mnt, "W par", name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    # Uneven chunks, as a client streams them.
                    for off in range(0, len(data), 50_000):
                        assert os.write(fd, data[off:off + 50_000]) == len(data[off:off + 50_000])
                finally:
                    os.close(fd)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append("writer %d: %r" % (w, e))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(os.listdir(P(mnt, "W par"))) == sorted(want)
    wait_album_names(fake, "W par", want, timeout=180)
    wait_idle(mnt)
    got = album_assets(fake, "W par")
    assert sorted(got) == sorted(want)
    for name, data in want.items():
        assert got[name]["checksum_hex"] == sha1_hex(data), name
        assert got[name]["size"] == len(data), name
    s = fake.stats()
    assert s["uploads"] == len(want), s
    for name, data in list(want.items())[:6]:
        assert read_file(P(mnt, "W par", name)) == data


def test_commits_run_in_parallel_and_not_while_open(fake, setup):
    mnt = setup(["W workers"], options=[SETTLE, "upload_workers=3"])
    # An open file is not committed, however long it stays open.
    held = open(P(mnt, "W workers", "held.jpg"), "wb")
    held_data = unique_bytes(10_000, "held")
    held.write(held_data)
    held.flush()
    # Slow uploads: several must be in flight at once.
    fake.fault(r"POST /api/assets$", "delay", delay_ms=1500)
    files = {"p%d.jpg" % i: unique_bytes(20_000 + i, "par%d" % i) for i in range(3)}
    for name, data in files.items():
        write_file(P(mnt, "W workers", name), data)
    poll(lambda: commits_in_flight(read_status(mnt)) >= 2, "two commits in flight at once",
         timeout=30, interval=0.05)
    wait_album_names(fake, "W workers", files)
    fake.clear_faults()
    assert "held.jpg" not in album_assets(fake, "W workers")
    assert fake.stats()["uploads"] == len(files)
    held.close()
    wait_in_album(fake, "W workers", "held.jpg", held_data)
    wait_idle(mnt)


# ------------------------------------------------------------------ pending files

def test_big_file_streams_to_disk_and_commits_intact(fake, setup, tmp_path):
    """A file written in order is sent to disk in 8 MiB steps whose pages are
    dropped once on disk, and the upload reads it back from disk: every byte
    must survive, read back through the mount while pending (from disk) and
    in Immich after the commit. cp through a write-only handle (direct I/O),
    then a rewrite of a middle piece through O_RDWR (the page cache)."""
    mnt = setup(["W big"], options=["settle=60"])
    src = tmp_path / "big.mov"
    data = unique_bytes(40 * MiB + 4097, "big")
    src.write_bytes(data)
    path = P(mnt, "W big", "big.mov")
    run(["cp", str(src), path])
    assert os.stat(path).st_size == len(data)
    assert sha1_hex(read_file(path)) == sha1_hex(data)
    with open(path, "r+b") as f:
        f.seek(20 * MiB + 5)
        f.write(b"middle")
    data = data[:20 * MiB + 5] + b"middle" + data[20 * MiB + 11:]
    assert sha1_hex(read_file(path)) == sha1_hex(data)
    assert fake.stats()["uploads"] == 0
    fsync_path(path)
    wait_in_album(fake, "W big", "big.mov", data)
    wait_idle(mnt)


def test_read_your_writes_before_commit(fake, setup):
    # A long settle: nothing commits unless fsync'ed.
    mnt = setup(["W ryw"], options=["settle=60"])
    path = P(mnt, "W ryw", "ryw.jpg")
    data = unique_bytes(3 * MiB + 5, "ryw")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data[:MiB])
        # Visible, with its size, while still open.
        assert "ryw.jpg" in os.listdir(P(mnt, "W ryw"))
        assert os.stat(path).st_size == MiB
        assert read_file(path) == data[:MiB]
        os.write(fd, data[MiB:])
        assert os.stat(path).st_size == len(data)
    finally:
        os.close(fd)
    assert read_file(path) == data
    # Truncate, write at an offset, set the mtime: all on the pending file.
    os.truncate(path, 1000)
    assert read_file(path) == data[:1000]
    with open(path, "r+b") as f:
        f.seek(5000)
        f.write(b"tail")
    expect = data[:1000] + b"\0" * 4000 + b"tail"
    assert read_file(path) == expect
    os.utime(path, (T2, T2))
    st = os.stat(path)
    assert (st.st_size, st.st_mtime) == (len(expect), T2)
    assert ls_l(P(mnt, "W ryw"))["ryw.jpg"] == (len(expect), int(T2))
    st_ = read_status(mnt)
    assert pending_files(st_) >= 1
    assert fake.stats()["uploads"] == 0
    assert album_assets(fake, "W ryw") == {}

    fsync_path(path)
    a = album_assets(fake, "W ryw")["ryw.jpg"]
    assert a["checksum_hex"] == sha1_hex(expect)
    assert abs(iso_to_epoch(a["fileModifiedAt"]) - T2) < 0.0015, a


def test_fsync_returns_once_the_asset_is_in_the_album(fake, setup):
    mnt = setup(["W fsync"], options=["settle=60"])
    fake.set_latency(150)   # every Immich call is slow: a lazy fsync would be caught
    data = unique_bytes(400_000, "fsync")
    with open(P(mnt, "W fsync", "f.jpg"), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
        # Checked right after fsync returned: no polling here.
        fake.set_latency(0)
        a = album_assets(fake, "W fsync").get("f.jpg")
        assert a is not None, "fsync returned before the asset was in the album"
        assert a["checksum_hex"] == sha1_hex(data)
    wait_idle(mnt)
    st = fake.state()
    assert len(assets_with_checksum(st, sha1_hex(data))) == 1
    assert fake.stats()["uploads"] == 1


def test_pending_file_becomes_the_asset_without_a_gap(fake, setup):
    mnt = setup(["W gap"], options=["settle=0.5"])
    path = P(mnt, "W gap", "nogap.jpg")
    data = unique_bytes(2 * MiB + 1, "gap")
    write_file(path, data, mtime=T1)
    seen = []
    problems = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                st = os.stat(path)
                names = os.listdir(P(mnt, "W gap"))
                seen.append(1)
                if (st.st_size, st.st_mtime) != (len(data), T1):
                    problems.append("stat: size %d mtime %r" % (st.st_size, st.st_mtime))
                if names != ["nogap.jpg"]:
                    problems.append("listing: %r" % names)
            except OSError as e:
                problems.append("stat/listdir: %r" % e)

    t = threading.Thread(target=watch)
    t.start()
    try:
        wait_in_album(fake, "W gap", "nogap.jpg", data)
        wait_idle(mnt)
        time.sleep(0.5)   # keep watching for a moment after the swap
    finally:
        stop.set()
        t.join()
    assert seen
    assert not problems, problems[:10]
    assert read_file(path) == data


def test_rename_pending_file_within_and_across_albums(fake, setup):
    mnt = setup(["W ren A", "W ren B"], options=["settle=60"])
    data = unique_bytes(10_000, "ren")
    write_file(P(mnt, "W ren A", "first.jpg"), data, mtime=T1)
    os.rename(P(mnt, "W ren A", "first.jpg"), P(mnt, "W ren A", "second.jpg"))
    assert os.listdir(P(mnt, "W ren A")) == ["second.jpg"]
    os.rename(P(mnt, "W ren A", "second.jpg"), P(mnt, "W ren B", "third.jpg"))
    assert os.listdir(P(mnt, "W ren A")) == []
    assert os.listdir(P(mnt, "W ren B")) == ["third.jpg"]
    st = os.stat(P(mnt, "W ren B", "third.jpg"))
    assert (st.st_size, st.st_mtime) == (len(data), T1)
    assert read_file(P(mnt, "W ren B", "third.jpg")) == data
    assert fake.stats()["uploads"] == 0

    fsync_path(P(mnt, "W ren B", "third.jpg"))
    st = fake.state()
    assert album_assets(fake, "W ren A", st) == {}
    a = album_assets(fake, "W ren B", st).get("third.jpg")
    assert a is not None and a["checksum_hex"] == sha1_hex(data), a
    assert len(assets_with_checksum(st, sha1_hex(data))) == 1


def test_unlink_pending_file_is_never_uploaded(fake, setup):
    mnt = setup(["W drop"])
    a = unique_bytes(5000, "drop-a")
    b = unique_bytes(5000, "drop-b")
    write_file(P(mnt, "W drop", "a.jpg"), a)
    os.unlink(P(mnt, "W drop", "a.jpg"))
    # Unlinked while open: the handle keeps working, nothing is committed.
    f = open(P(mnt, "W drop", "b.jpg"), "w+b")
    f.write(b)
    f.flush()
    os.unlink(P(mnt, "W drop", "b.jpg"))
    f.seek(0)
    assert f.read() == b
    f.close()
    assert os.listdir(P(mnt, "W drop")) == []
    time.sleep(2)   # well past the settle time (0.2 s): a commit would have started
    wait_idle(mnt)
    st = fake.state()
    assert assets_with_checksum(st, sha1_hex(a)) == []
    assert assets_with_checksum(st, sha1_hex(b)) == []
    assert album_assets(fake, "W drop", st, trashed=True) == {}
    assert os.listdir(P(mnt, "W drop")) == []


def test_unlink_during_its_commit_leaves_nothing_in_the_album(fake, setup):
    mnt = setup(["W undo"], options=[SETTLE])
    fake.fault(r"POST /api/assets$", "delay", delay_ms=1500)
    data = unique_bytes(200_000, "undo")
    write_file(P(mnt, "W undo", "undo.jpg"), data)
    poll(lambda: commits_in_flight(read_status(mnt)) >= 1, "the commit started", interval=0.02)
    os.unlink(P(mnt, "W undo", "undo.jpg"))
    assert os.listdir(P(mnt, "W undo")) == []
    wait_idle(mnt)
    fake.clear_faults()
    # The upload may have finished: then the new asset must not stay in the
    # album (it is trashed, as any unlink of an asset in one album).
    poll(lambda: album_assets(fake, "W undo") == {}, "nothing left in the album")
    for a in assets_with_checksum(fake.state(), sha1_hex(data)):
        assert a["trashed"], a
    assert os.listdir(P(mnt, "W undo")) == []


def test_writes_after_fsync_on_an_open_file_commit_as_an_overwrite(fake, setup):
    mnt = setup(["W gen"], options=[SETTLE])
    first = unique_bytes(50_000, "gen1")
    more = unique_bytes(30_000, "gen2")
    with open(P(mnt, "W gen", "gen.jpg"), "wb") as f:
        f.write(first)
        f.flush()
        os.fsync(f.fileno())
        a1 = album_assets(fake, "W gen", strict=False).get("gen.jpg")
        assert a1 is not None and a1["checksum_hex"] == sha1_hex(first), a1
        f.write(more)
    assert read_file(P(mnt, "W gen", "gen.jpg")) == first + more
    wait_in_album(fake, "W gen", "gen.jpg", first + more)
    wait_idle(mnt)
    got = album_assets(fake, "W gen")
    assert list(got) == ["gen.jpg"] and got["gen.jpg"]["checksum_hex"] == sha1_hex(first + more)
    old = [a for a in fake.state()["assets"] if a["id"] == a1["id"]][0]
    assert old["trashed"], "the first generation is left behind: %s" % old
    assert os.listdir(P(mnt, "W gen")) == ["gen.jpg"]
    assert read_file(P(mnt, "W gen", "gen.jpg")) == first + more


def test_temp_name_never_commits_until_renamed(fake, setup):
    """An uploader's temporary file (rsync's .NAME.XXXXXX, WinSCP's
    NAME.filepart) left behind by an interrupted transfer must not land in
    Immich half-written; once renamed to its final name it commits."""
    mnt = setup(["W temp"])
    data = unique_bytes(40_000, "temp")
    write_file(P(mnt, "W temp", ".half.jpg.Ab12Cd"), data)
    write_file(P(mnt, "W temp", "other.jpg.filepart"), data[:1000])
    time.sleep(1.5)   # well past the settle time (0.2 s)
    assert album_assets(fake, "W temp", trashed=True) == {}
    assert fake.stats()["uploads"] == 0
    assert pending_files(read_status(mnt)) == 2
    assert sorted(os.listdir(P(mnt, "W temp"))) == [".half.jpg.Ab12Cd", "other.jpg.filepart"]
    os.rename(P(mnt, "W temp", ".half.jpg.Ab12Cd"), P(mnt, "W temp", "half.jpg"))
    wait_in_album(fake, "W temp", "half.jpg", data)
    os.unlink(P(mnt, "W temp", "other.jpg.filepart"))
    wait_idle(mnt)
    assert sorted(album_assets(fake, "W temp")) == ["half.jpg"]


# ------------------------------------------------------------------ overwrite

def test_overwrite_with_o_trunc(fake, setup):
    old_data = unique_bytes(20_000, "old")
    fake.seed_album("W trunc")
    fake.seed_album("W trunc 2")
    old = fake.add_asset("photo.jpg", content=old_data, album="W trunc", favorite=True,
                         modified="2019-01-01T00:00:00Z")
    old2 = fake.add_asset("both.jpg", content=unique_bytes(3000, "old2"), albums=["W trunc", "W trunc 2"])
    mnt = setup()
    new_data = unique_bytes(33_333, "new")
    with open(P(mnt, "W trunc", "photo.jpg"), "wb") as f:    # O_TRUNC on an asset
        assert os.fstat(f.fileno()).st_size == 0
        f.write(new_data)
    assert read_file(P(mnt, "W trunc", "photo.jpg")) == new_data
    assert os.stat(P(mnt, "W trunc", "photo.jpg")).st_size == len(new_data)

    a = wait_in_album(fake, "W trunc", "photo.jpg", new_data)
    assert a["id"] != old["id"]
    poll(lambda: [x for x in fake.state()["assets"] if x["id"] == old["id"]][0]["trashed"],
         "the overwritten asset is trashed")
    wait_idle(mnt)
    st = fake.state()
    a = album_assets(fake, "W trunc", st)["photo.jpg"]
    assert a["favorite"], "metadata (favorite) not copied from the old asset: %s" % a
    assert len(assets_with_checksum(st, sha1_hex(new_data))) == 1
    assert read_file(P(mnt, "W trunc", "photo.jpg")) == new_data
    assert sorted(os.listdir(P(mnt, "W trunc"))) == ["both.jpg", "photo.jpg"]

    # An asset in two albums: the new content takes its place in both.
    both = unique_bytes(4444, "both-new")
    with open(P(mnt, "W trunc", "both.jpg"), "wb") as f:
        f.write(both)
    wait_in_album(fake, "W trunc", "both.jpg", both)
    wait_in_album(fake, "W trunc 2", "both.jpg", both)
    wait_idle(mnt)
    st = fake.state()
    assert len(assets_with_checksum(st, sha1_hex(both))) == 1
    assert album_assets(fake, "W trunc 2", st)["both.jpg"]["id"] != old2["id"]
    assert read_file(P(mnt, "W trunc 2", "both.jpg")) == both


def test_overwrite_by_rename_onto_an_asset(fake, setup):
    fake.seed_album("W onto")
    old_data = unique_bytes(20_000, "onto-old")
    old = fake.add_asset("target.jpg", content=old_data, album="W onto")
    mnt = setup(options=["settle=60"])
    new_data = unique_bytes(12_345, "onto-new")
    write_file(P(mnt, "W onto", "upload.tmp.jpg"), new_data, mtime=T2)
    os.rename(P(mnt, "W onto", "upload.tmp.jpg"), P(mnt, "W onto", "target.jpg"))
    assert os.listdir(P(mnt, "W onto")) == ["target.jpg"]
    assert read_file(P(mnt, "W onto", "target.jpg")) == new_data
    st = os.stat(P(mnt, "W onto", "target.jpg"))
    assert (st.st_size, st.st_mtime) == (len(new_data), T2)

    fsync_path(P(mnt, "W onto", "target.jpg"))
    st = fake.state()
    a = album_assets(fake, "W onto", st, strict=False).get("target.jpg")
    assert a is not None and a["checksum_hex"] == sha1_hex(new_data), a
    assert a["id"] != old["id"]
    poll(lambda: [x for x in fake.state()["assets"] if x["id"] == old["id"]][0]["trashed"],
         "the replaced asset is trashed")
    wait_idle(mnt)
    assert sorted(album_assets(fake, "W onto")) == ["target.jpg"]
    assert os.listdir(P(mnt, "W onto")) == ["target.jpg"]


# ------------------------------------------------------------------ albums

def test_mkdir_rmdir_rules(fake, setup):
    fake.seed_album("W full")
    fake.add_asset("in.jpg", content=unique_bytes(100, "full"), album="W full")
    mnt = setup(options=["settle=60"])
    os.mkdir(P(mnt, "W made here"))
    assert "W made here" in os.listdir(mnt)
    assert stat.S_ISDIR(os.stat(P(mnt, "W made here")).st_mode)
    assert album_of(fake.state(), "W made here") is not None
    expect_errno(errno.EEXIST, os.mkdir, P(mnt, "W made here"))
    expect_errno(errno.EPERM, os.mkdir, P(mnt, "W made here", "sub"))
    expect_errno(errno.EPERM, os.mkdir, P(mnt, "W full", "sub"))
    expect_errno(errno.ENOTEMPTY, os.rmdir, P(mnt, "W full"))
    assert album_of(fake.state(), "W full") is not None
    assert os.listdir(P(mnt, "W full")) == ["in.jpg"]

    # A pending file makes an album not empty too.
    write_file(P(mnt, "W made here", "p.jpg"), unique_bytes(100, "pend"))
    expect_errno(errno.ENOTEMPTY, os.rmdir, P(mnt, "W made here"))
    os.unlink(P(mnt, "W made here", "p.jpg"))
    os.rmdir(P(mnt, "W made here"))
    assert "W made here" not in os.listdir(mnt)
    assert album_of(fake.state(), "W made here") is None
    assert fake.stats()["uploads"] == 0


def test_mv_album_renames_it(fake, setup):
    al = fake.seed_album("W old name")
    fake.add_asset("x.jpg", content=unique_bytes(100, "mvalbum"), album="W old name")
    mnt = setup()
    os.rename(P(mnt, "W old name"), P(mnt, "W new name"))
    assert "W old name" not in os.listdir(mnt)
    assert os.listdir(P(mnt, "W new name")) == ["x.jpg"]
    st = fake.state()
    assert album_of(st, "W old name") is None
    new = album_of(st, "W new name")
    assert new is not None and new["id"] == al["id"] and len(new["assets"]) == 1, new


def test_ln_adds_to_a_second_album(fake, setup):
    fake.seed_album("W ln A")
    fake.seed_album("W ln B")
    data = unique_bytes(50_000, "ln")
    a = fake.add_asset("ln.jpg", content=data, album="W ln A")
    mnt = setup()
    os.link(P(mnt, "W ln A", "ln.jpg"), P(mnt, "W ln B", "ln.jpg"))
    assert os.listdir(P(mnt, "W ln B")) == ["ln.jpg"]
    assert os.listdir(P(mnt, "W ln A")) == ["ln.jpg"]
    st = fake.state()
    got = [x for x in st["assets"] if x["id"] == a["id"]][0]
    assert sorted(got["albums"]) == sorted([album_of(st, "W ln A")["id"], album_of(st, "W ln B")["id"]])
    s = fake.stats()
    assert s["uploads"] == 0 and s["upload_bytes"] == 0, s
    assert read_file(P(mnt, "W ln B", "ln.jpg")) == data


def test_ln_of_a_just_written_file_uploads_it_once_into_both_albums(fake, setup):
    fake.seed_album("W lnp A")
    fake.seed_album("W lnp B")
    mnt = setup(options=["settle=600"])   # only the link makes it commit now
    data = unique_bytes(40_000, "ln-pending")
    write_file(P(mnt, "W lnp A", "fresh.jpg"), data)
    fake.reset_stats()
    os.link(P(mnt, "W lnp A", "fresh.jpg"), P(mnt, "W lnp B", "fresh.jpg"))
    st = fake.state()
    ids_a = [x["id"] for x in st["assets"] if album_of(st, "W lnp A")["id"] in x["albums"]]
    ids_b = [x["id"] for x in st["assets"] if album_of(st, "W lnp B")["id"] in x["albums"]]
    assert len(ids_a) == 1 and ids_a == ids_b, (ids_a, ids_b)
    assert fake.stats()["uploads"] == 1
    assert read_file(P(mnt, "W lnp B", "fresh.jpg")) == data
    assert os.stat(P(mnt, "W lnp A", "fresh.jpg")).st_ino == os.stat(P(mnt, "W lnp B", "fresh.jpg")).st_ino


def test_mv_uploaded_asset_between_albums_sends_no_data(fake, setup):
    fake.seed_album("W mv A")
    fake.seed_album("W mv B")
    data = unique_bytes(1 * MiB, "mv")
    a = fake.add_asset("mv.jpg", content=data, album="W mv A")
    mnt = setup()
    fake.reset_stats()
    os.rename(P(mnt, "W mv A", "mv.jpg"), P(mnt, "W mv B", "mv.jpg"))
    assert os.listdir(P(mnt, "W mv A")) == []
    assert os.listdir(P(mnt, "W mv B")) == ["mv.jpg"]
    st = fake.state()
    got = [x for x in st["assets"] if x["id"] == a["id"]][0]
    assert got["albums"] == [album_of(st, "W mv B")["id"]], got
    assert not got["trashed"]
    s = fake.stats()
    assert (s["uploads"], s["upload_bytes"], s["download_bytes"]) == (0, 0, 0), s


def test_rename_uploaded_asset_within_its_album_is_eperm(fake, setup):
    fake.seed_album("W eperm")
    a = fake.add_asset("fixed.jpg", content=unique_bytes(100, "eperm"), album="W eperm")
    mnt = setup()
    expect_errno(errno.EPERM, os.rename, P(mnt, "W eperm", "fixed.jpg"), P(mnt, "W eperm", "moved.jpg"))
    r = subprocess.run(["mv", P(mnt, "W eperm", "fixed.jpg"), P(mnt, "W eperm", "moved.jpg")],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert os.listdir(P(mnt, "W eperm")) == ["fixed.jpg"]
    assert [x["name"] for x in fake.state()["assets"] if x["id"] == a["id"]] == ["fixed.jpg"]
    assert fake.stats()["uploads"] == 0


def test_unlink_rules(fake, setup):
    fake.seed_album("W rm A")
    fake.seed_album("W rm B")
    two = fake.add_asset("two.jpg", content=unique_bytes(100, "rm2"), albums=["W rm A", "W rm B"])
    one = fake.add_asset("one.jpg", content=unique_bytes(100, "rm1"), album="W rm A")
    mnt = setup()
    os.unlink(P(mnt, "W rm A", "two.jpg"))
    os.unlink(P(mnt, "W rm A", "one.jpg"))
    assert os.listdir(P(mnt, "W rm A")) == []
    assert os.listdir(P(mnt, "W rm B")) == ["two.jpg"]
    st = fake.state()
    by = {x["id"]: x for x in st["assets"]}
    assert not by[two["id"]]["trashed"]
    assert by[two["id"]]["albums"] == [album_of(st, "W rm B")["id"]]
    assert by[one["id"]]["trashed"], "unlink from the only album must trash it"
    assert os.path.exists(by[one["id"]]["path"]), "trashed, not deleted for good"
    expect_errno(errno.ENOENT, os.unlink, P(mnt, "W rm A", "one.jpg"))


def test_chmod_chown_succeed_and_change_nothing(fake, setup):
    fake.seed_album("W chmod")
    fake.add_asset("c.jpg", content=unique_bytes(100, "chmod"), album="W chmod")
    mnt = setup(options=["settle=60"])
    write_file(P(mnt, "W chmod", "pending.jpg"), unique_bytes(100, "chmodp"))
    for path in (P(mnt, "W chmod", "c.jpg"), P(mnt, "W chmod", "pending.jpg"), P(mnt, "W chmod")):
        before = os.stat(path)
        os.chmod(path, 0o600)
        os.chown(path, 1234, 4321)
        after = os.stat(path)
        assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
    run(["chmod", "-R", "go-rwx", P(mnt, "W chmod")])
    os.unlink(P(mnt, "W chmod", "pending.jpg"))


def test_unsupported_type_refused_at_create(fake, setup, tmp_path):
    mnt = setup(["W txt"])
    for name in ("notes.txt", "archive.zip", "._IMG_0001.JPG"):
        expect_errno(UNSUPPORTED, open, P(mnt, "W txt", name), "wb")
        expect_errno(UNSUPPORTED, os.open, P(mnt, "W txt", name),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    expect_errno(UNSUPPORTED, os.mknod, P(mnt, "W txt", "node.txt"), 0o644 | stat.S_IFREG)
    # Nor can a file be renamed to such a name.
    write_file(P(mnt, "W txt", "pending.jpg"), unique_bytes(100, "to-txt"))
    expect_errno(UNSUPPORTED, os.rename, P(mnt, "W txt", "pending.jpg"), P(mnt, "W txt", "pending.txt"))
    os.unlink(P(mnt, "W txt", "pending.jpg"))
    src = tmp_path / "readme.txt"
    src.write_text("hello")
    r = subprocess.run(["cp", str(src), P(mnt, "W txt") + "/"], capture_output=True, text=True)
    assert r.returncode != 0 and "Operation not supported" in r.stderr, r.stderr
    assert os.listdir(P(mnt, "W txt")) == []
    # Upper-case extensions of accepted types are accepted.
    write_file(P(mnt, "W txt", "UPPER.JPG"), unique_bytes(100, "upper"), fsync=True)
    wait_idle(mnt)
    st = fake.state()
    assert sorted(album_assets(fake, "W txt", st)) == ["UPPER.JPG"]
    s = fake.stats()
    assert s["uploads"] == 1, s
    assert read_status(mnt) is not None
    assert not any("txt" in n or "zip" in n for n in os.listdir(P(mnt, ".immich", "failed")))


def test_unicode_and_255_byte_names(fake, setup):
    album = "W ünïcødé 写真"
    mnt = setup([album])
    names = ["Grüße aus Köln 😀.jpg",
             "写真" * 10 + ".heic",
             "a" * 251 + ".jpg",                           # 255 bytes
             ("é" * 125) + ".png"]                          # 254 bytes, 130 characters
    assert len(names[2].encode()) == 255
    datas = {n: unique_bytes(1000 + i, "uni%d" % i) for i, n in enumerate(names)}
    for n, d in datas.items():
        write_file(P(mnt, album, n), d)
    assert sorted(os.listdir(P(mnt, album))) == sorted(names)
    wait_album_names(fake, album, names)
    wait_idle(mnt)
    got = album_assets(fake, album)
    assert sorted(got) == sorted(names)
    for n, d in datas.items():
        assert got[n]["checksum_hex"] == sha1_hex(d), n
        assert read_file(P(mnt, album, n)) == d
    assert sorted(os.listdir(P(mnt, album))) == sorted(names)


# ------------------------------------------------------------------ status

def test_status_file(fake, setup):
    mnt = setup(["W status"], options=["settle=60"])
    assert {"failed", "status"} <= set(os.listdir(P(mnt, ".immich")))
    assert stat.S_ISDIR(os.stat(P(mnt, ".immich", "failed")).st_mode)
    assert ".immich" not in [a["name"] for a in fake.state()["albums"]]
    data = unique_bytes(123_456, "status")
    write_file(P(mnt, "W status", "s.jpg"), data)
    raw = read_file(status_path(mnt))
    st = json.loads(raw)
    assert pending_files(st) == 1, st
    assert pending_bytes(st) == len(data), st
    assert commits_in_flight(st) == 0, st
    assert "3.1.0" in raw.decode(), "server version missing: %s" % raw[:2000]
    assert any(k for k in st if "error" in k.lower()), "no last-errors field: %s" % list(st)
    # Read-only.
    expect_errno((errno.EACCES, errno.EPERM, errno.EROFS), open, status_path(mnt), "wb")
    expect_errno((errno.EACCES, errno.EPERM, errno.EROFS), os.unlink, status_path(mnt))
    expect_errno((errno.EACCES, errno.EPERM, errno.EROFS), os.mkdir, P(mnt, ".immich", "x"))
    fsync_path(P(mnt, "W status", "s.jpg"))
    st = wait_idle(mnt)
    assert pending_files(st) == 0 and pending_bytes(st) == 0, st


def test_a_reader_sees_what_a_write_only_handle_writes(fake, setup):
    """Write-only handles bypass the page cache (direct I/O); a reader of the
    same pending file must still see every write at once, not stale pages."""
    mnt = setup(["W coherent"], options=["settle=60"])
    p = P(mnt, "W coherent", "c.jpg")
    w = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    r = os.open(p, os.O_RDONLY)
    try:
        os.write(w, b"A" * 8192)
        assert os.pread(r, 16, 0) == b"A" * 16      # now in the reader's page cache
        os.pwrite(w, b"B" * 16, 0)
        os.write(w, b"C" * 100)
        assert os.pread(r, 16, 0) == b"B" * 16
        assert os.fstat(r).st_size == 8292
        assert os.pread(r, 9000, 0) == b"B" * 16 + b"A" * (8192 - 16) + b"C" * 100
    finally:
        os.close(w)
        os.close(r)
    os.unlink(p)


@pytest.mark.limit(240)
def test_a_batch_of_files_costs_few_server_calls_besides_the_uploads(fake, setup):
    # issue 11: a real Immich costs per call. While uploads are slow (as on a
    # busy server), the files behind them share their bulk-upload-checks and
    # album adds, and no uploaded file is read back (GET /api/assets/{id}).
    mnt = setup(["W batch"], options=[SETTLE, "upload_workers=4"])
    fake.fault(r"POST /api/assets$", "delay", delay_ms=400)
    files = {"b%02d.jpg" % i: unique_bytes(30_000 + i, "batch%d" % i) for i in range(40)}
    for name, data in files.items():
        write_file(P(mnt, "W batch", name), data)
    wait_album_names(fake, "W batch", files, timeout=180)
    wait_idle(mnt)
    fake.clear_faults()
    got = album_assets(fake, "W batch")
    assert sorted(got) == sorted(files)
    for name, data in files.items():
        assert got[name]["checksum_hex"] == sha1_hex(data), name
    req = fake.stats()["requests"]
    uploads = req.get("POST /api/assets", 0)
    checks = req.get("POST /api/assets/bulk-upload-check", 0)
    adds = sum(v for k, v in req.items() if k.startswith("PUT /api/albums/") and k.endswith("/assets"))
    reads = sum(v for k, v in req.items() if k.startswith("GET /api/assets/") and k.count("/") == 3)
    assert uploads == len(files), req
    assert reads == 0, req
    # With 4 uploads of 400 ms in flight and 40 files, a file per call would
    # be 40 of each; coalesced, at most half.
    assert checks <= len(files) // 2, req
    assert adds <= len(files) // 2, req
    calls = read_status(mnt)["server_calls"]
    assert calls["uploads"] == len(files), calls
    assert calls["assets_added"] == len(files), calls
    assert calls["album_adds"] == adds, calls


@pytest.mark.limit(240)
def test_a_big_file_uploads_while_it_settles(fake, setup):
    # The early start (spool.h): a file of 8 MiB or more starts uploading at
    # close; the server gets its last byte only after the settle time, and a
    # new mtime set meanwhile (an SFTP SETSTAT after close) is the one Immich
    # keeps: the held upload is dropped, not made an asset.
    mnt = setup(["W early"], options=["settle=6"])
    data = unique_bytes(9 * MiB, "early")
    path = P(mnt, "W early", "clip.mp4")
    write_file(path, data)
    poll(lambda: fake.stats()["requests"].get("POST /api/assets", 0) >= 1, "the upload started",
         timeout=30, interval=0.02)
    assert album_assets(fake, "W early") == {}, "no asset before the settle time is over"
    os.utime(path, (T1, T1))
    wait_in_album(fake, "W early", "clip.mp4", data, timeout=60)
    wait_idle(mnt)
    got = album_assets(fake, "W early")
    assert list(got) == ["clip.mp4"]
    assert iso_to_epoch(got["clip.mp4"]["fileModifiedAt"]) == pytest.approx(T1, abs=0.001)
    state = fake.state()
    assert len(assets_with_checksum(state, sha1_hex(data))) == 1, "no stray asset"
    assert fake.stats()["requests"].get("POST /api/assets", 0) == 2, "the held upload was dropped"
