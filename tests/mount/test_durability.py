"""Crash safety and failures (DESIGN.md, Writing: "Nothing a client was told
was written is ever lost"): kill -9 while writing and committing, a restart
resumes every pending commit, commits are idempotent, Immich down or failing
during uploads, a full spool disk, refused files moved to failed/, and a
mount started while Immich is unreachable."""

import errno
import os
import random
import subprocess
import threading

import pytest

from writeutil import (MiB, SETTLE, album_assets, assets_with_checksum, failed_names, pending_files,
                       fsync_path, poll, read_file, read_status, sha1_hex, status_errors, unique_bytes,
                       wait_album_names, wait_idle, wait_in_album, write_file)

UPLOAD = "POST /api/assets$"


def P(mnt, *parts):
    return os.path.join(mnt, *parts)


def write_closed(path, data):
    """Writes a new file with plain system calls; True once close() returned."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for off in range(0, len(data), 64 * 1024):
            os.write(fd, data[off:off + 64 * 1024])
    except OSError:
        try:
            os.close(fd)
        except OSError:
            pass
        raise
    os.close(fd)
    return True


def pending_count(mnt):
    return pending_files(read_status(mnt))


def check_exactly(fake, album, files):
    """The album holds exactly `files` ({name: bytes}), each content once in
    the whole library."""
    st = fake.state()
    got = album_assets(fake, album, st)
    assert sorted(got) == sorted(files), "missing %s, extra %s" % (
        sorted(set(files) - set(got))[:10], sorted(set(got) - set(files))[:10])
    for name, data in files.items():
        assert got[name]["checksum_hex"] == sha1_hex(data), name
        n = len(assets_with_checksum(st, sha1_hex(data)))
        assert n == 1, "%s stored %d times" % (name, n)


# ------------------------------------------------------------------ kill -9

@pytest.mark.slow
@pytest.mark.limit(300)
@pytest.mark.parametrize("seed,kill_at", [(1, "random"), (2, "random"), (3, "after_last_close")])
def test_kill_9_while_writing_and_committing(fake, mounted, seed, kill_at):
    rnd = random.Random(seed)
    album = "D kill %d" % seed
    fake.seed_album(album)
    fake.set_latency(10)   # commits take a while, so the kill lands in some of them
    m = mounted(fake, options=[SETTLE, "upload_workers=3"])
    files = {}
    for i in range(100):
        name = "k%03d.jpg" % i
        files[name] = unique_bytes(rnd.randint(1000, 80_000), "%s-%d" % (album, i))
    kill_after = rnd.randint(15, 85) if kill_at == "random" else len(files)
    closed = []

    def writer():
        for name, data in files.items():
            try:
                write_closed(P(m.mountpoint, album, name), data)
            except OSError:
                return   # the daemon is gone
            closed.append(name)

    t = threading.Thread(target=writer)
    t.start()
    poll(lambda: len(closed) >= kill_after or not t.is_alive(), "%d files closed" % kill_after,
         timeout=120, interval=0.005)
    m.kill()
    t.join(60)
    assert not t.is_alive()
    told = list(closed)
    assert len(told) >= kill_after, "writes failed before the kill: %d closed" % len(told)

    # Restart on the same spool: every file whose close() returned lands.
    m2 = mounted.again(m)
    listed = set(os.listdir(P(m2.mountpoint, album)))
    assert set(told) <= listed, "closed before the crash, missing after restart: %s" % sorted(
        set(told) - listed)[:10]
    wait_album_names(fake, album, told, timeout=180)
    wait_idle(m2.mountpoint, timeout=180)
    got = album_assets(fake, album)
    assert set(got) <= set(files), sorted(set(got) - set(files))
    for name, a in got.items():
        assert a["checksum_hex"] == sha1_hex(files[name]), "%s: wrong content after the crash" % name
    if kill_at == "after_last_close":
        check_exactly(fake, album, files)
        return

    # Write what was not told to be written, on the new mount: then exactly
    # the 100 files, each stored once.
    listed = set(os.listdir(P(m2.mountpoint, album)))
    for name, data in files.items():
        if name not in listed:
            write_closed(P(m2.mountpoint, album, name), data)
    wait_album_names(fake, album, files, timeout=180)
    wait_idle(m2.mountpoint, timeout=180)
    check_exactly(fake, album, files)
    assert sorted(os.listdir(P(m2.mountpoint, album))) == sorted(files)


@pytest.mark.limit(180)
def test_crash_between_upload_and_album_add(fake, mounted):
    fake.seed_album("D between")
    data = unique_bytes(300_000, "between")
    m = mounted(fake, options=[SETTLE])
    # Every album-add is lost: the upload succeeds, the commit cannot finish.
    fake.fault(r"PUT /api/albums/.*assets", "drop")
    fake.reset_stats()
    write_file(P(m.mountpoint, "D between", "b.jpg"), data)

    def album_add_tried():
        s = fake.stats()
        return s["uploads"] == 1 and any(k.startswith("PUT /api/albums") and "assets" in k
                                         for k in s["requests"])
    poll(album_add_tried, "uploaded, album-add attempted")
    m.kill()
    fake.clear_faults()
    st = fake.state()
    assert len(assets_with_checksum(st, sha1_hex(data))) == 1
    assert album_assets(fake, "D between", st) == {}

    m2 = mounted.again(m)
    assert "b.jpg" in os.listdir(P(m2.mountpoint, "D between"))
    wait_in_album(fake, "D between", "b.jpg", data)
    wait_idle(m2.mountpoint)
    check_exactly(fake, "D between", {"b.jpg": data})
    s = fake.stats()
    assert s["uploads"] == 1 and s["uploads_duplicate"] == 0, "uploaded again after the restart: %s" % s


def test_pending_files_survive_unmount_and_resume(fake, mounted):
    fake.seed_album("D resume")
    files = {"r%d.jpg" % i: unique_bytes(10_000 + i, "resume%d" % i) for i in range(3)}
    m = mounted(fake, options=["settle=600"])
    for name, data in files.items():
        write_file(P(m.mountpoint, "D resume", name), data, mtime=1400000000 + len(data))
    assert pending_count(m.mountpoint) == 3
    m.stop()
    assert album_assets(fake, "D resume") == {}

    m2 = mounted.again(m, options=[SETTLE])
    # Listed (right size and mtime) at once, then committed.
    for name, data in files.items():
        st = os.stat(P(m2.mountpoint, "D resume", name))
        assert (st.st_size, st.st_mtime) == (len(data), 1400000000 + len(data))
    wait_album_names(fake, "D resume", files)
    wait_idle(m2.mountpoint)
    check_exactly(fake, "D resume", files)


# ------------------------------------------------------------------ Immich down or failing

@pytest.mark.limit(180)
@pytest.mark.parametrize("how", ["stopped", "offline"])
def test_immich_down_during_writes_then_back(fake, mounted, how):
    album = "D down " + how
    fake.seed_album(album)
    m = mounted(fake, options=[SETTLE])
    assert os.listdir(P(m.mountpoint, album)) == []
    if how == "stopped":
        fake.stop()
    else:
        fake.set_offline(True)
    files = {"d%d.jpg" % i: unique_bytes(50_000 + i, "%s%d" % (album, i)) for i in range(5)}
    try:
        for name, data in files.items():
            write_file(P(m.mountpoint, album, name), data)
        assert sorted(os.listdir(P(m.mountpoint, album))) == sorted(files)
        for name, data in files.items():
            assert read_file(P(m.mountpoint, album, name)) == data
        # Commits are tried, fail, and are kept.
        poll(lambda: status_errors(read_status(m.mountpoint)), "a commit error shows in /.immich/status")
        assert pending_count(m.mountpoint) == len(files)
    finally:
        if how == "stopped":
            fake.start()
        else:
            fake.set_offline(False)
    wait_album_names(fake, album, files, timeout=150)
    wait_idle(m.mountpoint, timeout=150)
    check_exactly(fake, album, files)


def test_down_an_unlisted_album_is_not_asked_again_for_every_file(fake, mounted):
    """While Immich is down, an album whose listing could not be fetched is
    served from what is known until another TTL has passed, like the album
    list: not asked for again (with the client's retries) at every lookup
    and create. A real Immich stopped during `cp -r` of 300 files showed
    it: each file took ~3 s (tests/real/run, scenario server-files)."""
    album = "D down unlisted"
    a = fake.seed_album(album)
    fake.add_asset("old.jpg", size=1000, seed=5, album=a["id"])
    # No commit is tried during the test; the TTL outlasts it.
    m = mounted(fake, options=["settle=600", "dir_cache_ttl=120"])
    fake.set_offline(True)
    fake.reset_stats()
    files = {"u%d.jpg" % i: unique_bytes(1000 + i, "%s%d" % (album, i)) for i in range(10)}
    for name, data in files.items():
        write_file(P(m.mountpoint, album, name), data)
    asked = fake.stats()["connections_opened"]
    # The album list and the album's listing, each once with its retries (4
    # attempts): 8. Before the fix, every lookup and create paged it again.
    assert asked <= 8, "%d connection attempts for %d files while down" % (asked, len(files))
    # Its contents were never listed: readdir fails rather than show only the
    # pending files (an `rsync --delete` from the mount would drop old.jpg
    # from a backup); the files written are there by name.
    with pytest.raises(OSError) as e:
        os.listdir(P(m.mountpoint, album))
    assert e.value.errno == errno.EIO
    assert "its contents were never listed" in m.log()
    for name, data in files.items():
        assert read_file(P(m.mountpoint, album, name)) == data
    fake.set_offline(False)


FAULTS = {
    "upload500x3": dict(route=UPLOAD, kind="status", status=500, count=3),
    "upload503": dict(route=UPLOAD, kind="status", status=503, count=1),
    "upload-drop": dict(route=UPLOAD, kind="drop", after_bytes=256 * 1024, count=2),
    # The server stores the upload, the answer is lost: the retry must find
    # the asset (bulk-upload-check), not upload it again.
    "upload-answer-lost": dict(route=UPLOAD, kind="truncate", after_bytes=0, count=2),
    "check502": dict(route="POST /api/assets/bulk-upload-check", kind="status", status=502, count=2),
    "album-add-drop": dict(route=r"PUT /api/albums/.*assets", kind="drop", count=2),
}


@pytest.mark.limit(180)
@pytest.mark.parametrize("fault_id", list(FAULTS))
def test_upload_faults_commit_exactly_once(fake, mounted, fault_id):
    fault = FAULTS[fault_id]
    album = "D fault " + fault_id
    fake.seed_album(album)
    m = mounted(fake, options=[SETTLE])
    data = unique_bytes(MiB + 17, album)
    fake.reset_stats()
    f = dict(fault)
    fake.fault(f.pop("route"), f.pop("kind"), **f)
    write_file(P(m.mountpoint, album, "once.jpg"), data)
    wait_in_album(fake, album, "once.jpg", data, timeout=120)
    wait_idle(m.mountpoint, timeout=120)
    check_exactly(fake, album, {"once.jpg": data})
    s = fake.stats()
    assert s["uploads"] == 1, s
    left = fake.faults()
    assert left and left[0]["count"] < fault["count"], "the fault did not fire: %s" % left
    assert read_file(P(m.mountpoint, album, "once.jpg")) == data


def test_refused_commit_moves_to_failed(fake, mounted):
    fake.seed_album("D refused")
    m = mounted(fake, options=[SETTLE])
    fake.fault(UPLOAD, "status", status=400)
    data = unique_bytes(20_000, "refused")
    write_file(P(m.mountpoint, "D refused", "bad.jpg"), data)
    names = poll(lambda: (lambda ns: ns if len(ns) >= 2 else None)(
        [n for n in failed_names(m.mountpoint) if "bad.jpg" in n]),
        "bad.jpg and its .reason in /.immich/failed/")
    data_names = [n for n in names if not n.endswith(".reason")]
    reasons = [n for n in names if n.endswith(".reason")]
    assert len(data_names) == 1 and len(reasons) == 1, names
    assert read_file(P(m.mountpoint, ".immich", "failed", data_names[0])) == data
    reason = read_file(P(m.mountpoint, ".immich", "failed", reasons[0])).decode()
    assert reason.strip(), "empty reason file"
    # (failed/ shows the file a moment before the album stops listing it.)
    poll(lambda: "bad.jpg" not in os.listdir(P(m.mountpoint, "D refused")),
         "bad.jpg no longer listed in its album", timeout=30, interval=0.01)
    assert album_assets(fake, "D refused") == {}

    # fsync reports the failure instead of success.
    data2 = unique_bytes(20_000, "refused2")
    with open(P(m.mountpoint, "D refused", "bad2.jpg"), "wb") as f:
        f.write(data2)
        f.flush()
        with pytest.raises(OSError):
            os.fsync(f.fileno())
    poll(lambda: [n for n in failed_names(m.mountpoint) if "bad2.jpg" in n and not n.endswith(".reason")],
         "bad2.jpg in /.immich/failed/")
    fake.clear_faults()
    # Still there after a restart: never deleted silently.
    m.stop()
    m2 = mounted.again(m)
    assert any("bad.jpg" in n for n in failed_names(m2.mountpoint))
    assert any("bad2.jpg" in n for n in failed_names(m2.mountpoint))
    assert album_assets(fake, "D refused") == {}


# ------------------------------------------------------------------ full spool disk

@pytest.fixture
def small_tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = tmp_path / "smallfs"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(d)], check=True)
    yield str(d)
    subprocess.run(["umount", "-l", str(d)], check=False)


def test_full_spool_disk_gives_enospc_and_keeps_what_was_there(fake, mounted, small_tmpfs):
    fake.seed_album("D full")
    m = mounted(fake, options=["settle=600"], cache=os.path.join(small_tmpfs, "cache"))
    try:
        ok = unique_bytes(MiB, "full-ok")
        write_file(P(m.mountpoint, "D full", "ok.jpg"), ok)
        big = unique_bytes(16 * MiB, "full-big")
        path = P(m.mountpoint, "D full", "big.jpg")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        written = 0
        err = None
        try:
            while written < len(big):
                written += os.write(fd, big[written:written + MiB])
        except OSError as e:
            err = e
        try:
            os.close(fd)
        except OSError as e:
            err = err or e
        assert err is not None, "16 MiB written into an 8 MiB spool without an error"
        assert err.errno == errno.ENOSPC, err
        # What was there is kept: the earlier file, and big.jpg's bytes up to
        # the failed write.
        assert read_file(P(m.mountpoint, "D full", "ok.jpg")) == ok
        if os.path.exists(path):
            got = read_file(path)
            assert big.startswith(got) and len(got) <= written, (len(got), written)
            os.unlink(path)
        assert os.listdir(P(m.mountpoint, "D full")) == ["ok.jpg"]
        # Space again: writing works, and both files commit.
        more = unique_bytes(100_000, "full-more")
        write_file(P(m.mountpoint, "D full", "more.jpg"), more)
        fsync_path(P(m.mountpoint, "D full", "ok.jpg"))
        fsync_path(P(m.mountpoint, "D full", "more.jpg"))
        check_exactly(fake, "D full", {"ok.jpg": ok, "more.jpg": more})
        wait_idle(m.mountpoint)
    finally:
        m.stop()


# ------------------------------------------------------------------ offline start

@pytest.mark.limit(180)
def test_offline_start_with_server_down(fake, mounted):
    fake.seed_album("D offline")
    fake.stop()
    try:
        m = mounted(fake, options=[SETTLE, "offline_start"])
        mnt = m.mountpoint
        os.listdir(mnt)   # answers, whatever it holds
        st = read_status(mnt)
        assert st is not None
        # Creating an album needs the server.
        with pytest.raises(OSError):
            os.mkdir(P(mnt, "D offline new"))
    finally:
        fake.start()
    # Once Immich answers, its albums show and writes commit.
    poll(lambda: "D offline" in os.listdir(mnt), "album listed once the server is back", timeout=120,
         interval=0.5)
    data = unique_bytes(30_000, "offline")
    write_file(P(mnt, "D offline", "o.jpg"), data)
    wait_in_album(fake, "D offline", "o.jpg", data, timeout=120)
    wait_idle(mnt)
    assert "D offline new" not in [a["name"] for a in fake.state()["albums"]]


@pytest.mark.limit(180)
def test_offline_start_shows_the_saved_albums_and_takes_files(fake, mounted):
    fake.seed_album("D saved list")
    m = mounted(fake, options=[SETTLE])
    assert "D saved list" in os.listdir(m.mountpoint)   # Immich answered: the list is saved
    m.stop()
    data = unique_bytes(20_000, "saved-list")
    fake.stop()
    try:
        m2 = mounted.again(m, options=[SETTLE, "offline_start"])
        assert "D saved list" in os.listdir(m2.mountpoint)
        write_file(P(m2.mountpoint, "D saved list", "while-down.jpg"), data)
        assert "while-down.jpg" in os.listdir(P(m2.mountpoint, "D saved list"))
        assert pending_count(m2.mountpoint) == 1
    finally:
        fake.start()
    wait_in_album(fake, "D saved list", "while-down.jpg", data, timeout=120)
    wait_idle(m2.mountpoint)


def test_a_restart_lists_an_unchanged_album_from_the_stored_listing(fake, mounted):
    """Listings are kept in cache_dir/listings: a new mount does not page an
    album Immich says is unchanged, and one started while Immich is down
    shows what the album held."""
    al = fake.seed_album("D stored listing")
    for i in range(3):
        fake.add_asset("IMG_%d.jpg" % i, content=unique_bytes(1000 + i, "stored%d" % i), album=al["id"])
    m = mounted(fake, options=[SETTLE])
    first = sorted(os.listdir(P(m.mountpoint, "D stored listing")))
    assert first == ["IMG_0.jpg", "IMG_1.jpg", "IMG_2.jpg"]
    sizes = {n: os.stat(P(m.mountpoint, "D stored listing", n)).st_size for n in first}
    m.stop()

    def searches():
        return fake.stats()["requests"].get("POST /api/search/metadata", 0)
    before = searches()
    assert before >= 1  # the first mount paged it
    m2 = mounted.again(m, options=[SETTLE])
    d = P(m2.mountpoint, "D stored listing")
    assert sorted(os.listdir(d)) == first
    assert {n: os.stat(P(d, n)).st_size for n in first} == sizes
    assert searches() == before, "an unchanged album was paged again"
    m2.stop()

    fake.stop()
    try:
        m3 = mounted.again(m, options=[SETTLE, "offline_start"])
        d = P(m3.mountpoint, "D stored listing")
        assert sorted(os.listdir(d)) == first
        assert {n: os.stat(P(d, n)).st_size for n in first} == sizes
    finally:
        fake.start()


def test_saved_albums_are_not_shown_to_another_key(fake, mounted):
    fake.seed_album("D not yours")
    m = mounted(fake, options=[SETTLE])
    assert "D not yours" in os.listdir(m.mountpoint)
    m.stop()
    fake.stop()
    try:
        other = mounted(fake, options=["offline_start"], key="another-key", cache=m.cache_dir)
        assert os.listdir(other.mountpoint) == []
    finally:
        fake.start()
