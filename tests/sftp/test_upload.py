"""Uploading and organising over SFTP, the way phone and desktop clients do
it, checked against what lands in (fake) Immich.

The six compatibility scenarios (DESIGN.md "Writing"), then one test per
client behaviour: OpenSSH put / put -p / reput / rename, WinSCP's .filepart
upload (SSH_FXP_RENAME + SETSTAT by path), FileZilla's SETSTAT after CLOSE,
parallel sessions, mkdir, rmdir, rm, moves between albums.

rsync is not here: it needs a remote shell, and these accounts have none
(ForceCommand internal-sftp); rsync into the mount is covered by tests/mount.
"""

import datetime
import os
import time

import pytest

import sftputil
from sftputil import ALICE
from sftpproto import FXF_CREAT, FXF_READ, FXF_TRUNC, FXF_WRITE, SftpClient, SftpError

COMMIT_WAIT = 120  # seconds a commit may take before a test gives up


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def album_assets(fake, album_id, user=ALICE[0]):
    """-> {name: asset summary} of the album's (untrashed) assets."""
    st = fake.state(user)
    by_id = {a["id"]: a for a in st["assets"]}
    for al in st["albums"]:
        if al["id"] == album_id:
            return {by_id[i]["name"]: by_id[i] for i in al["assets"] if i in by_id and not by_id[i]["trashed"]}
    return None


def asset(fake, asset_id, user=ALICE[0]):
    for a in fake.state(user)["assets"]:
        if a["id"] == asset_id:
            return a
    return None


def wait_in_album(fake, album_id, name, timeout=COMMIT_WAIT):
    return sftputil.wait_for(lambda: (album_assets(fake, album_id) or {}).get(name), timeout,
                             what="%s in the album in Immich" % name)


def local_file(tmp_path, name, data, mtime=None):
    p = tmp_path / name
    p.write_bytes(data)
    if mtime is not None:
        os.utime(p, (mtime, mtime))
    return p


def rpath(album, name=None):
    return sftputil.quote("/" + album["name"] + ("/" + name if name else ""))


T1 = 1623053350  # 2021-06-07T08:09:10Z


# ------------------------------------------------------------------ scenarios

def test_1_put_and_get_round_trip(cli, fake, album, tmp_path):
    data = os.urandom(1024 * 1024 + 3)
    src = local_file(tmp_path, "IMG_0001.jpg", data, mtime=T1)
    cli.sftp(["put -p %s %s" % (src, rpath(album, "IMG_0001.jpg"))])
    a = wait_in_album(fake, album["id"], "IMG_0001.jpg")
    assert a["size"] == len(data)
    assert a["fileModifiedAt"] == iso(T1)
    assert fake.original_bytes(a["id"]) == data
    back = tmp_path / "back.jpg"
    cli.sftp(["get -p %s %s" % (rpath(album, "IMG_0001.jpg"), back)])
    assert back.read_bytes() == data
    assert int(back.stat().st_mtime) == T1


def test_2_same_file_into_two_albums_is_stored_once(cli, fake, album, tmp_path):
    other = fake.seed_album(album["name"] + " B", user=ALICE[0])
    data = os.urandom(500000)
    src = local_file(tmp_path, "IMG_0002.jpg", data)
    fake.reset_stats()
    cli.sftp(["put %s %s" % (src, rpath(album, "IMG_0002.jpg"))])
    a = wait_in_album(fake, album["id"], "IMG_0002.jpg")
    cli.sftp(["put %s %s" % (src, rpath(other, "IMG_0002.jpg"))])
    b = wait_in_album(fake, other["id"], "IMG_0002.jpg")
    assert a["id"] == b["id"]
    assert [x for x in fake.state(ALICE[0])["assets"] if x["checksum"] == a["checksum"]] == [asset(fake, a["id"])]
    assert fake.stats()["uploads"] == 1
    r = cli.sftp(["ls -1 %s" % rpath(album), "ls -1 %s" % rpath(other)])
    assert r.stdout.count("IMG_0002.jpg") == 2


