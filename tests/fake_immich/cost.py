"""A per-route cost model: makes the fake as slow as a real Immich, call by call.

A model (JSON, e.g. cost-real-3.1.json, measured by tests/bench/calibrate) gives
per route a fixed cost per call and optional per-unit terms:

    {"cores": 2,
     "routes": {"POST /api/assets": {"fixed_ms": 30, "per_mib_ms": 3.5},
                "PUT /api/albums/{id}/assets": {"fixed_ms": 20, "per_item_ms": 0.8},
                "*": {"fixed_ms": 2}}}

- Route keys are "METHOD template" as the fake's router names them (HEAD is
  GET); "*" is every other /api route. A route missing with no "*" costs 0.
- fixed_ms: charged once per call, before the handler runs.
- per_item_ms: charged after the handler, per item of the call: the ids of
  PUT /api/albums/{id}/assets and DELETE /api/assets, the checksums of
  POST /api/assets/bulk-upload-check, the assets a POST /api/search/metadata
  page returns.
- per_mib_ms: charged per MiB of body as it streams: request body bytes as
  they are read (uploads), original bytes before each piece is sent (GET
  .../original, Range answers included).

The server's CPU is `cores` tokens. Every charge holds one token for its
duration (a sleep), so calls beyond `cores` wait: four concurrent uploads on
two tokens take twice as long as one. Charges add to the fake's own work,
which calibrate measures and subtracts from the real figures.
"""

import json
import threading
import time

MiB = 1 << 20

_FIELDS = ("fixed_ms", "per_item_ms", "per_mib_ms")


class CostError(ValueError):
    pass


def validate(doc):
    """-> (cores, {route: {field: ms}}); CostError naming what is wrong."""
    if not isinstance(doc, dict):
        raise CostError("cost model: not a JSON object")
    cores = doc.get("cores", 2)
    if not isinstance(cores, int) or isinstance(cores, bool) or cores < 1:
        raise CostError("cost model: cores must be an integer >= 1, not %r" % (cores,))
    routes = doc.get("routes")
    if not isinstance(routes, dict):
        raise CostError("cost model: routes must be an object of \"METHOD /api/route\": {...}")
    out = {}
    for key, spec in routes.items():
        if key != "*" and (len(key.split(" ", 1)) != 2 or not key.split(" ", 1)[1].startswith("/api/")):
            raise CostError("cost model: route %r is not \"METHOD /api/...\" or \"*\"" % key)
        if not isinstance(spec, dict):
            raise CostError("cost model: route %r: not an object" % key)
        entry = {}
        for f in _FIELDS:
            v = spec.get(f, 0)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise CostError("cost model: route %r: %s must be a number >= 0, not %r" % (key, f, v))
            entry[f] = float(v)
        out[key] = entry
    return cores, out


class CostModel:
    """The loaded model plus its token pool; thread-safe."""

    def __init__(self, doc):
        self.cores, self.routes = validate(doc)
        self.doc = doc
        self.tokens = threading.Semaphore(self.cores)
        self.lock = threading.Lock()
        self.charged_s = 0.0   # sum of the charges (the simulated CPU time)
        self.waited_s = 0.0    # time spent waiting for a token

    @classmethod
    def load(cls, path):
        try:
            with open(path) as f:
                doc = json.load(f)
        except OSError as e:
            raise CostError("--cost-model %s: %s" % (path, e.strerror))
        except ValueError as e:
            raise CostError("--cost-model %s: not JSON: %s" % (path, e))
        try:
            return cls(doc)
        except CostError as e:
            raise CostError("--cost-model %s: %s" % (path, e))

    def route(self, method, template):
        """The cost entry of a call (None when it costs nothing)."""
        if template is None:
            return self.routes.get("*")
        return self.routes.get("%s %s" % ("GET" if method == "HEAD" else method, template),
                               self.routes.get("*"))

    def charge(self, seconds):
        """Hold one token for `seconds` (waits for a free one first)."""
        if seconds <= 0:
            return
        t0 = time.monotonic()
        with self.tokens:
            t1 = time.monotonic()
            time.sleep(seconds)
        with self.lock:
            self.waited_s += t1 - t0
            self.charged_s += seconds

    def fixed(self, entry):
        if entry:
            self.charge(entry["fixed_ms"] / 1000.0)

    def items(self, entry, n):
        if entry and n:
            self.charge(entry["per_item_ms"] * n / 1000.0)

    def bytes(self, entry, n):
        if entry and n:
            self.charge(entry["per_mib_ms"] * n / MiB / 1000.0)

    def stats(self):
        with self.lock:
            return {"charged_s": round(self.charged_s, 6), "waited_s": round(self.waited_s, 6)}


def count_items(template, method, body, result):
    """The number of items per_item_ms is charged for (see the module doc)."""
    if template == "/api/albums/{id}/assets" and method == "PUT":
        return len(body.get("ids") or ()) if isinstance(body, dict) else 0
    if template == "/api/assets" and method == "DELETE":
        return len(body.get("ids") or ()) if isinstance(body, dict) else 0
    if template == "/api/assets/bulk-upload-check":
        return len(body.get("assets") or ()) if isinstance(body, dict) else 0
    if template == "/api/search/metadata" and isinstance(result, tuple) and isinstance(result[1], dict):
        return len(((result[1].get("assets") or {}).get("items")) or ())
    return 0
