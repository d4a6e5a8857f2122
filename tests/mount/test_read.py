"""Reading originals through the mount: every byte must be the original's
(DESIGN.md, Reading). Each test reads its own assets, so that one test's
reads do not warm the cache for another."""

import hashlib
import os
import random
import re
import subprocess
import threading

import pytest

MiB = 1 << 20
CHUNK = MiB


def sha1_of(path, chunk=CHUNK):
    h = hashlib.sha1()
    n = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
            n += len(b)
    return h.hexdigest(), n


def original_path(fake, asset):
    for a in fake.state()["assets"]:
        if a["id"] == asset["id"]:
            return a["path"]
    raise KeyError(asset["id"])


def checksums(fake, album_name):
    al = fake.album_named(album_name)
    assets = {a["id"]: a for a in fake.state()["assets"]}
    return {assets[i]["name"]: assets[i] for i in al["assets"]}


@pytest.fixture(scope="module")
def lib(fake_module):
    f = fake_module
    sizes = [0, 1, 4095, 4096, 4097, 65543, MiB, 5 * MiB + 123, 17 * MiB + 5]
    for i, size in enumerate(sizes):
        f.add_asset("media_%02d_%d.jpg" % (i, size), size=size, seed=100 + i, album="Media",
                    modified="2023-0%d-1%dT08:00:00Z" % (1 + i % 9, i % 10))
    for i, size in enumerate([3 * MiB + 1, 2 * MiB, 777]):
        f.add_asset("sync_%d.mp4" % i, size=size, seed=200 + i, album="Sync")
    par = {"shared": f.add_asset("shared.bin.jpg", size=24 * MiB + 3, seed=300, album="Parallel")}
    for i in range(4):
        par["own%d" % i] = f.add_asset("own%d.jpg" % i, size=6 * MiB + i, seed=310 + i, album="Parallel")
    return {
        "par": par,
        "random": f.add_asset("random.jpg", size=20 * MiB + 17, seed=400, album="Random"),
        "twice": f.add_asset("twice.jpg", size=8 * MiB + 9, seed=500, album="Twice"),
        "untouched": f.add_asset("untouched.jpg", size=4 * MiB, seed=600, album="Twice"),
        "big": f.add_asset("big.mov", size=300 * MiB, seed=700, album="Big"),
    }


@pytest.fixture(scope="module")
def mnt(lib, fake_module, module_mounted):
    return module_mounted(fake_module).mountpoint


def test_every_file_matches_its_checksum(mnt, fake_module, lib):
    want = checksums(fake_module, "Media")
    assert sorted(os.listdir(os.path.join(mnt, "Media"))) == sorted(want)
    for name, a in want.items():
        digest, n = sha1_of(os.path.join(mnt, "Media", name))
        assert n == a["size"], name
        assert digest == a["checksum_hex"], name
    # Odd read sizes too (not aligned to pages or blocks).
    for name, a in want.items():
        digest, n = sha1_of(os.path.join(mnt, "Media", name), chunk=12345)
        assert (digest, n) == (a["checksum_hex"], a["size"]), name


