"""Helpers for the SFTP tests: Debian's own sshd on a loopback port with the
drop-in from contrib/sshd, accounts made by contrib/immichfs-adduser, mounts
started with the command lines of contrib/systemd/immichfs@.service.in, and
the OpenSSH clients.

Everything runs for real: the accounts, /srv/immich/<user>,
/etc/immichfs/<user>.* and /var/cache/immichfs/<user> are the paths the
scripts use on a server (test accounts have random names and are removed by
immichfs-deluser afterwards).
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import tempfile
import time

import mountutil
from mountutil import free_port, read_text  # noqa: F401 (free_port: also sftputil.free_port)

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))
CONTRIB = os.path.join(TOP, "contrib")
DROPIN = os.path.join(CONTRIB, "sshd", "immichfs-sftp.conf")
PAM_LINES = os.path.join(CONTRIB, "pam", "sshd-immichfs")
PAM_LOGIN = os.path.join(CONTRIB, "pam", "immichfs-pam-login")
ADDUSER = os.path.join(CONTRIB, "immichfs-adduser")
DELUSER = os.path.join(CONTRIB, "immichfs-deluser")
UNIT_IN = os.path.join(CONTRIB, "systemd", "immichfs@.service.in")
SSHD = "/usr/sbin/sshd"
SRV = "/srv/immich"
ETC = "/etc/immichfs"
CACHE = "/var/cache/immichfs"
GROUP = "immich-sftp"

# The fake Immich's users behind the two test accounts: (email, password, API key, name).
ALICE = ("alice@example.com", "alice-pw", "alice-key", "Alice")
BOB = ("bob@example.com", "bob-pw", "bob-key", "Bob")


def wait_for(pred, timeout=60, interval=0.1, what="condition"):
    """Polls pred() until it returns something true; fails after timeout.
    A deadline for something that must eventually happen, not a speed check."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ds waiting for %s (last: %r)" % (timeout, what, last))


# ------------------------------------------------------------------ sshd

