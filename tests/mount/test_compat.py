"""The six compatibility tests of the original Immich SFTP server, automated
against the mount (DESIGN.md, Writing; Deleting and moving):

1. upload + download round trip keeps name, mtime and content;
2. the same file into albums A and B is stored once and shows in both;
3. a large file into A then B: the second commit sends no data;
4. delete from one of two albums keeps the asset in the other;
5. delete from its only album moves it to the Immich trash;
6. re-upload of a trashed file into another album restores it there.
"""

import os
import subprocess

import pytest

from writeutil import (MiB, SETTLE, album_assets, album_of, assets_with_checksum, file_sha1,
                       iso_to_epoch, poll, read_file, sha1_hex, unique_bytes, wait_idle,
                       wait_in_album, write_stream)

ALBUMS = ["Compat 1", "Compat 2 A", "Compat 2 B", "Big A", "Big B", "Compat 4 A", "Compat 4 B",
          "Compat 5", "Compat 6 old", "Compat 6 new"]

# 2021-06-15T12:34:56.250Z: a fraction of a second too (Immich keeps ms).
MTIME = 1623760496.25


@pytest.fixture(scope="module")
def mnt(fake_module, module_mounted):
    for name in ALBUMS:
        fake_module.seed_album(name)
    return module_mounted(fake_module, options=[SETTLE]).mountpoint


@pytest.fixture
def quiet(fake, mnt):
    """Nothing left from an earlier test is being committed; counters at 0."""
    wait_idle(mnt)
    fake.reset_stats()
    return fake


def A(mnt, album, name=""):
    return os.path.join(mnt, album, name) if name else os.path.join(mnt, album)


def cp(args):
    r = subprocess.run(["cp"] + list(args), capture_output=True, text=True)
    assert r.returncode == 0, "cp %s: %s" % (" ".join(args), r.stderr)


def only_asset(fake, data):
    st = fake.state()
    found = assets_with_checksum(st, sha1_hex(data))
    assert len(found) == 1, "%d assets with this content, want 1: %s" % (len(found), found)
    return found[0], st


def album_ids(st, *names):
    return sorted(album_of(st, n)["id"] for n in names)


def test_1_round_trip_keeps_name_mtime_and_content(quiet, mnt, mounted, tmp_path):
    fake = quiet
    data = unique_bytes(300_001, "compat1")
    src = tmp_path / "IMG_0001.jpg"
    src.write_bytes(data)
    os.utime(src, (MTIME, MTIME))
    cp(["-p", str(src), A(mnt, "Compat 1") + "/"])

    dst = A(mnt, "Compat 1", "IMG_0001.jpg")
    a = wait_in_album(fake, "Compat 1", "IMG_0001.jpg", data)
    assert a["name"] == "IMG_0001.jpg"
    assert abs(iso_to_epoch(a["fileModifiedAt"]) - MTIME) < 0.0015, a["fileModifiedAt"]
    assert a["checksum_hex"] == sha1_hex(data)
    assert a["size"] == len(data)
    assert fake.original_bytes(a["id"]) == data
    s = fake.stats()
    assert (s["uploads"], s["uploads_duplicate"]) == (1, 0), s

    # Download through this mount ...
    st = os.stat(dst)
    assert st.st_size == len(data)
    assert abs(st.st_mtime - MTIME) < 0.0015, st.st_mtime
    assert read_file(dst) == data
    # ... and through a fresh one, which has only what Immich has.
    other = mounted(fake).mountpoint
    st = os.stat(A(other, "Compat 1", "IMG_0001.jpg"))
    assert (st.st_size, round(st.st_mtime, 3)) == (len(data), MTIME)
    back = tmp_path / "back"
    back.mkdir()
    cp(["-p", A(other, "Compat 1", "IMG_0001.jpg"), str(back)])
    assert (back / "IMG_0001.jpg").read_bytes() == data
    assert round((back / "IMG_0001.jpg").stat().st_mtime, 3) == MTIME


def test_2_same_file_in_two_albums_is_stored_once(quiet, mnt, tmp_path):
    fake = quiet
    data = unique_bytes(123_457, "compat2")
    src = tmp_path / "twice.jpg"
    src.write_bytes(data)
    cp(["-p", str(src), A(mnt, "Compat 2 A") + "/"])
    wait_in_album(fake, "Compat 2 A", "twice.jpg", data)
    cp(["-p", str(src), A(mnt, "Compat 2 B") + "/"])
    wait_in_album(fake, "Compat 2 B", "twice.jpg", data)

    a, st = only_asset(fake, data)
    assert sorted(a["albums"]) == album_ids(st, "Compat 2 A", "Compat 2 B")
    assert not a["trashed"]
    s = fake.stats()
    assert s["uploads"] == 1, s
    assert s["uploads_duplicate"] == 0, "the second copy was sent again: %s" % s
    for album in ("Compat 2 A", "Compat 2 B"):
        assert "twice.jpg" in os.listdir(A(mnt, album))
        assert read_file(A(mnt, album, "twice.jpg")) == data
    wait_idle(mnt)
    for album in ("Compat 2 A", "Compat 2 B"):
        assert os.listdir(A(mnt, album)).count("twice.jpg") == 1


