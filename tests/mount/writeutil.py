"""Helpers for the write tests: files with known content, waiting for commits
(polling the fake's state or /.immich/status, never sleeping a fixed time
and asserting), and reading the mount's status file."""

import datetime
import errno
import hashlib
import json
import os
import random
import time

MiB = 1 << 20
SETTLE = "settle=0.2"      # the default write-test mount option


def sha1_hex(data):
    return hashlib.sha1(data).hexdigest()


def unique_bytes(size, tag=""):
    """Content no other test has (Immich dedupes by checksum per user)."""
    head = ("%s|%f|" % (tag, time.time())).encode()
    return (head + os.urandom(max(0, size - len(head))))[:size] if size else b""


def write_file(path, data, mtime=None, fsync=False, mode="wb"):
    with open(path, mode) as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def fsync_path(path, flags=os.O_RDONLY):
    """open + fsync + close: commits a pending file now (DESIGN.md: fsync
    returns once the asset is in Immich and in the album)."""
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def poll(cond, what, timeout=60, interval=0.1):
    """Waits for cond() to return something true, and returns it. A generous
    deadline, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("not true after %ds: %s" % (timeout, what))
        time.sleep(interval)


def iso_to_epoch(iso):
    d = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return d.timestamp()


def epoch_to_iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


# ------------------------------------------------------------------ fake state

def assets_by_id(state):
    return {a["id"]: a for a in state["assets"]}


def album_of(state, name):
    for al in state["albums"]:
        if al["name"] == name:
            return al
    return None


def album_assets(fake, album, state=None, trashed=False, strict=True):
    """{originalFileName: asset} of the album's assets (not trashed ones unless
    trashed=True). Asserts that names are unique in the album, unless not
    strict: while a commit is in progress an overwrite's new asset is in the
    album before the old one goes to the trash (upload, copy, trash), and a
    poll may see both; the newest then wins."""
    st = state or fake.state()
    al = album_of(st, album)
    if al is None:
        return {}
    by_id = assets_by_id(st)
    out = {}
    for aid in al["assets"]:
        a = by_id[aid]
        if a["trashed"] and not trashed:
            continue
        if a["name"] in out:
            assert not strict, "album %r holds two assets named %r: %s, %s" % (
                album, a["name"], out[a["name"]]["id"], aid)
            if out[a["name"]]["createdAt"] > a["createdAt"]:
                continue
        out[a["name"]] = a
    return out


def assets_with_checksum(state, hexsum):
    return [a for a in state["assets"] if a["checksum_hex"] == hexsum]


def wait_in_album(fake, album, name, data=None, timeout=60, hexsum=None):
    """Waits until `name` is in `album` (not trashed) with the content's
    checksum; returns the asset summary."""
    want = hexsum or (sha1_hex(data) if data is not None else None)

    def ok():
        a = album_assets(fake, album, strict=False).get(name)
        if a is None or (want is not None and a["checksum_hex"] != want):
            return None
        return a
    return poll(ok, "%s/%s committed to Immich (checksum %s)" % (album, name, want), timeout)


def wait_album_names(fake, album, names, timeout=120):
    names = set(names)
    return poll(lambda: (lambda got: got if names <= set(got) else None)(
        album_assets(fake, album, strict=False)),
                "%d files in album %s" % (len(names), album), timeout, interval=0.25)


# ------------------------------------------------------------------ /.immich

def status_path(mnt):
    return os.path.join(mnt, ".immich", "status")


def read_status(mnt):
    with open(status_path(mnt), "rb") as f:
        return json.loads(f.read().decode())


def _find(obj, *keys):
    """The first of several plausible spellings of a status field."""
    for k in keys:
        cur = obj
        ok = True
        for part in k.split("."):
            if isinstance(cur, dict) and part in cur:
                cur = cur[part]
            else:
                ok = False
                break
        if ok:
            return cur
    raise KeyError("none of %s in status %s" % (keys, json.dumps(obj)[:1000]))


def pending_files(st):
    v = _find(st, "pending_files", "pending.files", "pending.count", "pending")
    return len(v) if isinstance(v, list) else int(v)


def pending_bytes(st):
    return int(_find(st, "pending_bytes", "pending.bytes"))


def commits_in_flight(st):
    return int(_find(st, "commits_in_flight", "in_flight", "commits.in_flight", "uploads_in_flight"))


def status_errors(st):
    """Everything under status keys that name errors (last errors), flattened."""
    out = []
    def walk(o, under):
        if isinstance(o, dict):
            for k, v in o.items():
                walk(v, under or "error" in k.lower())
        elif isinstance(o, list):
            for v in o:
                walk(v, under)
        elif under and o not in (None, "", 0, False):
            out.append(o)
    walk(st, False)
    return out


def wait_idle(mnt, timeout=120):
    """Waits until the mount has nothing pending and nothing in flight."""
    def idle():
        st = read_status(mnt)
        return st if pending_files(st) == 0 and commits_in_flight(st) == 0 else None
    return poll(idle, "%s: nothing pending (/.immich/status)" % mnt, timeout, interval=0.2)


def failed_names(mnt):
    try:
        return os.listdir(os.path.join(mnt, ".immich", "failed"))
    except FileNotFoundError:
        return []


# ------------------------------------------------------------------ big files

def stream_chunks(size, seed, chunk=4 * MiB):
    """Deterministic pseudo-random bytes: the same (size, seed) gives the same
    stream, without holding it in memory."""
    rnd = random.Random(seed)
    left = size
    while left > 0:
        n = min(chunk, left)
        yield rnd.randbytes(n)
        left -= n


def write_stream(path, size, seed, fsync=True):
    """Writes stream_chunks(size, seed) to path; -> sha1 hex."""
    h = hashlib.sha1()
    with open(path, "wb") as f:
        for b in stream_chunks(size, seed):
            f.write(b)
            h.update(b)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    return h.hexdigest()


def file_sha1(path, chunk=4 * MiB):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


def expect_errno(want, fn, *args, **kw):
    """Calls fn, which must fail with one of the errnos in `want`."""
    want = (want,) if isinstance(want, int) else tuple(want)
    try:
        fn(*args, **kw)
    except OSError as e:
        assert e.errno in want, "%s%r failed with %s, want %s" % (
            getattr(fn, "__name__", fn), args, e, " or ".join(errno.errorcode[w] for w in want))
        return e.errno
    raise AssertionError("%s%r succeeded, want %s" % (
        getattr(fn, "__name__", fn), args, " or ".join(errno.errorcode[w] for w in want)))