class Sshd:
    """sshd -D -e on 127.0.0.1:<free port> with a throwaway host key, the
    contrib drop-in included as is, and optionally PAM.

    pam_service: sshd takes its PAM service name from the name it runs under
    (OpenSSH's SSHD_PAM_SERVICE defaults to __progname), so a symlink named
    pam_service to /usr/sbin/sshd makes it read /etc/pam.d/<pam_service>
    instead of /etc/pam.d/sshd: the system's own sshd PAM file is never
    touched. The caller writes /etc/pam.d/<pam_service> (and removes it)."""

    def __init__(self, workdir, pam_service=None, extra=""):
        self.dir = workdir
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.host_key = os.path.join(self.dir, "ssh_host_ed25519_key")
        self.config = os.path.join(self.dir, "sshd_config")
        self.pid_file = os.path.join(self.dir, "sshd.pid")
        self.log_path = os.path.join(self.dir, "sshd.log")
        self.pam_service = pam_service
        self.extra = extra
        self.proc = None
        self.made_privsep_dir = False

    def write_config(self):
        if not os.path.exists(self.host_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.host_key], check=True)
        lines = [
            "Port %d" % self.port,
            "ListenAddress 127.0.0.1",
            "HostKey " + self.host_key,
            "PidFile " + self.pid_file,
            "UsePAM " + ("yes" if self.pam_service else "no"),
            "KbdInteractiveAuthentication no",
            "PasswordAuthentication " + ("yes" if self.pam_service else "no"),
            "PermitRootLogin no",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            self.extra,
            # The drop-in exactly as shipped, as /etc/ssh/sshd_config includes it.
            "Include " + DROPIN,
        ]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def binary(self):
        if not self.pam_service:
            return SSHD
        link = os.path.join(self.dir, self.pam_service)
        if not os.path.islink(link):
            os.symlink(SSHD, link)
        return link

    def start(self):
        self.write_config()
        if not os.path.isdir("/run/sshd"):  # privilege separation directory
            os.makedirs("/run/sshd", mode=0o755)
            self.made_privsep_dir = True
        r = subprocess.run([self.binary(), "-t", "-f", self.config], capture_output=True, text=True)
        assert r.returncode == 0, "sshd -t: " + r.stderr
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary(), "-D", "-e", "-f", self.config],
                                     stdout=self._log, stderr=subprocess.STDOUT)

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("sshd exited: " + self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(listening, 20, what="sshd to listen")
        return self

    def effective(self, user):
        """sshd -T for a connection of `user`: the settings after Match."""
        r = subprocess.run([self.binary(), "-T", "-f", self.config, "-C",
                            "user=%s,host=localhost,addr=127.0.0.1" % user],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def log(self):
        return read_text(self.log_path)

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self._log.close()
        if self.made_privsep_dir:
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass
            self.made_privsep_dir = False


# ------------------------------------------------------------------ clients

class Client:
    """OpenSSH sftp/ssh for one account, key or password."""

    def __init__(self, sshd, user, key=None, password=None, workdir=None):
        self.sshd = sshd
        self.user = user
        self.key = key
        self.password = password
        self.dir = workdir or tempfile.mkdtemp(prefix="sftp-client-")

    def _opts(self):
        o = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=30"]
        if self.password is None:
            o += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", self.key,
                  "-o", "PreferredAuthentications=publickey"]
        else:
            # The password through SSH_ASKPASS (no sshpass needed). BatchMode
            # must stay off or ssh never asks; it comes before sftp's own -b.
            o += ["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no",
                  "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1"]
        return o

    def env(self):
        env = dict(os.environ)
        if self.password is not None:
            askpass = os.path.join(self.dir, "askpass")
            if not os.path.exists(askpass):
                with open(askpass, "w") as f:
                    f.write("#!/bin/sh\nexec cat \"$(dirname \"$0\")/password\"\n")
                os.chmod(askpass, 0o700)
            pw = os.path.join(self.dir, "password")
            fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.password + "\n")
            env.update(SSH_ASKPASS=askpass, SSH_ASKPASS_REQUIRE="force", DISPLAY=env.get("DISPLAY", ":0"))
        return env

    def ssh_argv(self):
        return ["ssh", "-p", str(self.sshd.port)] + self._opts() + ["%s@127.0.0.1" % self.user]

    def sftp(self, commands, check=True, timeout=600, cwd=None):
        """Runs `sftp -b` with the commands (a list of lines); -> CompletedProcess.
        In batch mode sftp stops at the first failing command (exit 1)."""
        batch = os.path.join(self.dir, "batch.%d" % time.monotonic_ns())
        with open(batch, "w") as f:
            f.write("\n".join(commands) + "\n")
        argv = ["sftp", "-P", str(self.sshd.port)] + self._opts() + ["-b", batch, "%s@127.0.0.1" % self.user]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env(),
                           stdin=subprocess.DEVNULL, cwd=cwd or self.dir)
        os.unlink(batch)
        if check:
            assert r.returncode == 0, "sftp %s failed (%d):\nstdout: %s\nstderr: %s\nsshd log tail: %s" % (
                commands, r.returncode, r.stdout, r.stderr, self.sshd.log()[-3000:])
        return r

    def sftp_popen(self, commands, cwd=None):
        batch = os.path.join(self.dir, "batch.%d" % time.monotonic_ns())
        with open(batch, "w") as f:
            f.write("\n".join(commands) + "\n")
        argv = ["sftp", "-P", str(self.sshd.port)] + self._opts() + ["-b", batch, "%s@127.0.0.1" % self.user]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env(), stdin=subprocess.DEVNULL, cwd=cwd or self.dir)

    def ssh(self, args, timeout=60, extra=()):
        argv = ["ssh", "-p", str(self.sshd.port)] + self._opts() + list(extra) + \
            ["%s@127.0.0.1" % self.user] + list(args)
        return subprocess.run(argv, capture_output=True, timeout=timeout, env=self.env(),
                              stdin=subprocess.DEVNULL)


def quote(path):
    """A path for an sftp batch line (sftp splits on blanks, honours quotes)."""
    return '"%s"' % path.replace("\\", "\\\\").replace('"', '\\"')


# ------------------------------------------------------------------ accounts

def run_adduser(args, input=None):
    return subprocess.run([ADDUSER] + list(args), input=input, capture_output=True, text=True, timeout=120)


def run_deluser(args):
    return subprocess.run([DELUSER] + list(args), capture_output=True, text=True, timeout=120)


def pam_login(user, password, env=None, nul=True, args=()):
    """contrib/pam/immichfs-pam-login as pam_exec runs it (expose_authtok)."""
    e = {"PAM_USER": user, "PAM_TYPE": "auth", "PAM_SERVICE": "sshd", "PAM_RHOST": "127.0.0.1"}
    if env:
        e.update(env)
    data = password.encode() + (b"\0" if nul else b"")
    return subprocess.run([PAM_LOGIN] + list(args), input=data, env=e, capture_output=True,
                          timeout=60)


def new_user_name(tag="u"):
    return "ifs%s-%s" % (tag, os.urandom(3).hex())


class Account:
    """One SFTP account: system user, key, library, mount."""

    def __init__(self, name, immich_user, key_path, workdir):
        self.name = name
        self.email, self.password, self.api_key, _ = immich_user
        self.key = key_path
        self.dir = workdir
        self.mountpoint = os.path.join(SRV, name)
        self.unit = None
        self.hung = False

    def client(self, sshd, password=None):
        d = tempfile.mkdtemp(prefix="client-", dir=self.dir)
        if password is None:
            return Client(sshd, self.name, key=self.key, workdir=d)
        return Client(sshd, self.name, password=password, workdir=d)

    def kill(self):
        if self.unit:
            self.unit.kill()


