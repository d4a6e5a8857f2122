"""contrib/immichfs-adduser, contrib/immichfs-deluser and
contrib/systemd/immichfs@.service.in, run for real."""

import grp
import os
import pwd
import shutil
import stat
import re
import subprocess

import pytest

import mountutil
import sftputil
from sftputil import ALICE, BOB


def mode(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def shadow_password(user):
    with open("/etc/shadow") as f:
        for line in f:
            parts = line.split(":")
            if parts[0] == user:
                return parts[1]
    return None


def test_adduser_makes_the_account(alice):
    pw = pwd.getpwnam(alice.name)
    assert grp.getgrgid(pw.pw_gid).gr_name == sftputil.GROUP
    assert pw.pw_shell == "/usr/sbin/nologin"
    assert pw.pw_dir == "/srv/immich/" + alice.name
    assert pw.pw_uid < 1000  # a system account
    assert shadow_password(alice.name) == "*"  # no password, not locked: keys work even with UsePAM no
    assert mode(sftputil.SRV) == (0, 0, 0o700)
    assert mode(sftputil.ETC) == (0, 0, 0o711)
    assert mode(os.path.join(sftputil.ETC, alice.name + ".key")) == (0, 0, 0o600)
    with open(os.path.join(sftputil.ETC, alice.name + ".key")) as f:
        assert f.read() == ALICE[2] + "\n"
    conf = sftputil.read_env_file(os.path.join(sftputil.ETC, alice.name + ".conf"))
    assert mode(os.path.join(sftputil.ETC, alice.name + ".conf"))[2] == 0o600
    assert conf["IMMICH_URL"].startswith("http://127.0.0.1:")
    assert conf["IMMICH_EMAIL"] == ALICE[0]  # --password-login asked the server
    ak = os.path.join(sftputil.ETC, "authorized_keys", alice.name)
    assert mode(ak) == (0, 0, 0o644)
    with open(alice.key + ".pub") as f, open(ak) as g:
        assert g.read() == f.read()
    assert mode(os.path.join(sftputil.CACHE, alice.name))[2] == 0o700
    # The chroot: root's, writable by nobody else (sshd checks this), also
    # as seen through the mount.
    assert mode(alice.mountpoint) == (0, 0, 0o755)
    assert mountutil.is_mounted(alice.mountpoint)


def test_adduser_again_keeps_and_adds(accounts, fake, tmp_path):
    a = accounts.add(BOB, "r", start=False)
    key2 = tmp_path / "k2"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key2)], check=True)
    for _ in range(2):
        r = sftputil.run_adduser(["--ssh-key", str(key2) + ".pub", "--no-start", a.name, fake.url])
        assert r.returncode == 0, r.stderr
    with open(os.path.join(sftputil.ETC, "authorized_keys", a.name)) as f:
        keys = f.read().splitlines()
    assert len(keys) == 2  # no duplicate
    with open(os.path.join(sftputil.ETC, a.name + ".key")) as f:
        assert f.read().strip() == BOB[2]  # the stored key was kept
    conf = sftputil.read_env_file(os.path.join(sftputil.ETC, a.name + ".conf"))
    assert conf["IMMICH_OPTIONS"] == "-o dir_cache_ttl=0"  # kept too
    # --email must name the key's user.
    r = sftputil.run_adduser(["--email", ALICE[0], "--no-start", a.name, fake.url])
    assert r.returncode == 1 and "someone else's library" in r.stderr
    r = sftputil.run_adduser(["--email", BOB[0], "--no-start", a.name, fake.url])
    assert r.returncode == 0, r.stderr
    assert sftputil.read_env_file(os.path.join(sftputil.ETC, a.name + ".conf"))["IMMICH_EMAIL"] == BOB[0]


def test_adduser_refuses(fake, tmp_path, accounts):
    good = tmp_path / "key"
    good.write_text(ALICE[2] + "\n")
    bad = tmp_path / "bad"
    bad.write_text("not-a-key-of-anyone\n")
    name = sftputil.new_user_name("x")
    cases = [
        (["--key-file", str(good), "--no-start", "Bad Name", fake.url], 1),
        (["--key-file", str(good), "--no-start", name, "ftp://example.com"], 1),
        (["--key-file", str(bad), "--no-start", name, fake.url], 2),  # the server rejects the key
        (["--key-file", str(good), "--no-start", "root", fake.url], 1),  # an existing, ordinary account
        (["--key-file", str(good), "--bogus", name, fake.url], 1),
    ]
    for args, want in cases:
        r = sftputil.run_adduser(args)
        assert r.returncode == want, (args, r.returncode, r.stderr)
    assert subprocess.run(["getent", "passwd", name], capture_output=True).returncode != 0
    assert not os.path.exists(os.path.join(sftputil.ETC, name + ".key"))
    assert "root" not in grp.getgrnam(sftputil.GROUP).gr_mem


