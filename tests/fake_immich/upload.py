"""Request bodies and a streaming multipart/form-data parser.

Uploads can be many GiB, so nothing here holds a whole body in memory: the
body is read in 1 MiB pieces, the boundary is searched with bytes.find over
each piece (plus a tail of boundary-length bytes carried over, so a boundary
split across two reads is still found), and file parts go straight to a
sink that hashes and writes them.
"""

import ctypes
import hashlib
import os
import re
import struct

CHUNK = 1 << 20
FIELD_LIMIT = 1 << 20      # plain form fields larger than this are refused
HEADER_LIMIT = 16 << 10


_SFR_WRITE = 2                 # SYNC_FILE_RANGE_WRITE
_SFR_WAIT_ALL = 1 | 2 | 4      # WAIT_BEFORE | WRITE | WAIT_AFTER
try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
except (OSError, AttributeError):
    _libc = None


def _sync_file_range(fd, offset, length, flags):
    """Linux sync_file_range(2); False where it is not available."""
    if _libc is None or length <= 0:
        return length <= 0
    return _libc.sync_file_range(fd, offset, length, flags) == 0


class BodyError(Exception):
    """The client sent a malformed or truncated body."""


class Body:
    """Reads a request body framed by Content-Length or chunked encoding."""

    def __init__(self, rfile, length=None, chunked=False, counter=None):
        self.rfile = rfile
        self.remaining = length or 0
        self.chunked = chunked
        self.chunk_left = 0
        self.done = not chunked and not length
        self.counter = counter  # callable(nbytes) for the stats
        self.meter = None       # callable(nbytes) for the cost model (cost.py)

    def read(self, n=CHUNK):
        if self.done:
            return b""
        if self.chunked:
            data = self._read_chunked(n)
        else:
            data = self.rfile.read(min(n, self.remaining))
            if not data:
                raise BodyError("connection closed inside the body")
            self.remaining -= len(data)
            if self.remaining == 0:
                self.done = True
        if self.counter and data:
            self.counter(len(data))
        if self.meter and data:
            self.meter(len(data))
        return data

    def _read_chunked(self, n):
        if self.chunk_left == 0:
            line = self.rfile.readline(1024)
            if not line:
                raise BodyError("connection closed inside the body")
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BodyError("bad chunk size line")
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self.done = True
                return b""
            self.chunk_left = size
        data = self.rfile.read(min(n, self.chunk_left))
        if not data:
            raise BodyError("connection closed inside a chunk")
        self.chunk_left -= len(data)
        if self.chunk_left == 0:
            self.rfile.read(2)  # CRLF after the chunk data
        return data

    def read_all(self, limit=64 << 20):
        parts = []
        total = 0
        while True:
            d = self.read()
            if not d:
                return b"".join(parts)
            total += len(d)
            if total > limit:
                raise BodyError("body too large")
            parts.append(d)

    def drain(self):
        while self.read():
            pass


