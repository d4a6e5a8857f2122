"""Media helpers for the fake Immich: accepted types, MIME lookup, and tiny
but valid PNG / JPEG / MP4 generators (standard library only).

The generators exist so that `--demo` libraries open in a real viewer; the
bulk test content (`/_fake/assets`) is plain deterministic bytes instead,
because the mount tests only compare bytes and checksums.
"""

import hashlib
import os
import random
import struct
import zlib

# Exactly what the real 3.1 server answers on GET /api/server/media-types
# (recorded in server_media-types.json).
MEDIA_TYPES = {
    "video": [".3gp", ".3gpp", ".avi", ".flv", ".insv", ".m2t", ".m2ts", ".m4v", ".mkv", ".mov", ".mp4",
              ".mpe", ".mpeg", ".mpg", ".mts", ".mxf", ".ts", ".vob", ".webm", ".wmv"],
    "image": [".avif", ".bmp", ".gif", ".jpeg", ".jpg", ".png", ".webp", ".3fr", ".ari", ".arw", ".cap",
              ".cin", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff", ".iiq", ".k25", ".kdc",
              ".mrw", ".nef", ".nrw", ".orf", ".ori", ".pef", ".psd", ".raf", ".raw", ".rw2", ".rwl",
              ".sr2", ".srf", ".srw", ".x3f", ".heic", ".heif", ".hif", ".insp", ".jp2", ".jpe", ".jxl",
              ".mpo", ".svg", ".tif", ".tiff"],
    "sidecar": [".xmp"],
}
_IMAGE = set(MEDIA_TYPES["image"])
_VIDEO = set(MEDIA_TYPES["video"])

# A subset of the server's mime table; anything missing falls back to
# application/octet-stream, which the real server also does for odd types.
_MIME = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".png": "image/png",
    ".gif": "image/gif", ".webp": "image/webp", ".avif": "image/avif", ".bmp": "image/bmp",
    ".heic": "image/heic", ".heif": "image/heif", ".hif": "image/hif", ".tif": "image/tiff",
    ".tiff": "image/tiff", ".dng": "image/dng", ".jxl": "image/jxl", ".svg": "image/svg+xml",
    ".psd": "image/vnd.adobe.photoshop", ".jp2": "image/jp2", ".mpo": "image/mpo",
    ".nef": "image/nef", ".cr2": "image/cr2", ".cr3": "image/cr3", ".arw": "image/arw",
    ".orf": "image/orf", ".raf": "image/raf", ".rw2": "image/rw2", ".raw": "image/raw",
    ".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime", ".mkv": "video/x-matroska",
    ".webm": "video/webm", ".avi": "video/avi", ".3gp": "video/3gpp", ".3gpp": "video/3gpp",
    ".mts": "video/mp2t", ".m2ts": "video/mp2t", ".m2t": "video/mp2t", ".ts": "video/mp2t",
    ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".mpe": "video/mpeg", ".wmv": "video/x-ms-wmv",
    ".flv": "video/x-flv", ".vob": "video/mpeg", ".mxf": "application/mxf", ".insv": "video/mp4",
    ".xmp": "application/xml",
}


def extension(filename):
    return os.path.splitext(filename)[1].lower()


def asset_type(filename):
    """'IMAGE', 'VIDEO' or None when the server would refuse the upload."""
    ext = extension(filename)
    if ext in _IMAGE:
        return "IMAGE"
    if ext in _VIDEO:
        return "VIDEO"
    return None


def mime_type(filename):
    return _MIME.get(extension(filename), "application/octet-stream")


# --------------------------------------------------------------------------
# Deterministic content for test assets.

CHUNK = 1 << 20


def content_chunks(seed, size):
    """Yield `size` bytes that depend only on (seed, size).

    Small files are fully random.  Big ones repeat a 1 MiB random block with
    the block number stamped in front, so that generating a GiB costs memcpy
    time, not RNG time, while every block still differs from its neighbours.
    """
    if size <= CHUNK:
        yield random.Random(seed).randbytes(size)
        return
    base = random.Random(seed).randbytes(CHUNK)
    tail = base[16:]
    done = 0
    block = 0
    while done < size:
        chunk = struct.pack("<QQ", seed & 0xFFFFFFFFFFFFFFFF, block) + tail
        if size - done < len(chunk):
            chunk = chunk[: size - done]
        yield chunk
        done += len(chunk)
        block += 1