def test_adduser_rekey_moves_the_email(accounts, healthy_fake, tmp_path):
    # alice's account with password login, re-keyed with bob's key: the stored
    # e-mail must follow the key, or alice's password would open bob's library.
    a = accounts.add(ALICE, "k", password_login=True, start=False)
    conf = os.path.join(sftputil.ETC, a.name + ".conf")
    assert sftputil.read_env_file(conf)["IMMICH_EMAIL"] == ALICE[0]
    assert sftputil.pam_login(a.name, ALICE[1]).returncode == 0
    bob_key = tmp_path / "bob.key"
    bob_key.write_text(BOB[2] + "\n")
    r = sftputil.run_adduser(["--key-file", str(bob_key), "--no-start", a.name, healthy_fake.url])
    assert r.returncode == 0, r.stderr
    assert sftputil.read_env_file(conf)["IMMICH_EMAIL"] == BOB[0]
    assert sftputil.pam_login(a.name, ALICE[1]).returncode == 1
    assert sftputil.pam_login(a.name, BOB[1]).returncode == 0
    # A new key the server cannot vouch for (Immich down): password login off.
    alice_key = tmp_path / "alice.key"
    alice_key.write_text(ALICE[2] + "\n")
    healthy_fake.set_offline(True)
    r = sftputil.run_adduser(["--key-file", str(alice_key), "--no-start", a.name, healthy_fake.url])
    healthy_fake.set_offline(False)
    assert r.returncode == 0, r.stderr
    assert "password login switched off" in r.stderr
    assert sftputil.read_env_file(conf)["IMMICH_EMAIL"] == ""
    assert sftputil.pam_login(a.name, BOB[1]).returncode == 1
    assert sftputil.pam_login(a.name, ALICE[1]).returncode == 1
    # On again, then explicitly off.
    r = sftputil.run_adduser(["--password-login", "--no-start", a.name, healthy_fake.url])
    assert r.returncode == 0, r.stderr
    assert sftputil.read_env_file(conf)["IMMICH_EMAIL"] == ALICE[0]
    r = sftputil.run_adduser(["--no-password-login", "--no-start", a.name, healthy_fake.url])
    assert r.returncode == 0, r.stderr
    assert sftputil.read_env_file(conf)["IMMICH_EMAIL"] == ""


def test_adduser_refuses_control_characters(fake, tmp_path, accounts):
    name = sftputil.new_user_name("z")
    cases = [
        (["--options", "-o settle=1\nIMMICH_URL=http://127.0.0.1:9"], "--options"),
        (["--options", "-o settle=1\tx"], "--options"),
        (["--options", "-o settle=1\rx"], "--options"),
        (["--email", "alice@example.com\x01"], "e-mail"),
    ]
    try:
        _refusals(fake, tmp_path, name, cases)
    finally:
        if subprocess.run(["getent", "passwd", name], capture_output=True).returncode == 0:
            sftputil.run_deluser(["--purge", "--force", name])


def _refusals(fake, tmp_path, name, cases):
    key = tmp_path / "key"
    key.write_text(ALICE[2] + "\n")
    for extra, word in cases:
        r = sftputil.run_adduser(["--key-file", str(key), "--no-start"] + extra + [name, fake.url])
        assert r.returncode == 1 and word in r.stderr, (extra, r.stderr)
    # A key file is the key and one line end: anything else is refused, naming the file.
    for content in (ALICE[2] + "\nx-evil: 1\n", ALICE[2] + " \n", " " + ALICE[2], ALICE[2] + "\n\n",
                    ALICE[2] + "\r\nx", ALICE[2] + "\x00x\n", ALICE[2] + "\x7f"):
        key.write_bytes(content.encode())
        r = sftputil.run_adduser(["--key-file", str(key), "--no-start", name, fake.url])
        assert r.returncode == 1 and str(key) in r.stderr, (content, r.stderr)
    # Credentials, queries and fragments in the URL are refused too.
    key.write_text(ALICE[2] + "\n")
    host = fake.url.split("//", 1)[1]
    for url in ("http://u:p@" + host, fake.url + "/?a=1", fake.url + "/#x", fake.url + "/,allow_other\x01"):
        r = sftputil.run_adduser(["--key-file", str(key), "--no-start", name, url])
        assert r.returncode == 1 and "not a plain" in r.stderr, (url, r.stderr)
    assert subprocess.run(["getent", "passwd", name], capture_output=True).returncode != 0
    assert not os.path.exists(os.path.join(sftputil.ETC, name + ".conf"))


