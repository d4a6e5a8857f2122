"""Names another Immich user can give an album or a file (Immich accepts any
string): each shows as a valid, distinct, stable entry, and ls, ls -l, stat,
read and write work with them (README "Names", name_codec.h). Before the fix
an album named "" made `ls` of the mount root fail with EIO."""

import os
import stat
import subprocess

import pytest

from fake_client import FakeImmich
from mountutil import ADMIN, BOB
from writeutil import SETTLE, fsync_path, poll, write_file

EMPTY = "\u2205"        # ∅
QUOTE = "\u201b"        # ‛
SPACE = "\u2420"        # ␠
NEWLINE = "\u240a"      # ␊
TAB = "\u2409"          # ␉
DEL = "\u2421"          # ␡
NUL = "\u2400"          # ␀
SLASH = "\uff0f"        # ／
LONG = "L" * 300

# Album name in Immich -> name shown (None: checked by rule, see below).
ALBUMS = {
    ".": QUOTE + ".",
    "..": QUOTE + "..",
    " ": SPACE,
    "   ": SPACE * 3,
    "a/b": "a" + SLASH + "b",
    "new\nline": "new" + NEWLINE + "line",
    "tab\t": "tab" + TAB,
    "del\x7f": "del" + DEL,
    "nul\x00x": "nul" + NUL + "x",
    EMPTY: QUOTE + EMPTY,
    NEWLINE: QUOTE + NEWLINE,
    LONG: None,
}
# File name in Immich -> name shown, all in the album named "".
FILES = {
    "": EMPTY,
    ".": QUOTE + ".",
    "..": QUOTE + "..",
    "  ": SPACE * 2,
    "x/y.jpg": "x" + SLASH + "y.jpg",
    "new\nline.jpg": "new" + NEWLINE + "line.jpg",
    "\x01\x1f\x7f.jpg": "\u2401\u241f" + DEL + ".jpg",
    "nul\x00.jpg": "nul" + NUL + ".jpg",
    "plain.jpg": "plain.jpg",
    LONG + ".jpg": None,
}


def valid_entry(name):
    raw = os.fsencode(name)
    raw.decode("utf-8")  # strict: raises on bytes that are not UTF-8
    return raw not in (b"", b".", b"..") and b"/" not in raw and b"\0" not in raw \
        and len(raw) <= 255


@pytest.fixture(scope="module")
def fake_module():
    with FakeImmich(users=[BOB]) as f:
        yield f


@pytest.fixture(scope="module")
def lib(fake_module):
    f = fake_module
    lib = {"albums": {}, "files": {}}
    # The reported case: another user shares an album named "" (the older
    # of two, so it keeps the plain ∅), and ours is told apart by its id.
    bob_photo = f.add_asset("bob.jpg", content=b"bob's photo", user=BOB[0])
    lib["shared_empty"] = f.seed_album("", user=BOB[0], shared_with=[ADMIN],
                                       assets=[bob_photo["id"]], created="2020-01-01T00:00:00Z")
    lib["own_empty"] = f.seed_album("", created="2024-01-01T00:00:00Z")
    for name in ALBUMS:
        al = f.seed_album(name)
        lib["albums"][name] = al
        f.add_asset("in.jpg", content=("in album %r" % name).encode(), album=al["id"])
    for i, name in enumerate(FILES):
        lib["files"][name] = f.add_asset(name, content=("file %d" % i).encode(),
                                         album=lib["own_empty"]["id"])
    return lib


@pytest.fixture(scope="module")
def mnt(lib, fake_module, module_mounted):
    return module_mounted(fake_module, options=["dir_cache_ttl=0.5", SETTLE]).mountpoint


def own_empty(lib):
    return EMPTY + " (%s)" % lib["own_empty"]["id"][:8]


