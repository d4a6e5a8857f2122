"""Listings: albums as directories, assets as files, with exact sizes and
mtimes, stable names and inode numbers (DESIGN.md, Namespace)."""

import datetime
import hashlib
import os
import stat
import subprocess
import time

import pytest

from fake_client import FakeImmich
from mountutil import ADMIN, BOB
from writeutil import poll

TTL = 0.5


# Every listing test runs against the fake imitating Immich 3.1 (no assets in
# GET /api/albums/{id}) and 2.x (other shapes; DESIGN.md: both are supported).
@pytest.fixture(scope="module", params=["3.1.0", "2.3.1"], ids=["immich3", "immich2"])
def fake_module(request):
    with FakeImmich(users=[BOB], version=request.param) as f:
        yield f


def ts_ns(iso):
    """'2023-05-06T07:08:09.500Z' -> nanoseconds since the epoch."""
    d = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (int(d.replace(microsecond=0).timestamp()) * 1_000_000_000 + d.microsecond * 1000)


@pytest.fixture(scope="module")
def lib(fake_module):
    """Seeds the library once: plain, tricky and shared albums."""
    f = fake_module
    lib = {}
    hol = f.seed_album("Holidays")
    lib["holidays"] = [
        f.add_asset("beach.jpg", size=12345, seed=1, album=hol["id"],
                    created="2023-07-01T10:00:00Z", modified="2023-07-01T10:05:00Z"),
        f.add_asset("sunset.png", size=1, seed=2, album=hol["id"],
                    modified="2022-12-31T23:59:59.500Z"),
        f.add_asset("clip.mp4", size=3 << 20, seed=3, album=hol["id"],
                    modified="2019-02-03T04:05:06Z"),
        f.add_asset("empty.jpg", content=b"", album=hol["id"], modified="2021-01-01T00:00:00Z"),
    ]
    lib["holidays_album"] = hol

    odd = f.seed_album("Odd/Names")
    lib["odd"] = odd
    lib["slash"] = f.add_asset("a/b.jpg", content=b"slash in the name", album=odd["id"])
    # Seeded first but uploaded later: must NOT keep the plain name.
    lib["dup_new"] = f.add_asset("dup.jpg", content=b"newer upload", album=odd["id"],
                                 uploaded="2024-06-01T00:00:00Z")
    lib["dup_old"] = f.add_asset("dup.jpg", content=b"the older upload", album=odd["id"],
                                 uploaded="2020-06-01T00:00:00Z")

    # Two albums named "Twin": the older one keeps the name.
    lib["twin_new"] = f.seed_album("Twin", created="2024-03-01T00:00:00Z")
    f.add_asset("in-new-twin.jpg", content=b"new twin", album=lib["twin_new"]["id"])
    lib["twin_old"] = f.seed_album("Twin", created="2021-03-01T00:00:00Z")
    f.add_asset("in-old-twin.jpg", content=b"old twin", album=lib["twin_old"]["id"])

    # Bob's albums: one shared with admin (visible), one private (not).
    bob_asset = f.add_asset("bob.jpg", content=b"bob's photo", user=BOB[0])
    lib["shared"] = f.seed_album("Bob shares", user=BOB[0], shared_with=[ADMIN],
                                 assets=[bob_asset["id"]])
    lib["private"] = f.seed_album("Bob private", user=BOB[0])

    big = f.seed_album("Big")
    lib["big"] = big
    lib["big_assets"] = f.generate(5000, size=16, album=big["id"], name="P%05d.jpg")
    return lib


@pytest.fixture(scope="module")
def mnt(lib, fake_module, module_mounted):
    m = module_mounted(fake_module, options=["dir_cache_ttl=%s" % TTL])
    return m.mountpoint