@pytest.mark.limit(900)
def test_3_big_file_into_a_second_album_sends_no_upload(cli, fake, album, tmp_path):
    other = fake.seed_album(album["name"] + " B", user=ALICE[0])
    src = tmp_path / "VID_0003.mp4"
    with open(src, "wb") as f:
        for _ in range(300):
            f.write(os.urandom(1024 * 1024))
    cli.sftp(["put %s %s" % (src, rpath(album, "VID_0003.mp4"))])
    a = wait_in_album(fake, album["id"], "VID_0003.mp4", timeout=600)
    assert a["size"] == 300 * 1024 * 1024
    fake.reset_stats()
    cli.sftp(["put %s %s" % (src, rpath(other, "VID_0003.mp4"))])
    b = wait_in_album(fake, other["id"], "VID_0003.mp4", timeout=600)
    assert b["id"] == a["id"]
    s = fake.stats()
    assert s["uploads"] == 0
    assert s["upload_bytes"] < 1024 * 1024, s["upload_bytes"]


def test_4_delete_from_one_of_two_albums_keeps_it_in_the_other(cli, fake, album):
    other = fake.seed_album(album["name"] + " B", user=ALICE[0])
    a = fake.add_asset("IMG_0004.jpg", size=4000, albums=[album["id"], other["id"]], user=ALICE[0])
    cli.sftp(["rm %s" % rpath(album, "IMG_0004.jpg")])
    sftputil.wait_for(lambda: "IMG_0004.jpg" not in album_assets(fake, album["id"]), COMMIT_WAIT)
    now = asset(fake, a["id"])
    assert not now["trashed"]
    assert now["albums"] == [other["id"]]
    r = cli.sftp(["ls -1 %s" % rpath(album), "ls -1 %s" % rpath(other)])
    assert r.stdout.count("IMG_0004.jpg") == 1


def test_5_delete_from_its_only_album_trashes_it(cli, fake, album):
    a = fake.add_asset("IMG_0005.jpg", size=5000, album=album["id"], user=ALICE[0])
    cli.sftp(["rm %s" % rpath(album, "IMG_0005.jpg")])
    now = sftputil.wait_for(lambda: (lambda x: x if x and x["trashed"] else None)(asset(fake, a["id"])),
                            COMMIT_WAIT, what="the asset in the trash")
    assert now["trashed"]  # in the trash, not deleted for good
    r = cli.sftp(["ls -1 %s" % rpath(album)])
    assert "IMG_0005.jpg" not in r.stdout


def test_6_reupload_of_a_trashed_file_restores_it(cli, fake, album, tmp_path):
    old = fake.seed_album(album["name"] + " old", user=ALICE[0])
    data = os.urandom(60000)
    a = fake.add_asset("IMG_0006.jpg", content=data, album=old["id"], user=ALICE[0])
    fake.api("DELETE", "/api/assets", {"ids": [a["id"]], "force": False}, api_key=ALICE[2])
    assert asset(fake, a["id"])["trashed"]
    src = local_file(tmp_path, "IMG_0006.jpg", data)
    fake.reset_stats()
    cli.sftp(["put %s %s" % (src, rpath(album, "IMG_0006.jpg"))])
    b = wait_in_album(fake, album["id"], "IMG_0006.jpg")
    assert b["id"] == a["id"]
    now = asset(fake, a["id"])
    assert not now["trashed"]
    assert now["albums"] == [album["id"]]  # dropped from the old album, in the new one
    assert fake.stats()["uploads"] == 0


# ------------------------------------------------------------------ clients

def test_put_without_setstat(cli, fake, album, tmp_path):
    data = os.urandom(200000)
    src = local_file(tmp_path, "IMG_0101.jpg", data, mtime=T1)
    before = time.time()
    r = cli.sftp(["put %s %s" % (src, rpath(album, "IMG_0101.jpg")), "ls -l %s" % rpath(album)])
    # Visible at once, pending or not.
    assert "IMG_0101.jpg" in r.stdout.split("ls -l", 1)[1]
    a = wait_in_album(fake, album["id"], "IMG_0101.jpg")
    assert fake.original_bytes(a["id"]) == data
    # No SETSTAT: the file's time is the upload's, not the local mtime.
    assert a["fileModifiedAt"] >= iso(int(before) - 1)


def test_fsetstat_before_close(cli, fake, album):
    data = os.urandom(100000)
    with SftpClient(cli.ssh_argv()) as c:
        h = c.open("/%s/IMG_0102.jpg" % album["name"], FXF_WRITE | FXF_CREAT | FXF_TRUNC)
        c.write_all(h, data)
        c.fsetstat(h, mtime=T1)
        c.close(h)
    a = wait_in_album(fake, album["id"], "IMG_0102.jpg")
    assert a["fileModifiedAt"] == iso(T1)
    assert fake.original_bytes(a["id"]) == data


def test_setstat_by_path_after_close(cli, fake, album):
    # FileZilla, Cyberduck: CLOSE, then SETSTAT on the path.
    data = os.urandom(100000)
    p = "/%s/IMG_0103.jpg" % album["name"]
    with SftpClient(cli.ssh_argv()) as c:
        h = c.open(p, FXF_WRITE | FXF_CREAT | FXF_TRUNC)
        c.write_all(h, data)
        c.close(h)
        c.setstat(p, mtime=T1)
        assert c.stat(p).mtime == T1
    a = wait_in_album(fake, album["id"], "IMG_0103.jpg")
    assert a["fileModifiedAt"] == iso(T1)


def test_winscp_filepart_upload(cli, fake, album):
    # WinSCP: upload to NAME.filepart, SSH_FXP_RENAME to NAME (OpenSSH's
    # server turns that into link + unlink, or rename), SETSTAT the time.
    data = os.urandom(300000)
    d = "/%s/" % album["name"]
    with SftpClient(cli.ssh_argv()) as c:
        h = c.open(d + "IMG_0104.jpg.filepart", FXF_WRITE | FXF_CREAT | FXF_TRUNC)
        c.write_all(h, data)
        c.close(h)
        c.rename(d + "IMG_0104.jpg.filepart", d + "IMG_0104.jpg")
        c.setstat(d + "IMG_0104.jpg", mtime=T1, perm=0o644)
        names = [n for n, _ in c.listdir(d)]
        assert "IMG_0104.jpg" in names and "IMG_0104.jpg.filepart" not in names
    a = wait_in_album(fake, album["id"], "IMG_0104.jpg")
    assert a["fileModifiedAt"] == iso(T1)
    assert fake.original_bytes(a["id"]) == data
    assert not [n for n in album_assets(fake, album["id"]) if n.endswith(".filepart")]


def test_openssh_rename_of_a_temp_file(cli, fake, album, tmp_path):
    data = os.urandom(150000)
    src = local_file(tmp_path, "x", data)
    cli.sftp(["put %s %s" % (src, rpath(album, ".IMG_0105.jpg.tmp")),
              "rename %s %s" % (rpath(album, ".IMG_0105.jpg.tmp"), rpath(album, "IMG_0105.jpg"))])
    a = wait_in_album(fake, album["id"], "IMG_0105.jpg")
    assert fake.original_bytes(a["id"]) == data
    assert set(album_assets(fake, album["id"])) == {"IMG_0105.jpg"}


def test_reput_resumes_an_upload(cli, fake, album, tmp_path):
    data = os.urandom(2 * 1024 * 1024 + 11)
    src = local_file(tmp_path, "IMG_0106.jpg", data)
    p = "/%s/IMG_0106.jpg" % album["name"]
    with SftpClient(cli.ssh_argv()) as c:  # an upload cut off half way
        h = c.open(p, FXF_WRITE | FXF_CREAT | FXF_TRUNC)
        c.write_all(h, data[:1000000])
        c.close(h)
    cli.sftp(["reput %s %s" % (src, rpath(album, "IMG_0106.jpg"))])
    a = sftputil.wait_for(
        lambda: (lambda x: x if x and x["size"] == len(data) else None)(
            (album_assets(fake, album["id"]) or {}).get("IMG_0106.jpg")),
        COMMIT_WAIT, what="the whole file in Immich")
    assert fake.original_bytes(a["id"]) == data
    assert list(album_assets(fake, album["id"])) == ["IMG_0106.jpg"]


@pytest.mark.limit(300)
def test_four_parallel_uploads(alice, sshd, fake, album, tmp_path):
    files = {}
    for i in range(4):
        files["IMG_02%02d.jpg" % i] = local_file(tmp_path, "IMG_02%02d.jpg" % i, os.urandom(3 * 1024 * 1024 + i))
    procs = [alice.client(sshd).sftp_popen(["put %s %s" % (p, rpath(album, n))]) for n, p in files.items()]
    for pr in procs:
        out, err = pr.communicate(timeout=240)
        assert pr.returncode == 0, err
    for n, p in files.items():
        a = wait_in_album(fake, album["id"], n)
        assert fake.original_bytes(a["id"]) == p.read_bytes()
    assert set(album_assets(fake, album["id"])) == set(files)


def test_mkdir_and_rmdir_make_and_remove_albums(cli, fake):
    name = "New album %s" % os.urandom(2).hex()
    cli.sftp(["mkdir %s" % sftputil.quote("/" + name), "ls -1 /"])
    al = sftputil.wait_for(lambda: fake.album_named(name, user=ALICE[0]), COMMIT_WAIT)
    # Albums hold files, not folders.
    r = cli.sftp(["mkdir %s" % sftputil.quote("/%s/sub" % name)], check=False)
    assert r.returncode != 0
    cli.sftp(["rmdir %s" % sftputil.quote("/" + name)])
    sftputil.wait_for(lambda: fake.album_named(name, user=ALICE[0]) is None, COMMIT_WAIT)
    assert al["name"] == name