def write_content(path, chunks):
    """Write chunks to path; return (size, sha1 hex)."""
    h = hashlib.sha1()
    n = 0
    with open(path, "wb", buffering=0) as f:
        for c in chunks:
            f.write(c)
            h.update(c)
            n += len(c)
    return n, h.hexdigest()


# --------------------------------------------------------------------------
# Images.  Both encoders take a colour function f(x, y) -> (r, g, b) in
# 0..255 so the demo can draw gradients.

def make_png(width, height, color):
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter type "None" for every row
        for x in range(width):
            raw.extend(color(x, y))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + chunk(b"IEND", b""))


# Standard luminance DC Huffman table (JPEG Annex K.3): counts per code length
# 1..16, then the categories in code order.
_DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
_DC_VALS = list(range(12))


def _canonical_codes(bits, vals):
    codes = {}
    code = 0
    k = 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


_DC_CODES = _canonical_codes(_DC_BITS, _DC_VALS)


class _BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value, length):
        self.acc = (self.acc << length) | (value & ((1 << length) - 1))
        self.n += length
        while self.n >= 8:
            self.n -= 8
            byte = (self.acc >> self.n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0)  # byte stuffing
        self.acc &= (1 << self.n) - 1

    def flush(self):
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with 1-bits


def make_jpeg(width, height, color):
    """A baseline JPEG that carries only the DC term of each 8x8 block.

    With all AC coefficients zero the DCT reduces to the block mean, so no
    transform code is needed; the picture is an 8-pixel mosaic of `color`
    sampled at block centres, which for smooth gradients looks fine and is
    decoded by every JPEG reader.
    """
    bw = (width + 7) // 8
    bh = (height + 7) // 8
    bits = _BitWriter()
    prev = [0, 0, 0]
    for by in range(bh):
        for bx in range(bw):
            r, g, b = color(min(bx * 8 + 4, width - 1), min(by * 8 + 4, height - 1))
            ycc = (0.299 * r + 0.587 * g + 0.114 * b,
                   -0.168736 * r - 0.331264 * g + 0.5 * b + 128,
                   0.5 * r - 0.418688 * g - 0.081312 * b + 128)
            for c in range(3):
                dc = int(round(8 * (ycc[c] - 128)))  # quantiser 1 keeps it exact
                diff = dc - prev[c]
                prev[c] = dc
                cat = abs(diff).bit_length()
                code, length = _DC_CODES[cat]
                bits.put(code, length)
                if cat:
                    bits.put(diff if diff > 0 else diff + (1 << cat) - 1, cat)
                bits.put(0, 1)  # AC table has a single 1-bit code: end of block
    bits.flush()

    def seg(marker, payload):
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\x00" + b"\x01" * 64
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    dht = (b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALS)
           + b"\x10" + bytes([1] + [0] * 15) + b"\x00")
    sos = b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00"
    return (b"\xff\xd8" + seg(0xE0, app0) + seg(0xDB, dqt) + seg(0xC0, sof) + seg(0xC4, dht)
            + seg(0xDA, sos) + bytes(bits.out) + b"\xff\xd9")


def gradient(c1, c2, diagonal=True):
    """gradient(c1, c2)(w, h) -> colour function blending c1 (top-left) into
    c2 (bottom-right) over a w x h picture."""
    def make(width, height):
        def f(x, y):
            t = (x / max(width - 1, 1) + y / max(height - 1, 1)) / 2 if diagonal else y / max(height - 1, 1)
            return tuple(int(a + (b - a) * t) for a, b in zip(c1, c2))
        return f
    return make


def thumbnail_jpeg(key):
    """A small per-asset JPEG (colours derived from `key`) for /thumbnail."""
    d = hashlib.sha1(key.encode()).digest()
    return make_jpeg(64, 48, gradient(tuple(d[0:3]), tuple(d[3:6]))(64, 48))


# --------------------------------------------------------------------------
# Video: ftyp + moov(mvhd) + mdat.  Players will not show a picture, but
# ffprobe and file(1) accept it as an MP4 with the given duration.

def make_mp4(duration_ms, payload_size=4096, seed=0):
    def box(kind, data):
        return struct.pack(">I", 8 + len(data)) + kind + data

    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2mp41")
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd = box(b"mvhd", struct.pack(">IIIII", 0, 0, 0, 1000, duration_ms)
               + struct.pack(">IH", 0x10000, 0x100) + b"\x00" * 10 + matrix + b"\x00" * 24
               + struct.pack(">I", 2))
    moov = box(b"moov", mvhd)
    mdat = box(b"mdat", random.Random(seed).randbytes(payload_size))
    return ftyp + moov + mdat
