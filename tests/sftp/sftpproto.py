"""A minimal SFTP version 3 client (draft-ietf-secsh-filexfer-02) over
`ssh -s sftp`, so tests can send exactly the request sequences GUI clients
send (WinSCP's .filepart + RENAME + SETSTAT, FileZilla's SETSTAT by path
after CLOSE, appends for resumed uploads), which the OpenSSH sftp command
line cannot express. Standard library only.

    with SftpClient(ssh_argv) as c:
        h = c.open("/Album/x.jpg", FXF_WRITE | FXF_CREAT | FXF_TRUNC)
        c.write(h, 0, b"...")
        c.close(h)
        c.setstat("/Album/x.jpg", mtime=1700000000)

A request the server refuses raises SftpError with the status code.
"""

import struct
import subprocess

# Packet types.
INIT, VERSION, OPEN, CLOSE, READ, WRITE, LSTAT, FSTAT, SETSTAT, FSETSTAT = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
OPENDIR, READDIR, REMOVE, MKDIR, RMDIR, REALPATH, STAT, RENAME, READLINK, SYMLINK = range(11, 21)
STATUS, HANDLE, DATA, NAME, ATTRS = 101, 102, 103, 104, 105
EXTENDED, EXTENDED_REPLY = 200, 201

FXF_READ, FXF_WRITE, FXF_APPEND, FXF_CREAT, FXF_TRUNC, FXF_EXCL = 1, 2, 4, 8, 0x10, 0x20
ATTR_SIZE, ATTR_UIDGID, ATTR_PERMISSIONS, ATTR_ACMODTIME = 1, 2, 4, 8

FX_OK, FX_EOF, FX_NO_SUCH_FILE, FX_PERMISSION_DENIED, FX_FAILURE = 0, 1, 2, 3, 4
FX_BAD_MESSAGE, FX_NO_CONNECTION, FX_CONNECTION_LOST, FX_OP_UNSUPPORTED = 5, 6, 7, 8


class SftpError(Exception):
    def __init__(self, op, code, msg):
        super().__init__("%s: status %d (%s)" % (op, code, msg))
        self.op = op
        self.code = code
        self.msg = msg


class Attrs:
    def __init__(self, size=None, uid=None, gid=None, perm=None, atime=None, mtime=None):
        self.size, self.uid, self.gid, self.perm, self.atime, self.mtime = size, uid, gid, perm, atime, mtime

    def pack(self):
        flags, body = 0, b""
        if self.size is not None:
            flags |= ATTR_SIZE
            body += struct.pack(">Q", self.size)
        if self.uid is not None:
            flags |= ATTR_UIDGID
            body += struct.pack(">II", self.uid, self.gid)
        if self.perm is not None:
            flags |= ATTR_PERMISSIONS
            body += struct.pack(">I", self.perm)
        if self.mtime is not None:
            flags |= ATTR_ACMODTIME
            body += struct.pack(">II", self.atime if self.atime is not None else self.mtime, self.mtime)
        return struct.pack(">I", flags) + body

    def __repr__(self):
        return "Attrs(size=%r, perm=%r, mtime=%r)" % (self.size, self.perm, self.mtime)


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def u8(self):
        v = self.data[self.pos]
        self.pos += 1
        return v

    def u32(self):
        v = struct.unpack_from(">I", self.data, self.pos)[0]
        self.pos += 4
        return v

    def u64(self):
        v = struct.unpack_from(">Q", self.data, self.pos)[0]
        self.pos += 8
        return v

    def string(self):
        n = self.u32()
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def attrs(self):
        flags = self.u32()
        a = Attrs()
        if flags & ATTR_SIZE:
            a.size = self.u64()
        if flags & ATTR_UIDGID:
            a.uid, a.gid = self.u32(), self.u32()
        if flags & ATTR_PERMISSIONS:
            a.perm = self.u32()
        if flags & ATTR_ACMODTIME:
            a.atime, a.mtime = self.u32(), self.u32()
        if flags & 0x80000000:
            for _ in range(self.u32()):
                self.string()
                self.string()
        return a


def _s(v):
    if isinstance(v, str):
        v = v.encode()
    return struct.pack(">I", len(v)) + v