def test_ls_of_the_root_works_and_every_name_is_valid_and_distinct(mnt, lib):
    r = subprocess.run(["ls", "-1", mnt], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    names = os.listdir(mnt)
    assert len(names) == len(set(names))
    assert all(valid_entry(n) for n in names), names
    want = {EMPTY, own_empty(lib)} | {v for v in ALBUMS.values() if v}
    assert want <= set(names), want - set(names)
    long_shown = [n for n in names if n.startswith("L" * 100)]
    assert long_shown == ["L" * (255 - 11) + " (%s)" % lib["albums"][LONG]["id"][:8]]
    assert len(names) == len(ALBUMS) + 2
    r = subprocess.run(["ls", "-l", mnt], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_stat_and_read_in_every_odd_album(mnt, lib):
    for name in os.listdir(mnt):
        path = os.path.join(mnt, name)
        assert stat.S_ISDIR(os.stat(path).st_mode), name
        if name == own_empty(lib):
            continue
        if name == EMPTY:
            with open(os.path.join(path, "bob.jpg"), "rb") as f:
                assert f.read() == b"bob's photo"
            continue
        assert os.listdir(path) == ["in.jpg"], name
        with open(os.path.join(path, "in.jpg"), "rb") as f:
            assert f.read().startswith(b"in album "), name


def test_odd_file_names_list_stat_and_read(mnt, lib):
    album = os.path.join(mnt, own_empty(lib))
    r = subprocess.run(["ls", "-l", album], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    names = os.listdir(album)
    assert len(names) == len(FILES) and len(set(names)) == len(names), names
    assert all(valid_entry(n) for n in names), names
    for i, (name, shown) in enumerate(FILES.items()):
        if shown is None:
            shown = LONG[:255 - 11 - 4] + " (%s).jpg" % lib["files"][name]["id"][:8]
        path = os.path.join(album, shown)
        assert os.stat(path).st_size == len(b"file %d" % i), shown
        with open(path, "rb") as f:
            assert f.read() == b"file %d" % i, shown


def _album_asset_names(fake, album_id):
    st = fake.state()
    al = next(a for a in st["albums"] if a["id"] == album_id)
    by_id = {a["id"]: a for a in st["assets"]}
    return {by_id[i]["name"] for i in al["assets"] if not by_id[i]["trashed"]}


def test_write_into_the_album_named_empty_round_trips(mnt, lib, fake_module):
    album = os.path.join(mnt, own_empty(lib))
    shown = "up" + NEWLINE + "load" + SLASH + QUOTE + QUOTE + ".jpg"
    write_file(os.path.join(album, shown), b"written through the mount")
    fsync_path(os.path.join(album, shown))
    poll(lambda: "up\nload/" + QUOTE + ".jpg" in _album_asset_names(fake_module,
                                                                    lib["own_empty"]["id"]),
         "the upload under its decoded name")
    assert shown in os.listdir(album)
    with open(os.path.join(album, shown), "rb") as f:
        assert f.read() == b"written through the mount"


def test_spellings_that_would_not_round_trip_are_refused(mnt, lib):
    album = os.path.join(mnt, own_empty(lib))
    for bad in ("new\nline2.jpg", QUOTE + "x.jpg", NUL + ".jpg"):
        with pytest.raises(OSError) as e:
            open(os.path.join(album, bad), "wb").close()
        assert e.value.errno == 22, bad  # EINVAL
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(mnt, "tab\there"))
    assert e.value.errno == 22


def test_mkdir_of_a_replacement_spelling_creates_the_decoded_album(mnt, fake_module):
    os.mkdir(os.path.join(mnt, "made" + TAB + "here"))
    assert fake_module.album_named("made\there") is not None
    assert "made" + TAB + "here" in os.listdir(mnt)


def test_names_are_the_same_after_a_remount(mnt, lib, fake_module, mounted):
    m = mounted(fake_module)
    assert sorted(os.listdir(m.mountpoint)) == sorted(os.listdir(mnt))
    assert sorted(os.listdir(os.path.join(m.mountpoint, own_empty(lib)))) == \
        sorted(os.listdir(os.path.join(mnt, own_empty(lib))))
