"""Start and drive the fake Immich server from Python tests (stdlib only).

    from fake_client import FakeImmich

    with FakeImmich() as fake:                 # free port, temp data dir
        alb = fake.seed_album("Holidays")
        a = fake.add_asset("a.jpg", size=5000, album=alb["id"])
        fake.fault("GET /api/assets/.*/original", "status", status=503, count=2)
        print(fake.url, fake.api_key)          # point the code under test here
        fake.state()["albums"][0]["assets"]    # what landed in "Immich"
        fake.stats()["connections_opened"]

Everything here is a thin wrapper over the JSON control API documented in
README.md, so other languages can do the same with curl.
"""

import base64
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
DEFAULT_KEY = "fake-immich-key"


class FakeError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body[:500]))
        self.status = status
        self.body = body


class FakeImmich:
    def __init__(self, data_dir=None, api_key=DEFAULT_KEY, users=(), latency_ms=0, version="3.1.0",
                 demo=False, port=0, extra_args=(), quiet=True, start=True, persist=True, cost_model=None):
        """users: iterable of (email, password, api_key, name) for extra users.
        persist=False: --no-persist (no state.json; a restart starts empty).
        cost_model: a cost model file (--cost-model, see cost.py)."""
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="fake-immich-")
        self.api_key = api_key
        self.users = [tuple(u) for u in users]
        self.latency_ms = latency_ms
        self.version = version
        self.demo = demo
        self.port = port
        self.extra_args = list(extra_args)
        self.quiet = quiet
        self.persist = persist
        self.cost_model = cost_model
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "server.log")
        if start:
            self.start()

    # ------------------------------------------------------------ lifecycle
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout=20):
        """Start (or restart after stop()) on the same port and data dir."""
        if self.proc is not None:
            return
        os.makedirs(self.data_dir, exist_ok=True)
        port_file = os.path.join(self.data_dir, "port")
        try:
            os.unlink(port_file)
        except OSError:
            pass
        cmd = [sys.executable, SERVER, "--host", "127.0.0.1", "--port", str(self.port), "--port-file", port_file,
               "--data-dir", self.data_dir, "--api-key", self.api_key, "--version", self.version,
               "--latency-ms", str(self.latency_ms)]
        for u in self.users:
            cmd += ["--user", ":".join(u)]
        if self.demo:
            cmd.append("--demo")
        if self.quiet:
            cmd.append("--quiet")
        if not self.persist:
            cmd.append("--no-persist")
        if self.cost_model:
            cmd += ["--cost-model", self.cost_model]
        cmd += self.extra_args
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("fake Immich exited with %s; log: %s" % (self.proc.returncode, self._tail()))
            if os.path.exists(port_file):
                with open(port_file) as f:
                    txt = f.read().strip()
                if txt:
                    self.port = int(txt)
                    try:
                        self.control("GET", "/health")
                        return
                    except OSError:
                        pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("fake Immich did not come up; log: %s" % self._tail())

    def _tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout=10):
        """Stop the server (state is saved; start() brings it back)."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self._log.close()

    def kill(self):
        """Hard kill (SIGKILL), like a crashed server; start() brings it back."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self._log.close()

    def restart(self):
        self.stop()
        self.start()

    def close(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ raw HTTP
    def request(self, method, path, body=None, headers=None, api_key=None, timeout=60):
        """-> (status, headers dict (lower-case names), body bytes).  body may be
        bytes or a JSON-able object; api_key=None uses the default key, ''
        sends none."""
        h = dict(headers or {})
        if api_key is None:
            api_key = self.api_key
        if api_key and path.startswith("/api/"):
            h.setdefault("x-api-key", api_key)
        data = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
            else:
                data = json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            payload = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, payload
        finally:
            conn.close()

    def api(self, method, path, body=None, api_key=None, expect=None):
        """JSON call to /api/...; returns the parsed body (None when empty).
        Raises FakeError when the status is >= 400 (or != expect)."""
        status, _, payload = self.request(method, path, body, api_key=api_key)
        if (expect is not None and status != expect) or (expect is None and status >= 400):
            raise FakeError(status, payload.decode("utf-8", "replace"))
        return json.loads(payload) if payload else None

    def control(self, method, path, body=None):
        status, _, payload = self.request(method, "/_fake" + path, body)
        if status >= 400:
            raise FakeError(status, payload.decode("utf-8", "replace"))
        return json.loads(payload) if payload else None

    # ------------------------------------------------------------ control API
    def health(self):
        return self.control("GET", "/health")

    def reset(self, stats=True, faults=True):
        return self.control("POST", "/reset", {"stats": stats, "faults": faults})

    def add_user(self, email, password="", api_key=None, name=None):
        return self.control("POST", "/users", {"email": email, "password": password, "apiKey": api_key,
                                               "name": name or email})

    def seed_album(self, name, user=None, assets=(), shared_with=(), description="", created=None):
        """shared_with: emails, or dicts {"user": email, "role": "editor"|"viewer"}."""
        body = {"name": name, "user": user, "assets": list(assets), "shared_with": list(shared_with),
                "description": description}
        if created:
            body["created"] = created
        return self.control("POST", "/albums", body)

    def seed_assets(self, specs, user=None):
        """specs: list of dicts, see README (name, size/seed | content_b64 | text | path, created,
        modified, album/albums, favorite, trashed, visibility).  -> list of asset summaries."""
        return self.control("POST", "/assets", {"user": user, "assets": list(specs)})["assets"]

    def add_asset(self, name, content=None, size=None, seed=None, album=None, albums=None, user=None,
                  **extra):
        """One asset; content (bytes) or size (+seed) of generated bytes."""
        spec = dict(extra, name=name)
        if content is not None:
            spec["content_b64"] = base64.b64encode(content).decode()
        else:
            spec["size"] = 1024 if size is None else size
            if seed is not None:
                spec["seed"] = seed
        if album:
            spec["album"] = album
        if albums:
            spec["albums"] = list(albums)
        return self.seed_assets([spec], user=user)[0]

    def generate(self, count, size=1024, album=None, name="IMG_%05d.jpg", seed=7, user=None, **extra):
        """count assets of generated content named name % i (fast: no bytes over HTTP)."""
        gen = dict(extra, count=count, size=size, name=name, seed=seed)
        if album:
            gen["album"] = album
        return self.control("POST", "/assets", {"user": user, "generate": gen})["assets"]

    def state(self, user=None):
        return self.control("GET", "/state" + ("?user=" + user if user else ""))

    def album_named(self, name, user=None):
        for al in self.state(user)["albums"]:
            if al["name"] == name:
                return al
        return None

    def stats(self):
        return self.control("GET", "/stats")

    def reset_stats(self):
        return self.control("POST", "/stats/reset")

    def fault(self, route, kind, count=-1, **kw):
        """route: regex searched in 'METHOD /path'; kind: delay (delay_ms), status
        (status), drop (after_bytes of the request body read first), truncate
        (after_bytes of the response sent).  count: next N matching requests, -1 forever."""
        return self.control("POST", "/faults", dict(kw, route=route, kind=kind, count=count))["id"]

    def faults(self):
        return self.control("GET", "/faults")

    def clear_faults(self):
        return self.control("DELETE", "/faults")

    def set_latency(self, ms):
        return self.control("POST", "/latency", {"ms": ms})

    def set_cost_model(self, model):
        """Replace the cost model (a dict as in cost.py; None or {} switches it off)."""
        return self.control("POST", "/cost-model", model or {})

    def cost_model_state(self):
        """-> {"model": dict or None, "stats": {"charged_s", "waited_s"} or None}."""
        return self.control("GET", "/cost-model")

    def set_offline(self, offline=True):
        return self.control("POST", "/offline", {"offline": offline})

    def original_bytes(self, asset_id):
        """The stored original, read from disk."""
        for a in self.state()["assets"]:
            if a["id"] == asset_id:
                with open(a["path"], "rb") as f:
                    return f.read()
        raise KeyError(asset_id)


def build_multipart(filename, content, created="2024-05-01T10:00:00.000Z", modified=None, extra_fields=None):
    """-> (body bytes, headers) of an asset upload as immichfs sends it;
    extra_fields may override or (with None) drop a field."""
    boundary = "----fakeimmich%d" % int(time.time() * 1e6)
    fields = {"fileCreatedAt": created, "fileModifiedAt": modified or created, "filename": filename,
              "deviceAssetId": "test-" + filename, "deviceId": "pytest"}
    fields.update(extra_fields or {})
    parts = []
    for k, v in fields.items():
        if v is None:
            continue
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                      % (boundary, k, v)).encode())
    parts.append(("--%s\r\nContent-Disposition: form-data; name=\"assetData\"; filename=\"%s\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n" % (boundary, filename)).encode())
    parts.append(content)
    parts.append(("\r\n--%s--\r\n" % boundary).encode())
    return b"".join(parts), {"Content-Type": "multipart/form-data; boundary=" + boundary}


def upload_multipart(fake, filename, content, created="2024-05-01T10:00:00.000Z", modified=None,
                     extra_fields=None, headers=None, api_key=None):
    """POST /api/assets like immichfs does; -> (status, parsed JSON)."""
    body, h = build_multipart(filename, content, created, modified, extra_fields)
    h.update(headers or {})
    status, _, payload = fake.request("POST", "/api/assets", body, headers=h, api_key=api_key)
    return status, (json.loads(payload) if payload else None)