@pytest.mark.slow
@pytest.mark.limit(600)
def test_3_large_file_into_second_album_sends_no_data(quiet, mnt):
    fake = quiet
    size = 300 * MiB + 7
    seed = int.from_bytes(os.urandom(4), "little")
    # fsync: returns once the asset is in Immich and in the album.
    digest = write_stream(A(mnt, "Big A", "big.mov"), size, seed, fsync=True)
    a = album_assets(fake, "Big A").get("big.mov")
    assert a is not None and a["checksum_hex"] == digest and a["size"] == size, a
    s = fake.stats()
    assert s["uploads"] == 1 and s["upload_bytes"] >= size, s

    fake.reset_stats()
    assert write_stream(A(mnt, "Big B", "big.mov"), size, seed, fsync=True) == digest
    b = album_assets(fake, "Big B").get("big.mov")
    assert b is not None and b["id"] == a["id"], b
    s = fake.stats()
    assert s["upload_bytes"] == 0 and s["uploads"] == 0 and s["uploads_duplicate"] == 0, s
    st = fake.state()
    assert len(assets_with_checksum(st, digest)) == 1
    assert sorted(assets_with_checksum(st, digest)[0]["albums"]) == album_ids(st, "Big A", "Big B")
    wait_idle(mnt)
    assert os.stat(A(mnt, "Big B", "big.mov")).st_size == size
    assert file_sha1(A(mnt, "Big B", "big.mov")) == digest


def put_in_two(fake, mnt, tmp_path, data, name, a1, a2):
    src = tmp_path / name
    src.write_bytes(data)
    cp(["-p", str(src), A(mnt, a1) + "/"])
    wait_in_album(fake, a1, name, data)
    cp(["-p", str(src), A(mnt, a2) + "/"])
    wait_in_album(fake, a2, name, data)
    wait_idle(mnt)


def test_4_delete_from_one_of_two_albums_keeps_it_in_the_other(quiet, mnt, tmp_path):
    fake = quiet
    data = unique_bytes(54_321, "compat4")
    put_in_two(fake, mnt, tmp_path, data, "keep.jpg", "Compat 4 A", "Compat 4 B")
    os.unlink(A(mnt, "Compat 4 A", "keep.jpg"))
    assert "keep.jpg" not in os.listdir(A(mnt, "Compat 4 A"))
    assert read_file(A(mnt, "Compat 4 B", "keep.jpg")) == data

    a, st = only_asset(fake, data)
    assert not a["trashed"], a
    assert a["albums"] == [album_of(st, "Compat 4 B")["id"]], a
    assert "keep.jpg" in os.listdir(A(mnt, "Compat 4 B"))


def test_5_delete_from_only_album_moves_it_to_the_trash(quiet, mnt, tmp_path):
    fake = quiet
    data = unique_bytes(65_432, "compat5")
    src = tmp_path / "gone.jpg"
    src.write_bytes(data)
    cp(["-p", str(src), A(mnt, "Compat 5") + "/"])
    wait_in_album(fake, "Compat 5", "gone.jpg", data)
    wait_idle(mnt)
    os.unlink(A(mnt, "Compat 5", "gone.jpg"))
    assert "gone.jpg" not in os.listdir(A(mnt, "Compat 5"))

    a, st = only_asset(fake, data)
    assert a["trashed"], "unlink from its only album must move the asset to the trash: %s" % a
    # Immich keeps a trashed asset's album membership (it is hidden, not removed).
    assert a["albums"] == [album_of(st, "Compat 5")["id"]], a
    assert fake.stats()["requests"].get("DELETE /api/assets", 0) >= 1
    # Trashed, never deleted for good.
    assert os.path.exists(a["path"])


def test_6_reupload_of_trashed_file_restores_it_into_the_new_album(quiet, mnt, tmp_path):
    fake = quiet
    data = unique_bytes(76_543, "compat6")
    src = tmp_path / "back.jpg"
    src.write_bytes(data)
    cp(["-p", str(src), A(mnt, "Compat 6 old") + "/"])
    old = wait_in_album(fake, "Compat 6 old", "back.jpg", data)
    wait_idle(mnt)
    os.unlink(A(mnt, "Compat 6 old", "back.jpg"))
    poll(lambda: only_asset(fake, data)[0]["trashed"], "asset in the trash")
    fake.reset_stats()

    cp(["-p", str(src), A(mnt, "Compat 6 new") + "/"])
    a = wait_in_album(fake, "Compat 6 new", "back.jpg", data)
    assert a["id"] == old["id"], "a new asset instead of restoring the trashed one"
    poll(lambda: only_asset(fake, data)[0]["albums"] == [album_of(fake.state(), "Compat 6 new")["id"]],
         "restored asset removed from its old album and only in the new one")
    a, st = only_asset(fake, data)
    assert not a["trashed"], a
    s = fake.stats()
    assert s["uploads"] == 0 and s["uploads_duplicate"] == 0, s
    wait_idle(mnt)
    assert "back.jpg" not in os.listdir(A(mnt, "Compat 6 old"))
    assert read_file(A(mnt, "Compat 6 new", "back.jpg")) == data