def test_adduser_accepts_a_crlf_key_file(fake, accounts, tmp_path):
    name = sftputil.new_user_name("w")
    key = tmp_path / "key"
    key.write_bytes((ALICE[2] + "\r\n").encode())
    try:
        r = sftputil.run_adduser(["--key-file", str(key), "--no-start", name, fake.url])
        assert r.returncode == 0, r.stderr
        with open(os.path.join(sftputil.ETC, name + ".key")) as f:
            assert f.read() == ALICE[2] + "\n"
    finally:
        sftputil.run_deluser(["--purge", name])


def test_adduser_reads_the_key_from_stdin(fake, accounts):
    name = sftputil.new_user_name("s")
    try:
        r = sftputil.run_adduser(["--no-start", name, fake.url], input=ALICE[2] + "\n")
        assert r.returncode == 0, r.stderr
        with open(os.path.join(sftputil.ETC, name + ".key")) as f:
            assert f.read() == ALICE[2] + "\n"
    finally:
        sftputil.run_deluser(["--purge", name])


def test_deluser(accounts, sshd, tmp_path):
    a = accounts.add(BOB, "d")
    assert a.client(sshd).sftp(["pwd"]).returncode == 0
    # Busy: a process sits in the mount. deluser refuses and changes nothing.
    sitter = subprocess.Popen(["sleep", "600"], cwd=a.mountpoint)
    try:
        r = sftputil.run_deluser([a.name])
        assert r.returncode == 1 and "busy" in r.stderr, r.stderr
        assert pwd.getpwnam(a.name)
        assert mountutil.is_mounted(a.mountpoint)
    finally:
        sitter.kill()
        sitter.wait()
    accounts.unmount(a)
    # A spool with a file Immich has not got: --purge refuses without --force.
    spool = os.path.join(sftputil.CACHE, a.name, "spool")
    os.makedirs(spool, exist_ok=True)
    with open(os.path.join(spool, "7.data"), "wb") as f:
        f.write(b"pending")
    r = sftputil.run_deluser(["--purge", a.name])
    assert r.returncode == 1 and "spool" in r.stderr
    assert pwd.getpwnam(a.name)  # nothing removed
    r = sftputil.run_deluser([a.name])
    assert r.returncode == 0, r.stderr
    with pytest.raises(KeyError):
        pwd.getpwnam(a.name)
    for p in (a.mountpoint, os.path.join(sftputil.ETC, a.name + ".key"),
              os.path.join(sftputil.ETC, a.name + ".conf"),
              os.path.join(sftputil.ETC, "authorized_keys", a.name)):
        assert not os.path.exists(p), p
    assert os.path.exists(os.path.join(spool, "7.data"))  # kept without --purge
    assert a.client(sshd).sftp(["pwd"], check=False).returncode != 0
    # Not an immichfs account: refused.
    r = sftputil.run_deluser(["root"])
    assert r.returncode == 1 and pwd.getpwnam("root")
    shutil.rmtree(os.path.join(sftputil.CACHE, a.name))


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_unit_verifies(tmp_path):
    unit = tmp_path / "immichfs@verify.service"
    unit.write_text(sftputil.render_unit(os.path.abspath(mountutil.BIN)))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


@pytest.mark.limit(400)
@pytest.mark.skipif(not shutil.which("strace") or not shutil.which("systemd-analyze"),
                    reason="needs strace and systemd-analyze")
def test_unit_sandbox_allows_what_the_daemon_does(accounts, sshd, tmp_path):
    # systemd is not PID 1 here, so the unit's seccomp filters cannot be
    # applied for real: the daemon (and the unit's other commands) run under
    # strace through a mount, an SFTP session and the unmount, and every
    # system call, socket family and memory mapping they made must be one
    # SystemCallFilter=, RestrictAddressFamilies= and MemoryDenyWriteExecute=
    # allow. Paths not exercised here are not covered.
    a = accounts.add(BOB, "t", start=False)
    trace = tmp_path / "trace"
    trace.mkdir()
    a.unit = sftputil.UnitRunner(os.path.abspath(mountutil.BIN), a.name,
                                 os.path.join(a.dir, "immichfs.log"),
                                 # LeakSanitizer cannot work under ptrace (a sanitizer build)
                                 prefix=["env", "ASAN_OPTIONS=detect_leaks=0", "strace", "-f",
                                         "-ff", "-qq", "-o", str(trace / "t")])
    a.unit.start()
    assert mountutil.is_mounted(a.mountpoint), a.unit.log()
    src = tmp_path / "up.jpg"
    src.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(300_000))
    album = "Sandbox-" + os.urandom(3).hex()
    c = a.client(sshd)
    c.sftp(["mkdir /%s" % album, "put %s /%s/up.jpg" % (src, album), "ls -l /%s" % album])

    def uploaded():
        st = accounts.fake.state(BOB[0])
        names = {x["id"]: x["name"] for x in st["assets"] if not x["trashed"]}
        return any(al["name"] == album and "up.jpg" in {names.get(i) for i in al["assets"]}
                   for al in st["albums"])
    sftputil.wait_for(uploaded, 120, what="the upload in Immich")
    c.sftp(["get /%s/up.jpg %s" % (album, tmp_path / "back.jpg"), "rm /%s/up.jpg" % album,
            "rmdir /%s" % album])
    assert (tmp_path / "back.jpg").read_bytes() == src.read_bytes()
    accounts.unmount(a)
    unit = sftputil.unit_directives(sftputil.render_unit("/x/immichfs"))
    values = dict((k, v) for k, v in unit)
    groups = sftputil.syscall_groups()
    allowed = set()
    for item in values["SystemCallFilter"].split():
        allowed |= groups[item] if item.startswith("@") else {item}
    families = set(values["RestrictAddressFamilies"].split())
    assert values["MemoryDenyWriteExecute"] == "yes"
    calls = sftputil.traced_calls(str(trace))
    assert any(ln.startswith("mount(") for _, ln in calls), "the trace missed the mount"
    names = {sftputil._STRACE_CALL.match(ln).group(1) for _, ln in calls}
    assert names - allowed == set(), [(f, ln) for f, ln in calls
                                      if sftputil._STRACE_CALL.match(ln).group(1) not in allowed][:20]
    bad = []
    for f, ln in calls:
        m = re.match(r"socket(?:pair)?\((AF_[A-Z0-9]+)", ln)
        if m and m.group(1) not in families:
            bad.append((f, ln))
        if ln.startswith("mmap(") and "PROT_WRITE" in ln and "PROT_EXEC" in ln:
            bad.append((f, ln))
        if (ln.startswith("mprotect(") or ln.startswith("pkey_mprotect(")) and "PROT_EXEC" in ln:
            bad.append((f, ln))
    assert not bad, bad[:20]


def test_unit_commands_mount_and_unmount(alice, sshd):
    # `alice` was mounted by UnitRunner with the unit's ExecStartPre,
    # ExecStart (under setpriv: NoNewPrivileges and CAP_SYS_ADMIN only) and
    # ExecStartPost; here: the mount is the one the unit describes.
    argv = alice.unit.start_argv()
    assert argv[0] == "setpriv" and "--no-new-privs" in argv
    with open("/proc/self/mountinfo") as f:
        line = next(ln for ln in f if ln.split()[4] == alice.mountpoint)
    assert "fuse.immichfs" in line
    assert "allow_other" in line and "user_id=0" in line and "group_id=0" in line
    assert "default_permissions" not in line
    assert alice.client(sshd).sftp(["pwd"]).returncode == 0


def test_unit_restart_after_a_crash(accounts, sshd):
    a = accounts.add(BOB, "c")
    a.unit.kill()  # a crash leaves a dead mount: "Transport endpoint is not connected"
    with pytest.raises(OSError):
        os.listdir(a.mountpoint)
    a.unit.proc = None
    a.unit._log.close()
    a.unit.start()  # what Restart=on-failure does: ExecStartPre clears it
    assert mountutil.is_mounted(a.mountpoint)
    assert a.client(sshd).sftp(["pwd"]).returncode == 0
