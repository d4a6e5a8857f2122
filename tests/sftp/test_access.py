"""Reading a library over SFTP, and what an SFTP-only account cannot do:
listing, downloads (get, reget, ranged reads), df, the chroot, forwarding,
shell commands, another account's library."""

import datetime
import os

import pytest

import sftputil
from sftputil import ALICE, BOB
from sftpproto import FXF_READ, SftpClient, SftpError


def _iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_sshd_applies_the_dropin(sshd, alice):
    eff = sshd.effective(alice.name)
    # sshd -T shows it before %u is expanded.
    assert "chrootdirectory /srv/immich/%u" in eff.splitlines()
    assert "forcecommand internal-sftp" in eff
    for line in ("permittty no", "allowtcpforwarding no", "x11forwarding no", "permittunnel no",
                 "allowagentforwarding no", "allowstreamlocalforwarding no", "disableforwarding yes"):
        assert line in eff.splitlines(), line
    # Someone outside the group is not touched by the Match block.
    other = sshd.effective("root")
    assert "chrootdirectory none" in other


def test_login_lands_in_the_album_list(cli, fake, album):
    r = cli.sftp(["pwd", "ls -1"])
    assert "Remote working directory: /" in r.stdout
    assert album["name"] in r.stdout.splitlines()


def test_ls_l_shows_sizes_and_mtimes(cli, fake, album):
    a = fake.add_asset("IMG_1000.jpg", size=123457, album=album["id"], user=ALICE[0],
                       created="2023-04-05T06:07:08.000Z")
    with SftpClient(cli.ssh_argv()) as c:
        entries = dict(c.listdir("/" + album["name"]))
        assert set(entries) == {"IMG_1000.jpg"}
        st = entries["IMG_1000.jpg"]
        assert st.size == 123457
        assert _iso(st.mtime) == "2023-04-05T06:07:08.000Z"
        assert st.perm & 0o170000 == 0o100000
        assert c.stat("/" + album["name"]).perm & 0o170000 == 0o040000
    r = cli.sftp(["ls -l %s" % sftputil.quote("/" + album["name"])])
    assert "123457" in r.stdout and "IMG_1000.jpg" in r.stdout
    assert a["size"] == 123457


def test_get_round_trip(cli, fake, album, tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    fake.add_asset("VID_2000.mp4", content=data, album=album["id"], user=ALICE[0],
                   created="2022-01-02T03:04:05.000Z")
    out = tmp_path / "VID_2000.mp4"
    cli.sftp(["get -p %s %s" % (sftputil.quote("/%s/VID_2000.mp4" % album["name"]), out)])
    assert out.read_bytes() == data
    assert _iso(out.stat().st_mtime) == "2022-01-02T03:04:05.000Z"


def test_reget_resumes_a_download(cli, fake, album, tmp_path):
    data = os.urandom(8 * 1024 * 1024 + 5)
    done = 6 * 1024 * 1024 + 1
    fake.add_asset("IMG_2001.jpg", content=data, album=album["id"], user=ALICE[0])
    out = tmp_path / "IMG_2001.jpg"
    out.write_bytes(data[:done])  # an interrupted earlier download
    fake.reset_stats()
    cli.sftp(["reget %s %s" % (sftputil.quote("/%s/IMG_2001.jpg" % album["name"]), out)])
    assert out.read_bytes() == data
    # Only the rest came from Immich (give or take a cache block), not the
    # whole file again.
    assert fake.stats()["download_bytes"] <= len(data) - done + 1024 * 1024


def test_ranged_read_from_the_middle(cli, fake, album):
    data = os.urandom(5 * 1024 * 1024)
    fake.add_asset("IMG_2002.jpg", content=data, album=album["id"], user=ALICE[0])
    with SftpClient(cli.ssh_argv()) as c:
        h = c.open("/%s/IMG_2002.jpg" % album["name"], FXF_READ)
        assert c.read(h, 4 * 1024 * 1024 + 3, 20000) == data[4 * 1024 * 1024 + 3:4 * 1024 * 1024 + 20003]
        assert c.read(h, len(data) - 10, 100) == data[-10:]
        assert c.read(h, len(data), 100) == b""
        c.close(h)


def test_df(cli, fake):
    r = cli.sftp(["df"])
    lines = r.stdout.strip().splitlines()
    assert lines[-2].split()[0] == "Size", r.stdout
    size, used, avail = (int(x) for x in lines[-1].split()[:3])
    assert size > 0 and avail > 0 and used >= 0


def test_chroot_cannot_be_left(cli, album, tmp_path):
    r = cli.sftp(["cd ..", "pwd", "cd ../..", "pwd", "ls -1 /"])
    assert r.stdout.count("Remote working directory: /\n") == 2
    assert album["name"] in r.stdout
    for cmd in ("get /etc/passwd %s" % (tmp_path / "p1"),
                "get ../../../etc/passwd %s" % (tmp_path / "p2"),
                "get /../../etc/shadow %s" % (tmp_path / "p3"),
                "ls /etc", "ls /srv/immich", "cd /proc"):
        r = cli.sftp([cmd], check=False)
        assert r.returncode != 0, (cmd, r.stdout)
    assert not any(p.exists() for p in (tmp_path / "p1", tmp_path / "p2", tmp_path / "p3"))
    with SftpClient(cli.ssh_argv()) as c:
        assert c.realpath("/../../..") == "/"
        # A symlink pointing out of the chroot: refused by the mount, and
        # even if it were made it would resolve inside the chroot.
        try:
            c.symlink("/etc/passwd", "/%s/passwd.jpg" % album["name"])
            made = True
        except SftpError:
            made = False
        if made:
            with pytest.raises(SftpError):
                h = c.open("/%s/passwd.jpg" % album["name"], FXF_READ)
                data = c.read(h, 0, 4096)
                assert b"root:" not in data
        with pytest.raises(SftpError):
            c.open("/etc/passwd", FXF_READ)


def test_no_shell_no_commands(cli):
    r = cli.ssh(["cat", "/etc/passwd"])
    assert b"root:x:0:0" not in r.stdout
    r = cli.ssh([], extra=["-tt"])
    assert b"root:x:0:0" not in r.stdout


def test_no_forwarding(cli, fake, sshd):
    # ssh -W (a direct-tcpip channel) to the fake Immich's port: refused.
    r = cli.ssh([], extra=["-W", "127.0.0.1:%d" % fake.port, "-o", "ExitOnForwardFailure=yes"])
    assert r.returncode != 0
    assert b"HTTP/" not in r.stdout
    assert "refused local port forward" in sshd.log() and "target 127.0.0.1 port %d" % fake.port in sshd.log()


def test_accounts_see_only_their_own_library(alice, bob, sshd, fake):
    mine = fake.seed_album("Alice only %s" % os.urandom(2).hex(), user=ALICE[0])
    theirs = fake.seed_album("Bob only %s" % os.urandom(2).hex(), user=BOB[0])
    ra = alice.client(sshd).sftp(["ls -1 /"])
    rb = bob.client(sshd).sftp(["ls -1 /"])
    assert mine["name"] in ra.stdout and theirs["name"] not in ra.stdout
    assert theirs["name"] in rb.stdout and mine["name"] not in rb.stdout
    # Bob's chroot path means nothing inside Alice's.
    r = alice.client(sshd).sftp(["ls /srv/immich/%s" % bob.name], check=False)
    assert r.returncode != 0
    # Alice's key does not open Bob's account.
    crossed = sftputil.Client(sshd, bob.name, key=alice.key, workdir=alice.dir)
    assert crossed.sftp(["pwd"], check=False).returncode != 0