def test_rmdir_of_a_full_album_fails(cli, fake, album):
    fake.add_asset("IMG_0300.jpg", size=300, album=album["id"], user=ALICE[0])
    r = cli.sftp(["rmdir %s" % rpath(album)], check=False)
    assert r.returncode != 0
    assert fake.album_named(album["name"], user=ALICE[0]) is not None


def test_move_between_albums(cli, fake, album):
    other = fake.seed_album(album["name"] + " B", user=ALICE[0])
    a = fake.add_asset("IMG_0400.jpg", size=4000, album=album["id"], user=ALICE[0])
    b = fake.add_asset("IMG_0401.jpg", size=4001, album=album["id"], user=ALICE[0])
    fake.reset_stats()
    # OpenSSH sftp: posix-rename@openssh.com, i.e. rename(2).
    cli.sftp(["rename %s %s" % (rpath(album, "IMG_0400.jpg"), rpath(other, "IMG_0400.jpg"))])
    # WinSCP/FileZilla: SSH_FXP_RENAME, i.e. link(2) + unlink(2).
    with SftpClient(cli.ssh_argv()) as c:
        c.rename("/%s/IMG_0401.jpg" % album["name"], "/%s/IMG_0401.jpg" % other["name"])
    for x in (a, b):
        sftputil.wait_for(lambda: asset(fake, x["id"])["albums"] == [other["id"]], COMMIT_WAIT)
        assert not asset(fake, x["id"])["trashed"]
    assert fake.stats()["uploads"] == 0


def test_rename_an_album(cli, fake, album):
    new = album["name"] + " renamed"
    cli.sftp(["rename %s %s" % (rpath(album), sftputil.quote("/" + new))])
    sftputil.wait_for(lambda: fake.album_named(new, user=ALICE[0]), COMMIT_WAIT)
    assert fake.album_named(album["name"], user=ALICE[0]) is None


def test_uploaded_file_reads_back_while_pending(cli, fake, album):
    data = os.urandom(700000)
    p = "/%s/IMG_0500.jpg" % album["name"]
    with SftpClient(cli.ssh_argv()) as c:
        h = c.open(p, FXF_WRITE | FXF_CREAT | FXF_TRUNC)
        c.write_all(h, data)
        c.close(h)
        assert c.stat(p).size == len(data)
        h = c.open(p, FXF_READ)
        got = b""
        while True:
            chunk = c.read(h, len(got), 65536)
            if not chunk:
                break
            got += chunk
        c.close(h)
    assert got == data
    wait_in_album(fake, album["id"], "IMG_0500.jpg")


def test_unsupported_file_type_is_refused_at_once(cli, fake, album):
    d = "/%s/" % album["name"]
    with SftpClient(cli.ssh_argv()) as c:
        # The same session may create a photo, so the refusal is the type's.
        h = c.open(d + "IMG_0600.jpg", FXF_WRITE | FXF_CREAT | FXF_TRUNC)
        c.write(h, 0, os.urandom(1000))
        c.close(h)
        with pytest.raises(SftpError):
            c.open(d + "notes.txt", FXF_WRITE | FXF_CREAT | FXF_TRUNC)
        assert "notes.txt" not in [n for n, _ in c.listdir(d)]
    wait_in_album(fake, album["id"], "IMG_0600.jpg")


def test_setstat_size_beyond_the_spool_disk_is_refused(cli, fake, album):
    # Issue 10 case 7: SETSTAT size=10T made a sparse 10 TB pending file that
    # was then hashed and uploaded. The truncate is refused (EFBIG, which
    # OpenSSH's server reports as a failure) and the file stays as it was.
    data = os.urandom(50000)
    p = "/%s/IMG_0110.jpg" % album["name"]
    with SftpClient(cli.ssh_argv()) as c:
        h = c.open(p, FXF_WRITE | FXF_CREAT | FXF_TRUNC)
        c.write_all(h, data)
        c.close(h)
        with pytest.raises(SftpError):
            c.setstat(p, size=10 << 40)
        assert c.stat(p).size == len(data)
    a = wait_in_album(fake, album["id"], "IMG_0110.jpg")
    assert fake.original_bytes(a["id"]) == data
