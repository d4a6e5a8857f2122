"""Hostile-server fault kinds: answers a broken or malicious Immich could send.

Used by server.py's fault switches (README.md, "Hostile answers"):

- deep:         a body of `depth` nested arrays ("[[[[...]]]]", default 1 000 000), gzip-compressed
                when the client accepts gzip (a few KB on the wire), with `status` (default 200).
- bomb:         a gzip body that inflates to `size_mb` MiB (default 100) of "[" (~100 KB on the wire).
- patch:        the route's real answer, with fields replaced in every object that has them:
                `set` {"key" | "parent.key": value} (any JSON value), `raw` {"key": "1e400"} (JSON
                text inserted as is, for numbers Python cannot print: 1e400, 18446744073709551616),
                and optionally `where` {"key": value} to patch only objects that match.
- endless_next: POST /api/search/metadata answers always carry a nextPage (page + 1), with empty
                items past the album's end.
- drip:         the route's real answer, one byte every `interval_ms` (default 1000).
"""

import gzip
import io
import json
import time
import zlib

KINDS = ("deep", "bomb", "patch", "endless_next", "drip")

_cache = {}


def _gzip_repeated(chunk, total):
    """gzip of `chunk` repeated up to `total` bytes, built in pieces (no huge buffer)."""
    key = (chunk[:16], len(chunk), total)
    if key in _cache:
        return _cache[key]
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as z:
        left = total
        while left > 0:
            piece = chunk if left >= len(chunk) else chunk[:left]
            z.write(piece)
            left -= len(piece)
    _cache[key] = out.getvalue()
    return _cache[key]


def _deep_body(depth, gz):
    if not gz:
        return b"[" * depth + b"]" * depth
    key = ("deep", depth)
    if key not in _cache:
        c = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
        _cache[key] = c.compress(b"[" * depth) + c.compress(b"]" * depth) + c.flush()
    return _cache[key]


def accepts_gzip(handler):
    return "gzip" in handler.headers.get("accept-encoding", "").lower()


def begin(handler, f):
    """Applies a hostile fault before the route runs; True when it answered the request."""
    kind = f["kind"]
    if kind in ("deep", "bomb"):
        handler.body.drain()
        gz = accepts_gzip(handler) or kind == "bomb"
        if kind == "deep":
            body = _deep_body(int(f.get("depth", 1000000)), gz)
        else:
            body = _gzip_repeated(b"[" * (1 << 20), int(f.get("size_mb", 100)) << 20)
        hdrs = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", len(body))]
        if gz:
            hdrs.append(("Content-Encoding", "gzip"))
        handler.wfile.write(handler._head(int(f.get("status", 200)), hdrs) + body)
        return True
    handler.hostile = f
    return False


def _matches(obj, where):
    return all(obj.get(k) == v for k, v in (where or {}).items())


def _patch(obj, sets, where):
    """Replaces fields in place in every dict (at any depth) that has them."""
    if isinstance(obj, list):
        for item in obj:
            _patch(item, sets, where)
        return
    if not isinstance(obj, dict):
        return
    for value in list(obj.values()):
        _patch(value, sets, where)
    if not _matches(obj, where):
        return
    for path, value in sets.items():
        head, _, tail = path.partition(".")
        if head not in obj:
            continue
        if not tail:
            obj[head] = value
        elif isinstance(obj[head], dict):
            obj[head][tail] = value


def encode(handler, status, obj):
    """The JSON body of an answer, altered by the request's hostile fault (if any)."""
    f = getattr(handler, "hostile", None)
    raws = {}
    if f and f["kind"] == "patch" and 200 <= status < 300:
        sets = dict(f.get("set") or {})
        for i, (path, text) in enumerate((f.get("raw") or {}).items()):
            token = "\u0000raw%d\u0000" % i
            raws[json.dumps(token)] = text
            sets[path] = token
        _patch(obj, sets, f.get("where"))
    if f and f["kind"] == "endless_next" and isinstance(obj, dict) and \
            isinstance(obj.get("assets"), dict) and obj["assets"].get("nextPage") is None:
        obj["assets"]["nextPage"] = str(getattr(handler, "search_page", 1) + 1)
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for token, raw in raws.items():
        text = text.replace(token, raw)
    return text.encode()


def write(handler, head, body):
    """Sends an answer; True when a drip fault sent it (slowly)."""
    f = getattr(handler, "hostile", None)
    if not f or f["kind"] != "drip":
        return False
    interval = int(f.get("interval_ms", 1000)) / 1000.0
    handler.wfile.write(head)
    handler.wfile.flush()
    try:
        for i in range(len(body)):
            time.sleep(interval)
            handler.wfile.write(body[i:i + 1])
            handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError, OSError):
        handler.close_connection = True
    return True
