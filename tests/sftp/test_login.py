"""Logging in with the Immich password (contrib/pam): the helper on its own,
and through a real sshd with PAM.

The sshd test does not edit /etc/pam.d/sshd. sshd takes its PAM service name
from the name it runs under, so it runs as a symlink named
immichfs-test-<random> and reads /etc/pam.d/immichfs-test-<random>: a copy
of this machine's /etc/pam.d/sshd with the two lines of
contrib/pam/sshd-immichfs put above "@include common-auth" by the sed
command the README, section "Serve over SFTP" gives an administrator (only the helper's path points
into the source tree). The file is removed afterwards."""

import os
import shutil
import subprocess

import pytest

import sftputil
from sftputil import ALICE, BOB


def pam_login(user, password, env=None, nul=True):
    e = {"PAM_USER": user, "PAM_TYPE": "auth", "PAM_SERVICE": "sshd", "PAM_RHOST": "127.0.0.1"}
    if env:
        e.update(env)
    data = password.encode() + (b"\0" if nul else b"")
    return subprocess.run([sftputil.PAM_LOGIN], input=data, env=e, capture_output=True, timeout=60)


@pytest.fixture
def conf_user(fake):
    """A conf file for a name with no system account (the helper needs only
    the conf); -> (name, write(email, url))."""
    name = sftputil.new_user_name("p")
    path = os.path.join(sftputil.ETC, name + ".conf")
    made_etc = not os.path.isdir(sftputil.ETC)
    os.makedirs(sftputil.ETC, exist_ok=True)

    def write(email, url=None):
        with open(path, "w") as f:
            f.write("IMMICH_URL=%s\nIMMICH_EMAIL=\"%s\"\n" % (url or fake.url, email))
        os.chmod(path, 0o600)
    yield name, write
    os.unlink(path)
    if made_etc:
        os.rmdir(sftputil.ETC)


def test_helper_right_and_wrong_password(alice, healthy_fake):
    assert pam_login(alice.name, ALICE[1]).returncode == 0
    assert pam_login(alice.name, ALICE[1], nul=False).returncode == 0
    assert pam_login(alice.name, "not-" + ALICE[1]).returncode == 1
    assert pam_login(alice.name, "").returncode == 1
    # Another Immich user's password does not open alice's account.
    assert pam_login(alice.name, BOB[1]).returncode == 1


def test_helper_needs_the_email_mapping(bob, alice, healthy_fake):
    # bob was added without --password-login: no IMMICH_EMAIL, no password login
    assert pam_login(bob.name, BOB[1]).returncode == 1
    assert pam_login("no-such-user-x", ALICE[1]).returncode == 1
    assert pam_login("../%s" % alice.name, ALICE[1]).returncode == 1
    assert pam_login(alice.name, ALICE[1], env={"PAM_TYPE": "account"}).returncode == 1


def test_helper_escapes_the_password(fake, conf_user):
    name, write = conf_user
    pw = 'q"uo\\te \t tab\nnewline ünï €'
    fake.add_user("carol-%s@example.com" % name, password=pw, api_key="carol-%s" % name)
    write("carol-%s@example.com" % name)
    assert pam_login(name, pw).returncode == 0
    assert pam_login(name, pw[:-1]).returncode == 1


def test_helper_keeps_the_password_off_command_lines(alice, healthy_fake, tmp_path):
    # A curl in front of the real one records every argument it is given.
    real = subprocess.run(["sh", "-c", "command -v curl"], capture_output=True, text=True).stdout.strip()
    rec = tmp_path / "argv"
    wrapper = tmp_path / "curl"
    wrapper.write_text('#!/bin/sh\nprintf "%%s\\n" "$@" >> "%s"\nexec %s "$@"\n' % (rec, real))
    wrapper.chmod(0o755)
    path = "%s:%s" % (tmp_path, os.environ.get("PATH", "/usr/bin:/bin"))
    assert pam_login(alice.name, ALICE[1], env={"PATH": path}).returncode == 0
    argv = rec.read_text()
    assert "/api/auth/login" in argv and "/api/auth/logout" in argv  # the wrapper really ran
    assert ALICE[1] not in argv
    assert "Bearer" not in argv  # the session token neither


def test_helper_fails_closed_when_immich_is_down(alice, healthy_fake, conf_user):
    healthy_fake.set_offline(True)
    assert pam_login(alice.name, ALICE[1]).returncode == 1
    healthy_fake.set_offline(False)
    healthy_fake.fault("POST /api/auth/login", "status", status=500, count=1)
    assert pam_login(alice.name, ALICE[1]).returncode == 1
    assert pam_login(alice.name, ALICE[1]).returncode == 0
    # Not an Immich URL at all.
    name, write = conf_user
    write(ALICE[0], url="http://127.0.0.1:%d" % sftputil.free_port())
    assert pam_login(name, ALICE[1]).returncode == 1


# ------------------------------------------------------------------ sshd + PAM

@pytest.fixture(scope="module")
def pam_sshd(workdir, accounts):
    service = "immichfs-test-" + os.urandom(3).hex()
    pam_file = os.path.join("/etc/pam.d", service)
    # The copy gets the PAM lines with the command the README, section "Serve over SFTP" gives.
    lines = os.path.join(workdir, "sshd-immichfs")
    with open(sftputil.PAM_LINES) as f, open(lines, "w") as g:
        g.write(f.read().replace("/usr/lib/immichfs/immichfs-pam-login", sftputil.PAM_LOGIN))
    shutil.copyfile("/etc/pam.d/sshd", pam_file)
    subprocess.run(["sed", "-i", "/^@include common-auth/e cat " + lines, pam_file], check=True)
    with open(pam_file) as f:
        text = f.read()
    auth = [ln for ln in text.splitlines() if ln.startswith("auth") or ln.startswith("@include common-auth")]
    assert "pam_succeed_if.so" in auth[0] and "pam_exec.so" in auth[1] and auth[2] == "@include common-auth", auth
    s = sftputil.Sshd(os.path.join(workdir, "sshd-pam"), pam_service=service)
    try:
        s.start()
        yield s
    finally:
        s.stop()
        os.unlink(pam_file)


def test_password_login_through_sshd(pam_sshd, alice, healthy_fake):
    r = alice.client(pam_sshd, password=ALICE[1]).sftp(["pwd", "ls -1 /"])
    assert "Remote working directory: /" in r.stdout
    assert "Accepted password for %s" % alice.name in pam_sshd.log()


def test_wrong_password_is_rejected(pam_sshd, alice, healthy_fake):
    r = alice.client(pam_sshd, password="wrong-" + ALICE[1]).sftp(["pwd"], check=False)
    assert r.returncode != 0
    assert "Remote working directory" not in r.stdout
    assert "Failed password for %s" % alice.name in pam_sshd.log()


def test_no_password_login_without_mapping(pam_sshd, bob, healthy_fake):
    r = bob.client(pam_sshd, password=BOB[1]).sftp(["pwd"], check=False)
    assert r.returncode != 0


def test_keys_work_when_immich_is_down(pam_sshd, alice, healthy_fake):
    healthy_fake.set_offline(True)
    r = alice.client(pam_sshd, password=ALICE[1]).sftp(["pwd"], check=False)
    assert r.returncode != 0
    r = alice.client(pam_sshd).sftp(["pwd"])
    assert "Remote working directory: /" in r.stdout