def test_root_lists_owned_and_shared_albums(mnt):
    names = set(os.listdir(mnt))
    assert {"Holidays", "Odd／Names", "Big", "Bob shares"} <= names
    assert "Bob private" not in names
    for n in names:
        assert stat.S_ISDIR(os.stat(os.path.join(mnt, n)).st_mode), n
    r = subprocess.run(["ls", "-l", mnt], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Holidays" in r.stdout and "Bob shares" in r.stdout


def test_album_lists_assets_with_exact_size_and_mtime(mnt, lib):
    album = os.path.join(mnt, "Holidays")
    want = {a["name"]: a for a in lib["holidays"]}
    assert sorted(os.listdir(album)) == sorted(want)
    for name, a in want.items():
        st = os.stat(os.path.join(album, name))
        assert stat.S_ISREG(st.st_mode), name
        assert st.st_size == a["size"], name
        assert st.st_mtime_ns == ts_ns(a["fileModifiedAt"]), (name, a["fileModifiedAt"], st.st_mtime_ns)
    r = subprocess.run(["ls", "-l", album], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert " 12345 " in r.stdout, r.stdout


def test_scandir_agrees_with_stat(mnt, lib):
    album = os.path.join(mnt, "Holidays")
    for e in os.scandir(album):
        st = os.stat(e.path)
        assert e.inode() == st.st_ino, e.name
        assert e.is_file(), e.name


def test_slash_in_names_shows_as_fullwidth_solidus(mnt, lib):
    album = os.path.join(mnt, "Odd／Names")
    assert "a／b.jpg" in os.listdir(album)
    with open(os.path.join(album, "a／b.jpg"), "rb") as f:
        assert f.read() == b"slash in the name"


def test_duplicate_asset_names_oldest_keeps_name(mnt, lib):
    album = os.path.join(mnt, "Odd／Names")
    names = set(os.listdir(album))
    new_name = "dup (%s).jpg" % lib["dup_new"]["id"][:8]
    assert {"dup.jpg", new_name} <= names, names
    with open(os.path.join(album, "dup.jpg"), "rb") as f:
        assert f.read() == b"the older upload"
    with open(os.path.join(album, new_name), "rb") as f:
        assert f.read() == b"newer upload"
    assert os.stat(os.path.join(album, new_name)).st_size == len(b"newer upload")


def test_duplicate_album_names_oldest_keeps_name(mnt, lib):
    names = set(os.listdir(mnt))
    tagged = "Twin (%s)" % lib["twin_new"]["id"][:8]
    assert {"Twin", tagged} <= names, names
    assert os.listdir(os.path.join(mnt, "Twin")) == ["in-old-twin.jpg"]
    assert os.listdir(os.path.join(mnt, tagged)) == ["in-new-twin.jpg"]


def test_shared_album_is_listable(mnt):
    with open(os.path.join(mnt, "Bob shares", "bob.jpg"), "rb") as f:
        assert f.read() == b"bob's photo"


def test_missing_names_are_enoent(mnt):
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(mnt, "No such album"))
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(mnt, "Holidays", "nope.jpg"))


def test_inode_numbers_are_stable(mnt):
    def snapshot():
        out = {}
        for d in ("", "Holidays", "Odd／Names", "Twin"):
            for e in os.scandir(os.path.join(mnt, d)):
                out[os.path.join(d, e.name)] = os.stat(e.path).st_ino
        return out

    first = snapshot()
    time.sleep(TTL * 3)   # past dir_cache_ttl and attr_timeout's revalidation
    second = snapshot()
    assert first == second
    assert len(set(first.values())) == len(first), "two entries share an inode number"


def test_album_of_5000_assets_lists_all(mnt, lib):
    names = os.listdir(os.path.join(mnt, "Big"))
    assert len(names) == 5000
    assert set(names) == {a["name"] for a in lib["big_assets"]}
    last = [a for a in lib["big_assets"] if a["name"] == "P04999.jpg"][0]
    with open(os.path.join(mnt, "Big", "P04999.jpg"), "rb") as f:
        assert hashlib.sha1(f.read()).hexdigest() == last["checksum_hex"]


def test_new_album_and_asset_appear_after_ttl(mnt, fake_module, lib):
    album = os.path.join(mnt, "Holidays")
    before = set(os.listdir(album))
    assert "late.jpg" not in before
    assert "Late album" not in os.listdir(mnt)
    late = fake_module.add_asset("late.jpg", content=b"late arrival", album=lib["holidays_album"]["id"])
    new_album = fake_module.seed_album("Late album")
    fake_module.add_asset("x.jpg", content=b"x", album=new_album["id"])
    poll(lambda: "late.jpg" in os.listdir(album), "late.jpg listed in Holidays")
    poll(lambda: "Late album" in os.listdir(mnt), "'Late album' listed at the root")
    assert os.listdir(os.path.join(mnt, "Late album")) == ["x.jpg"]
    assert os.stat(os.path.join(album, "late.jpg")).st_size == late["size"]
    with open(os.path.join(album, "late.jpg"), "rb") as f:
        assert f.read() == b"late arrival"
    # The names that were there keep their names.
    assert before <= set(os.listdir(album))


def test_statfs_reports_server_storage(mnt, fake_module):
    storage = fake_module.api("GET", "/api/server/storage")
    st = os.statvfs(mnt)
    assert st.f_blocks > 0
    unit = st.f_frsize or st.f_bsize
    assert abs(st.f_blocks * unit - storage["diskSizeRaw"]) <= max(unit, 4096) * 2, (
        st.f_blocks, unit, storage["diskSizeRaw"])
    assert 0 < st.f_bavail * unit <= storage["diskSizeRaw"]
    r = subprocess.run(["df", "-k", mnt], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