class FileSink:
    """Streams one file part to `path`, hashing as it goes; keeps the first
    64 KiB so image dimensions can be read afterwards."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "wb", buffering=0)
        self.sha1 = hashlib.sha1()
        self.size = 0
        self.head = bytearray()
        self.dropped = 0   # dropped from the page cache up to here
        self.pending = 0   # writeback started up to here, not yet dropped
        self.started = 0   # writeback started up to here

    # Every this many bytes the part written so far is flushed and dropped
    # from the page cache. Without it, a multi-GiB upload fills the page cache
    # with pages written once, and on the benchmark VM the fake's ingest got
    # 3x slower for every upload after the first GiB or two (perf: its writes
    # into fresh page-cache pages); with it the next chunk reuses the pages
    # just freed, and every client's upload costs the fake the same.
    DROP_EVERY = 32 << 20

    def write(self, mv):
        self.f.write(mv)
        self.sha1.update(mv)
        if len(self.head) < 65536:
            self.head += mv[: 65536 - len(self.head)]
        self.size += len(mv)
        if self.size - self.started >= self.DROP_EVERY:
            self._drop()

    def _drop(self):
        # Writeback of this piece starts now; the previous piece, whose
        # writeback started one piece ago, is waited for and dropped.
        fd = self.f.fileno()
        if not _sync_file_range(fd, self.started, self.size - self.started, _SFR_WRITE):
            os.fdatasync(fd)
        self.started = self.size
        if self.dropped < self.pending:
            _sync_file_range(fd, self.dropped, self.pending - self.dropped, _SFR_WAIT_ALL)
            os.posix_fadvise(fd, self.dropped, self.pending - self.dropped, os.POSIX_FADV_DONTNEED)
            self.dropped = self.pending
        self.pending = self.size

    def close(self):
        self.f.close()


class _Stream:
    def __init__(self, body):
        self.body = body
        # A virtual CRLF in front makes the first boundary look like all the
        # others ("\r\n--boundary"), so one search string does for all.
        self.buf = bytearray(b"\r\n")

    def _fill(self):
        chunk = self.body.read(CHUNK)
        if not chunk:
            raise BodyError("multipart body ended early")
        self.buf += chunk

    def read_until(self, delim, sink):
        """Pass everything before `delim` to sink(memoryview); consume delim."""
        dl = len(delim)
        while True:
            idx = self.buf.find(delim)
            if idx >= 0:
                if idx:
                    with memoryview(self.buf) as mv:
                        sink(mv[:idx])
                del self.buf[: idx + dl]
                return
            cut = len(self.buf) - (dl - 1)
            if cut > 0:
                with memoryview(self.buf) as mv:
                    sink(mv[:cut])
                del self.buf[:cut]
            self._fill()

    def take(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _disposition(value):
    params = {}
    for k, v in _PARAM.findall(value):
        v = v.strip()
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        params[k.lower()] = v
    return params


def _limited(acc, limit, what):
    def sink(mv):
        if len(acc) + len(mv) > limit:
            raise BodyError(what + " too large")
        acc.extend(mv)
    return sink


def parse_multipart(body, boundary, open_file):
    """Parse a multipart/form-data body.

    open_file(field_name, filename) -> sink with write(memoryview) and
    close(), or None to keep that part as a text field.  Returns
    (fields: {name: str}, files: {name: (filename, sink)}).
    """
    s = _Stream(body)
    delim = b"\r\n--" + boundary
    s.read_until(delim, lambda mv: None)  # preamble
    fields, files = {}, {}
    while True:
        tail = s.take(2)
        if tail == b"--":
            break
        if tail != b"\r\n":
            raise BodyError("garbage after boundary")
        raw = bytearray()
        s.read_until(b"\r\n\r\n", _limited(raw, HEADER_LIMIT, "part header"))
        headers = {}
        for line in bytes(raw).decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        disp = _disposition(headers.get("content-disposition", ""))
        name = disp.get("name", "")
        filename = disp.get("filename")
        sink = open_file(name, filename) if filename is not None else None
        if sink is not None:
            try:
                s.read_until(delim, sink.write)
            finally:
                sink.close()
            files[name] = (filename, sink)
        else:
            val = bytearray()
            s.read_until(delim, _limited(val, FIELD_LIMIT, "form field"))
            fields[name] = val.decode("utf-8", "replace")
    body.drain()  # epilogue, if any
    return fields, files


def boundary_of(content_type):
    m = re.search(r'boundary=("?)([^";]+)\1', content_type or "")
    return m.group(2).encode("latin-1") if m else None


def image_size(head):
    """(width, height) from the first bytes of a PNG, GIF or JPEG, else
    (None, None); the real server reads these from the file too."""
    b = bytes(head)
    if b.startswith(b"\x89PNG\r\n\x1a\n") and len(b) >= 24:
        return struct.unpack(">II", b[16:24])
    if b[:6] in (b"GIF87a", b"GIF89a") and len(b) >= 10:
        return struct.unpack("<HH", b[6:10])
    if b.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(b):
            if b[i] != 0xFF:
                i += 1
                continue
            marker = b[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            seg_len = struct.unpack(">H", b[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", b[i + 5:i + 9])
                return w, h
            i += 2 + seg_len
    return None, None


def remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass
