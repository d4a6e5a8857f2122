"""Test media for tests/real/run, each file with its own bytes and SHA-1.

Photos are valid JPEGs: one small picture drawn by ffmpeg, with random bytes
in COM (comment) segments after the start marker to give every file its own
content and the wanted size. Decoders and exiftool skip comment segments, so
Immich reads them as the same valid picture and its thumbnail jobs succeed.
Without ffmpeg a run fails: it says so rather than upload something else.
The big file is random bytes named .mp4 (Immich accepts it; only its
thumbnail and metadata jobs fail, which is harmless).
"""

import hashlib
import os
import shutil
import subprocess

SEGMENT = 65533 - 2     # payload of one COM segment (its length field counts itself)


def base_jpeg(work):
    """A small valid JPEG drawn by ffmpeg, in `work`; -> its bytes."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is not installed (apt-get install ffmpeg): it draws the "
                           "test JPEGs")
    path = os.path.join(work, "base.jpg")
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=1", "-frames:v", "1", path], check=True,
                   timeout=60)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] != b"\xff\xd8":
        raise RuntimeError("ffmpeg wrote %s without a JPEG start marker" % path)
    return data


def jpeg_with_padding(base, size):
    """`base` with random COM segments after its start marker, about `size` bytes."""
    parts = [base[:2]]
    left = max(0, size - len(base))
    while left > 0:
        n = min(SEGMENT, left)
        parts.append(b"\xff\xfe" + (n + 2).to_bytes(2, "big") + os.urandom(n))
        left -= n + 4
    parts.append(base[2:])
    return b"".join(parts)


def make_photos(work, directory, prefix, count, size):
    """`count` unique JPEGs of about `size` bytes in `directory`;
    -> {name: (sha1_hex, size)}."""
    os.makedirs(directory, exist_ok=True)
    base = base_jpeg(work)
    out = {}
    for i in range(count):
        name = "%s-%03d.jpg" % (prefix, i)
        data = jpeg_with_padding(base, size)
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
        out[name] = (hashlib.sha1(data).hexdigest(), len(data))
    return out


def make_random(directory, name, size):
    """One file of `size` random bytes; -> {name: (sha1_hex, size)}."""
    os.makedirs(directory, exist_ok=True)
    sha = hashlib.sha1()
    with open(os.path.join(directory, name), "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 << 20))
            sha.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return {name: (sha.hexdigest(), size)}


def sha1_of(path):
    sha = hashlib.sha1()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(4 << 20)
            if not chunk:
                return sha.hexdigest()
            sha.update(chunk)