class Accounts:
    """Makes accounts with immichfs-adduser for the Immich at `url` and mounts
    them with the unit's commands; close() stops and removes them all, then
    checks the logs. `watch`: a mountutil.Watchdog the mounts are registered
    with while they run (the tests'; the benchmark has none)."""

    def __init__(self, url, workdir, watch=None, binary=None):
        self.url = url
        self.dir = workdir
        self.watch = watch
        self.binary = binary or mountutil.BIN
        self.accounts = []
        self.made_group = subprocess.run(["getent", "group", GROUP],
                                         capture_output=True).returncode != 0
        self.made_dirs = [d for d in (SRV, ETC, CACHE) if not os.path.exists(d)]

    # Albums the tests seed through the fake's control API must show at once.
    def add(self, immich_user, tag="u", password_login=False, start=True, options="-o dir_cache_ttl=0"):
        name = new_user_name(tag)
        adir = os.path.join(self.dir, name)
        os.makedirs(adir)
        key = os.path.join(adir, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        api_key_file = os.path.join(adir, "api-key")
        with open(api_key_file, "w") as f:
            f.write(immich_user[2] + "\n")
        args = ["--key-file", api_key_file, "--ssh-key", key + ".pub", "--no-start"]
        if password_login:
            args.append("--password-login")
        if options:
            args += ["--options", options]
        a = Account(name, immich_user, key, adir)
        self.accounts.append(a)
        r = run_adduser(args + [name, self.url])
        assert r.returncode == 0, "immichfs-adduser failed (%d): %s%s" % (r.returncode, r.stdout, r.stderr)
        if start:
            self.mount(a)
        return a

    def mount(self, a):
        a.unit = UnitRunner(os.path.abspath(self.binary), a.name, os.path.join(a.dir, "immichfs.log"))
        if self.watch:
            self.watch.register(a)
        a.unit.start()
        assert mountutil.is_mounted(a.mountpoint), "not mounted:\n" + a.unit.log()

    def unmount(self, a, check=True):
        if self.watch:
            self.watch.unregister(a)
        if a.unit is None:
            return
        hung = a.hung
        if hung:
            a.unit.kill()
            subprocess.run(["fusermount3", "-u", "-z", a.mountpoint], capture_output=True)
        rc = a.unit.stop()
        log = a.unit.log()
        a.unit = None
        if check and not hung:
            bad = [s for s in mountutil.SUSPICIOUS if s in log]
            assert not bad, "immichfs printed %s:\n%s" % (bad, log)
            assert rc == 0, "immichfs exited with %s after ExecStop:\n%s" % (rc, log)

    def close(self):
        errors = []
        for a in reversed(self.accounts):
            try:
                self.unmount(a)
            except AssertionError as e:
                errors.append(str(e))
            if mountutil.is_mounted(a.mountpoint):
                subprocess.run(["umount", "-l", a.mountpoint], capture_output=True)
            gone = subprocess.run(["getent", "passwd", a.name], capture_output=True).returncode != 0 \
                and not os.path.exists(os.path.join(ETC, a.name + ".conf"))
            if gone:  # a test removed it already
                continue
            r = run_deluser(["--purge", "--force", a.name])
            if r.returncode != 0:
                errors.append("immichfs-deluser %s: %s" % (a.name, r.stderr))
        self.accounts = []
        for d in reversed(self.made_dirs):
            for sub in ("authorized_keys",):
                try:
                    os.rmdir(os.path.join(d, sub))
                except OSError:
                    pass
            try:
                os.rmdir(d)
            except OSError:
                pass
        if self.made_group:
            subprocess.run(["groupdel", GROUP], capture_output=True)
        if errors:
            raise AssertionError("\n\n".join(errors))


# ------------------------------------------------------------------ the unit

def render_unit(binary):
    """The unit as meson's configure_file writes it, with `binary` (the
    immichfs under test) where the installed one would be."""
    with open(UNIT_IN) as f:
        text = f.read()
    assert "@bindir@/immichfs " in text
    return text.replace("@bindir@/immichfs ", binary + " ")


def unit_directives(text, section="Service"):
    """-> list of (key, value) in one section, continuation lines joined."""
    out, cur = [], None
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        if s.startswith("["):
            cur = s[1:-1]
            continue
        if cur == section and "=" in s:
            k, v = s.split("=", 1)
            out.append((k.strip(), v.strip()))
    return out


def syscall_groups():
    """systemd-analyze syscall-filter -> {"@group": set of system call names},
    nested groups expanded."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                         check=True).stdout
    raw, cur = {}, None
    for line in out.splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        if not line[0].isspace():
            cur = raw.setdefault(line.strip(), set())
        elif cur is not None:
            cur.add(line.strip())

    def expand(name, seen=()):
        names = set()
        for m in raw.get(name, ()):
            names |= expand(m, seen + (name,)) if m.startswith("@") and m not in seen else {m}
        return names
    return {g: expand(g) for g in raw}


_STRACE_CALL = re.compile(r"^(?:<\.\.\. )?([a-z_][a-z0-9_]*)(?:\(| resumed>)")


def traced_calls(trace_dir):
    """strace -ff -o DIR/t output -> list of (file, line) of what ran under the
    unit's sandbox: in each process, the lines after its last successful
    execve (before it, the tracer and setpriv were setting things up, which
    systemd does itself before the exec)."""
    calls = []
    for name in sorted(os.listdir(trace_dir)):
        with open(os.path.join(trace_dir, name), errors="replace") as f:
            lines = f.read().splitlines()
        start = 0
        for i, ln in enumerate(lines):
            if ln.startswith("execve(") and ln.rstrip().endswith("= 0"):
                start = i + 1
        calls += [(name, ln) for ln in lines[start:] if _STRACE_CALL.match(ln)]
    return calls


def read_env_file(path):
    """systemd EnvironmentFile= syntax (the subset immichfs-adduser writes)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            k, v = line.split("=", 1)
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
                v = v[1:-1]
            env[k.strip()] = v
    return env


def expand_command(value, instance, env):
    """One Exec*= line as systemd runs it -> (argv, ignore_failure): the
    specifiers %i/%I/%%, "${VAR}" inside a word (one argument), "$VAR" as a
    word of its own (split at blanks, zero or more arguments), "$$" -> "$",
    and the "-" prefix."""
    ignore = False
    while value and value[0] in "-@+!:":
        ignore = ignore or value[0] == "-"
        value = value[1:]
    value = value.replace("%%", "\0").replace("%i", instance).replace("%I", instance).replace("\0", "%")
    argv = []
    for word in shlex.split(value):
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if m:
            argv += env.get(m.group(1), "").split()
            continue
        word = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda mm: env.get(mm.group(1), ""), word)
        argv.append(word.replace("$$", "$"))
    return argv, ignore