class SftpClient:
    def __init__(self, ssh_argv):
        """ssh_argv: the ssh command line up to and including user@host;
        "-s sftp" is appended."""
        self.proc = subprocess.Popen(list(ssh_argv) + ["-s", "sftp"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.next_id = 1
        self._send(INIT, struct.pack(">I", 3), with_id=False)
        t, r = self._recv()
        if t != VERSION:
            raise SftpError("init", -1, "unexpected packet %d" % t)
        self.version = r.u32()
        self.extensions = {}
        while r.pos < len(r.data):
            name = r.string().decode()
            self.extensions[name] = r.string().decode()

    # ------------------------------------------------------------- transport
    def _send(self, ptype, payload, with_id=True):
        rid = None
        if with_id:
            rid = self.next_id
            self.next_id += 1
            payload = struct.pack(">I", rid) + payload
        pkt = struct.pack(">IB", len(payload) + 1, ptype) + payload
        self.proc.stdin.write(pkt)
        self.proc.stdin.flush()
        return rid

    def _read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.proc.stdout.read(n - len(buf))
            if not chunk:
                err = self.proc.stderr.read().decode("utf-8", "replace") if self.proc.poll() is not None else ""
                raise SftpError("recv", FX_CONNECTION_LOST, "connection closed " + err)
            buf += chunk
        return buf

    def _recv(self):
        n = struct.unpack(">I", self._read_exact(4))[0]
        data = self._read_exact(n)
        return data[0], _Reader(data[1:])

    def _call(self, op, ptype, payload):
        rid = self._send(ptype, payload)
        t, r = self._recv()
        got = r.u32()
        if got != rid:
            raise SftpError(op, -1, "reply id %d for request %d" % (got, rid))
        return t, r

    def _status_or(self, op, t, r, want):
        if t == STATUS:
            code = r.u32()
            msg = r.string().decode("utf-8", "replace")
            if want is None and code == FX_OK:
                return None
            raise SftpError(op, code, msg)
        if want is not None and t == want:
            return r
        raise SftpError(op, -1, "unexpected packet %d" % t)

    def _simple(self, op, ptype, payload):
        t, r = self._call(op, ptype, payload)
        self._status_or(op, t, r, None)

    # ------------------------------------------------------------- requests
    def open(self, path, pflags, attrs=None):
        t, r = self._call("open " + path, OPEN, _s(path) + struct.pack(">I", pflags) + (attrs or Attrs()).pack())
        return self._status_or("open " + path, t, r, HANDLE).string()

    def close(self, handle):
        self._simple("close", CLOSE, _s(handle))

    def write(self, handle, offset, data):
        self._simple("write", WRITE, _s(handle) + struct.pack(">Q", offset) + _s(data))

    def read(self, handle, offset, length):
        """-> bytes, b"" at EOF."""
        t, r = self._call("read", READ, _s(handle) + struct.pack(">QI", offset, length))
        if t == STATUS:
            code = r.u32()
            if code == FX_EOF:
                return b""
            raise SftpError("read", code, r.string().decode("utf-8", "replace"))
        return self._status_or("read", t, r, DATA).string()

    def write_all(self, handle, data, offset=0, chunk=32768):
        for i in range(0, len(data), chunk):
            self.write(handle, offset + i, data[i:i + chunk])

    def stat(self, path):
        t, r = self._call("stat " + path, STAT, _s(path))
        return self._status_or("stat " + path, t, r, ATTRS).attrs()

    def lstat(self, path):
        t, r = self._call("lstat " + path, LSTAT, _s(path))
        return self._status_or("lstat " + path, t, r, ATTRS).attrs()

    def fstat(self, handle):
        t, r = self._call("fstat", FSTAT, _s(handle))
        return self._status_or("fstat", t, r, ATTRS).attrs()

    def setstat(self, path, **kw):
        self._simple("setstat " + path, SETSTAT, _s(path) + Attrs(**kw).pack())

    def fsetstat(self, handle, **kw):
        self._simple("fsetstat", FSETSTAT, _s(handle) + Attrs(**kw).pack())

    def rename(self, old, new):
        """SSH_FXP_RENAME, as WinSCP and FileZilla send it (OpenSSH's server
        does link(2) + unlink(2) for a regular file, rename(2) if link fails
        with EPERM, EXDEV, EOPNOTSUPP or ENOSYS)."""
        self._simple("rename %s %s" % (old, new), RENAME, _s(old) + _s(new))

    def posix_rename(self, old, new):
        self._simple("posix-rename %s %s" % (old, new), EXTENDED,
                     _s("posix-rename@openssh.com") + _s(old) + _s(new))

    def remove(self, path):
        self._simple("remove " + path, REMOVE, _s(path))

    def mkdir(self, path):
        self._simple("mkdir " + path, MKDIR, _s(path) + Attrs().pack())

    def rmdir(self, path):
        self._simple("rmdir " + path, RMDIR, _s(path))

    def symlink(self, target, link):
        # OpenSSH's server takes the arguments in the reverse order of the
        # draft (linkpath second): send (target, link) as it expects.
        self._simple("symlink", SYMLINK, _s(target) + _s(link))

    def realpath(self, path):
        t, r = self._call("realpath " + path, REALPATH, _s(path))
        r = self._status_or("realpath " + path, t, r, NAME)
        r.u32()
        return r.string().decode("utf-8", "replace")

    def listdir(self, path):
        t, r = self._call("opendir " + path, OPENDIR, _s(path))
        h = self._status_or("opendir " + path, t, r, HANDLE).string()
        names = []
        try:
            while True:
                t, r = self._call("readdir " + path, READDIR, _s(h))
                if t == STATUS:
                    code = r.u32()
                    if code == FX_EOF:
                        break
                    raise SftpError("readdir " + path, code, r.string().decode("utf-8", "replace"))
                r = self._status_or("readdir", t, r, NAME)
                for _ in range(r.u32()):
                    name = r.string().decode("utf-8", "replace")
                    r.string()
                    names.append((name, r.attrs()))
        finally:
            self.close(h)
        return [(n, a) for n, a in names if n not in (".", "..")]

    # ------------------------------------------------------------- lifecycle
    def shutdown(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
