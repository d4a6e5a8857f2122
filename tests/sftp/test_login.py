"""Logging in with the Immich password (contrib/pam): the helper on its own,
and through a real sshd with PAM.

The sshd test does not edit /etc/pam.d/sshd. sshd takes its PAM service name
from the name it runs under, so it runs as a symlink named
immichfs-test-<random> and reads /etc/pam.d/immichfs-test-<random>: a copy
of this machine's /etc/pam.d/sshd with the two lines of
contrib/pam/sshd-immichfs put above "@include common-auth" by the sed
command the README, section "Serve over SFTP" gives an administrator (only the helper's path points
into the source tree). The file is removed afterwards."""

import http.server
import json
import os
import shutil
import subprocess
import threading

import pytest

import sftputil
from sftputil import ALICE, BOB


pam_login = sftputil.pam_login


class LoginAnswer:
    """A tiny HTTP server on 127.0.0.1 that answers every POST with a fixed
    status and JSON body: a server that says "200" without being Immich."""

    def __init__(self, status, body):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                data = json.dumps(outer.body).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                outer.paths.append(self.path)

            def log_message(self, *a):
                pass

        self.status, self.body, self.paths = status, body, []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def curl_recorder(tmp_path):
    """A `curl` that records its arguments and fails like an unreachable
    server without sending anything; -> (PATH, file with the arguments)."""
    rec = tmp_path / "curl-argv"
    wrapper = tmp_path / "curl"
    wrapper.write_text('#!/bin/sh\nprintf "%%s\\n" "$@" >> "%s"\nexit 7\n' % rec)
    wrapper.chmod(0o755)
    return "%s:%s" % (tmp_path, os.environ.get("PATH", "/usr/bin:/bin")), rec


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


def test_helper_refuses_a_200_that_is_no_login(alice, healthy_fake):
    # A 200 whose body is not a login answer (the fake's status fault sends
    # {"message": "OK"}): refused, and the reason is logged.
    healthy_fake.fault("POST /api/auth/login", "status", status=200, count=1)
    r = pam_login(alice.name, "any-password")
    assert r.returncode == 1
    assert b"refused" in r.stderr and b"accessToken" in r.stderr, r.stderr
    assert pam_login(alice.name, ALICE[1]).returncode == 0  # the real answer still works


def test_helper_refuses_a_login_of_someone_else(conf_user):
    name, write = conf_user
    cases = [
        (201, {"accessToken": "t0k", "userEmail": "mallory@example.com"}, 1),
        (201, {"accessToken": "t0k"}, 1),
        (200, {"accessToken": "", "userEmail": "carol@example.com"}, 1),
        (200, "<html>the web app</html>", 1),
        (201, {"accessToken": "t0k", "userEmail": "ca\"rol@example.com"}, 1),
        # Immich keeps e-mails in lower case: a differently cased conf matches.
        (201, {"accessToken": "t0k", "userEmail": "carol@example.com"}, 0),
    ]
    for status, body, want in cases:
        srv = LoginAnswer(status, body)
        try:
            write("Carol@Example.com", url=srv.url)
            r = pam_login(name, "whatever")
            assert r.returncode == want, (status, body, r.stderr)
            if want:
                assert b"refused" in r.stderr, r.stderr
            assert "/api/auth/login" in srv.paths
        finally:
            srv.close()


def test_helper_refuses_plain_http_to_another_machine(conf_user, tmp_path):
    # Decided from the URL alone: the recording curl shows whether the helper
    # would have sent the password. Nothing goes to a non-loopback address.
    name, write = conf_user
    path, rec = curl_recorder(tmp_path)
    refused = ["http://192.0.2.10", "http://192.0.2.10:2283/", "http://photos.example.com",
               "http://127.0.0.1.example.com/", "http://localhost.example.com:80",
               "http://127.0.0.256/", "http://[2001:db8::1]:2283", "http://[::ffff:127.0.0.1]/",
               "http://127.0.0.1@192.0.2.10/", "http://u:p@127.0.0.1:2283/",
               "http://192.0.2.10#@127.0.0.1/", "http://192.0.2.10?@127.0.0.1/",
               "http://192.0.2.10\\@127.0.0.1/", "ftp://127.0.0.1/"]
    for url in refused:
        write("carol@example.com", url=url)
        r = pam_login(name, "pw", env={"PATH": path})
        assert not rec.exists(), (url, rec.read_text())  # the password was not sent
        assert r.returncode == 1 and b"refused" in r.stderr, (url, r.stderr)
    asked = [("https://192.0.2.10", ()), ("https://photos.example.com:8443/immich", ()),
             ("http://127.0.0.1:9", ()), ("http://127.200.3.4:9/", ()), ("http://localhost:9", ()),
             ("http://LOCALHOST:9", ()), ("http://[::1]:9/", ()),
             ("http://192.0.2.10:2283", ("--allow-insecure-http",))]
    for url, args in asked:
        write("carol@example.com", url=url)
        r = pam_login(name, "pw", env={"PATH": path}, args=args)
        assert r.returncode == 1  # the recording curl "fails"
        assert rec.exists() and "/api/auth/login" in rec.read_text(), (url, r.stderr)
        rec.unlink()
    r = pam_login(name, "pw", env={"PATH": path}, args=["--bogus"])
    assert r.returncode == 1 and b"unknown argument" in r.stderr and not rec.exists()


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