class UnitRunner:
    """Runs immichfs@<user>.service's commands like systemd would, without
    systemd (not PID 1 in a container or CI): EnvironmentFile, ExecStartPre,
    ExecStart (kept running), ExecStartPost, ExecStop; NoNewPrivileges and
    CapabilityBoundingSet applied with setpriv(1). What this cannot emulate
    (device cgroup, address-family and namespace filters) is checked by
    systemd-analyze verify only."""

    def __init__(self, binary, instance, log_path, prefix=()):
        self.prefix = list(prefix)  # e.g. strace: runs in front of every command
        self.text = render_unit(binary)
        self.instance = instance
        self.log_path = log_path
        self.d = unit_directives(self.text)
        self.env = {}
        for k, v in self.d:
            if k == "EnvironmentFile":
                path, _ = expand_command(v, instance, {})
                self.env.update(read_env_file(path[0]))
        self.proc = None

    def values(self, key):
        return [v for k, v in self.d if k == key]

    def _wrap(self, argv):
        pre = []
        if "yes" in self.values("NoNewPrivileges"):
            pre.append("--no-new-privs")
        caps = " ".join(self.values("CapabilityBoundingSet")).split()
        if caps:
            pre.append("--bounding-set=-all," + ",".join("+" + c.lower().replace("cap_", "") for c in caps))
        return self.prefix + ((["setpriv"] + pre + ["--"] + argv) if pre else argv)

    def run_step(self, key):
        for v in self.values(key):
            argv, ignore = expand_command(v, self.instance, self.env)
            r = subprocess.run(self._wrap(argv), capture_output=True, text=True, timeout=120)
            assert ignore or r.returncode == 0, "%s=%s failed (%d): %s%s" % (
                key, v, r.returncode, r.stdout, r.stderr)

    def start_argv(self):
        (v,) = self.values("ExecStart")
        argv, _ = expand_command(v, self.instance, self.env)
        return self._wrap(argv)

    def start(self):
        self.run_step("ExecStartPre")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.start_argv(), stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self.run_step("ExecStartPost")
        except AssertionError as e:
            raise AssertionError("%s\nimmichfs (%s):\n%s" % (e, self.proc.poll(), self.log())) from None
        return self

    def stop(self):
        """ExecStop, then the main process must exit by itself; -> its exit status."""
        if self.proc is None:
            return None
        self.run_step("ExecStop")
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            rc = self.proc.wait(30)
        self.proc = None
        self._log.close()
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self):
        return read_text(self.log_path)