def test_cp_r_of_an_album(mnt, fake_module, lib, tmp_path):
    dst = tmp_path / "copy"
    r = subprocess.run(["cp", "-r", os.path.join(mnt, "Media"), str(dst)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    want = checksums(fake_module, "Media")
    assert sorted(os.listdir(dst)) == sorted(want)
    for name, a in want.items():
        assert sha1_of(dst / name) == (a["checksum_hex"], a["size"]), name


def test_rsync_twice_second_run_transfers_nothing(mnt, fake_module, lib, tmp_path):
    dst = str(tmp_path / "backup") + "/"
    src = os.path.join(mnt, "Sync") + "/"

    def rsync():
        r = subprocess.run(["rsync", "-a", "--stats", src, dst], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        m = re.search(r"Number of regular files transferred: (\d+)", r.stdout)
        assert m, r.stdout
        return int(m.group(1))

    assert rsync() == 3
    want = checksums(fake_module, "Sync")
    for name, a in want.items():
        assert sha1_of(os.path.join(dst, name)) == (a["checksum_hex"], a["size"]), name
        assert os.stat(os.path.join(dst, name)).st_mtime == os.stat(os.path.join(src, name)).st_mtime
    assert rsync() == 0


@pytest.mark.limit(400)
def test_300_mib_original(mnt, lib):
    big = lib["big"]
    path = os.path.join(mnt, "Big", "big.mov")
    assert os.stat(path).st_size == 300 * MiB
    assert sha1_of(path) == (big["checksum_hex"], 300 * MiB)


def test_parallel_readers(mnt, lib):
    par = lib["par"]
    jobs = [("shared.bin.jpg", par["shared"])] * 4 + [("own%d.jpg" % i, par["own%d" % i])
                                                      for i in range(4)]
    results = [None] * len(jobs)

    def reader(i, name):
        try:
            results[i] = sha1_of(os.path.join(mnt, "Parallel", name), chunk=64 * 1024 + 7 * i)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e

    threads = [threading.Thread(target=reader, args=(i, name)) for i, (name, _) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (name, a), got in zip(jobs, results):
        assert got == (a["checksum_hex"], a["size"]), (name, got)


def test_random_offset_reads(mnt, fake_module, lib):
    a = lib["random"]
    with open(original_path(fake_module, a), "rb") as f:
        orig = f.read()
    size = len(orig)
    rng = random.Random(1234)
    cases = [(0, 1), (size - 1, 1), (size - 10, 100), (size, 10), (size + 4096, 10),
             (4095, 2), (65535, 65537), (MiB - 1, 2), (MiB, 3 * MiB)]
    cases += [(rng.randrange(0, size), rng.randrange(1, 300_000)) for _ in range(150)]
    fd = os.open(os.path.join(mnt, "Random", "random.jpg"), os.O_RDONLY)
    try:
        for off, n in cases:
            got = os.pread(fd, n, off)
            assert got == orig[off:off + n], "pread(%d bytes at %d): %d bytes, wrong" % (n, off, len(got))
    finally:
        os.close(fd)


def test_open_and_stat_fetch_no_data(mnt, fake_module, lib):
    fake_module.reset_stats()
    path = os.path.join(mnt, "Twice", "untouched.jpg")
    os.stat(path)
    with open(path, "rb"):
        pass
    s = fake_module.stats()
    originals = {k: v for k, v in s["requests"].items() if "original" in k}
    assert s["download_bytes"] == 0 and not originals, s


def test_second_read_comes_from_cache(mnt, fake_module, lib):
    a = lib["twice"]
    path = os.path.join(mnt, "Twice", "twice.jpg")
    fake_module.reset_stats()
    assert sha1_of(path) == (a["checksum_hex"], a["size"])
    first = fake_module.stats()["download_bytes"]
    assert first >= a["size"], "the first read downloaded only %d of %d bytes" % (first, a["size"])
    # Drop the kernel's page cache for the file so the second read reaches immichfs.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    assert sha1_of(path) == (a["checksum_hex"], a["size"])
    total = fake_module.stats()["download_bytes"]
    print("file %d bytes: first read downloaded %d, both %d" % (a["size"], first, total))
    assert total < 1.5 * a["size"], "two reads of %d bytes downloaded %d" % (a["size"], total)


def test_kernel_read_ahead_is_raised_to_max_read(mnt):
    """As root the daemon raises the mount's bdi read_ahead_kb to 1 MiB, so a
    sequential reader's requests reach it 1 MiB at a time, not 128 KiB."""
    if os.geteuid() != 0:
        pytest.skip("only root can raise read_ahead_kb")
    st = os.stat(mnt)
    path = "/sys/class/bdi/%d:%d/read_ahead_kb" % (os.major(st.st_dev), os.minor(st.st_dev))
    with open(path) as f:
        assert int(f.read()) == 1024
