"""Pieces tests/bench/run and tests/bench/calibrate share: the Immich under
test (the fake or a real one) over its REST API, curl batches, random files.

Only what a plain Immich answers is used here, so everything works the same
against tests/fake_immich and a real Immich 3.1.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

MiB = 1 << 20
GiB = 1 << 30


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s exited %d: %s%s" % (cmd[0], r.returncode, r.stdout[-800:], r.stderr[-800:]))
    return r


def timed(cmd, stdout=subprocess.PIPE, **kw):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, **kw)
    return time.perf_counter() - t, r


def write_random(path, size, chunk=8 * MiB):
    """size bytes of fresh random data (unique content, so never a duplicate)."""
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def variant(src, dst):
    """dst = a unique 4 KiB header + src's bytes minus 4 KiB: same size, new
    SHA-1, cheaper than new random data."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        fo.write(os.urandom(4096))
        fi.seek(4096)
        shutil.copyfileobj(fi, fo, 8 * MiB)


def read_key(path, option):
    try:
        with open(path) as f:
            key = f.read().strip()
    except OSError as e:
        raise SystemExit("%s %s: %s" % (option, path, e.strerror))
    if not key:
        raise SystemExit("%s %s: the file is empty" % (option, path))
    return key


class Server:
    """The Immich under test: the fake (seedable, `fake` = its FakeImmich) or a real one."""

    def __init__(self, url, key, fake=None):
        self.url = url.rstrip("/")
        self.key = key
        self.fake = fake

    def api(self, method, path, body=None, timeout=120):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/api" + path, data=data, method=method)
        req.add_header("x-api-key", self.key)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s %s: HTTP %d %s" % (method, path, e.code, e.read()[:300].decode("utf-8", "replace")))
        return json.loads(raw) if raw else None

    def version(self):
        v = self.api("GET", "/server/version")
        return "%d.%d.%d" % (v["major"], v["minor"], v["patch"])

    def album_id(self, name):
        for al in self.api("GET", "/albums"):
            if al["albumName"] == name:
                return al["id"]
        return None

    def create_album(self, name):
        return self.api("POST", "/albums", {"albumName": name})["id"]

    def album_count(self, album_id):
        return self.api("GET", "/albums/%s?withoutAssets=true" % album_id)["assetCount"]

    def album_asset_ids(self, album_id):
        """Every asset id in the album (paged search, as immichfs lists)."""
        ids, page = [], 1
        while page:
            r = self.api("POST", "/search/metadata", {"albumIds": [album_id], "size": 1000, "page": page})
            ids += [a["id"] for a in r["assets"]["items"]]
            page = int(r["assets"]["nextPage"]) if r["assets"].get("nextPage") else None
        return ids

    def albums_named(self, prefix):
        return [a for a in self.api("GET", "/albums") if a["albumName"].startswith(prefix)]

    def delete_assets(self, ids):
        for i in range(0, len(ids), 500):
            self.api("DELETE", "/assets", {"ids": ids[i:i + 500], "force": True})

    def delete_album(self, album_id):
        self.api("DELETE", "/albums/" + album_id)

    def upload_bytes(self):
        return self.fake.stats()["upload_bytes"] if self.fake else None

    def curl_base(self):
        return ["curl", "-sS", "--fail", "-H", "x-api-key: " + self.key]

    def busy_jobs(self):
        """Jobs a real Immich still has queued or running (thumbnails, metadata)
        after uploads; 0 on the fake, which has no /api/queues."""
        try:
            queues = self.api("GET", "/queues", timeout=30)
        except RuntimeError:
            return 0
        n = 0
        for q in queues or ():
            s = q.get("statistics") or {}
            n += s.get("active", 0) + s.get("waiting", 0) + s.get("delayed", 0)
        return n

    def wait_idle(self, timeout=300, what=""):
        """Waits until the server's background jobs are done, so a measurement
        does not pay for the previous one's thumbnails. -> seconds waited."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            n = self.busy_jobs()
            if n == 0:
                return time.monotonic() - t0
            if last is None or time.monotonic() - last > 15:
                log("waiting for %d background job(s) of the server%s" % (n, (" " + what) if what else ""))
                last = time.monotonic()
            time.sleep(0.5)
        log("the server still has background jobs after %ds; measuring anyway" % timeout)
        return time.monotonic() - t0


# ---------------------------------------------------------------- curl batches

def _q(s):
    return '"%s"' % str(s).replace("\\", "\\\\").replace('"', '\\"')


def upload_request(path, name, created="2024-05-01T10:00:00.000Z"):
    """A multipart POST /api/assets as the official clients send it."""
    return {"method": "POST", "path": "/assets",
            "form": ["assetData=@%s;filename=%s" % (path, name), "filename=" + name,
                     "fileCreatedAt=" + created, "fileModifiedAt=" + created,
                     "deviceAssetId=bench-" + name, "deviceId=immichfs-bench"]}


def curl_batch(server, requests, workdir, parallel=0):
    """Runs the requests with one curl process (one keep-alive connection, or
    `parallel` at a time) -> [(http_code, time_total s, bytes down, bytes up,
    body or None)] in order. A request: {method, path (after /api), json?,
    form?: [field=value...], range?, keep?: True to return the body}."""
    os.makedirs(workdir, exist_ok=True)
    stamp = time.monotonic_ns()
    cfg = os.path.join(workdir, "curl-%d.cfg" % stamp)
    outs = []
    with open(cfg, "w") as f:
        for i, r in enumerate(requests):
            if i:
                f.write("next\n")
            out = os.path.join(workdir, "curl-%d-%d.out" % (stamp, i)) if r.get("keep") else "/dev/null"
            outs.append(out if r.get("keep") else None)
            f.write("url = %s\n" % _q(server.url + "/api" + r["path"]))
            f.write("header = %s\n" % _q("x-api-key: " + server.key))
            f.write("output = %s\n" % _q(out))
            f.write("silent\nshow-error\n")
            f.write("write-out = %s\n" % _q("%{http_code} %{time_total} %{size_download} %{size_upload}\\n"))
            method = r.get("method") or ("POST" if r.get("json") is not None or r.get("form") else "GET")
            plain = "POST" if r.get("json") is not None or r.get("form") else "GET"
            if method != plain:
                f.write("request = %s\n" % method)
            if r.get("json") is not None:
                body = os.path.join(workdir, "curl-%d-%d.json" % (stamp, i))
                with open(body, "w") as jf:
                    json.dump(r["json"], jf)
                f.write("header = \"Content-Type: application/json\"\n")
                f.write("data-binary = %s\n" % _q("@" + body))
            for field in r.get("form") or ():
                f.write("form = %s\n" % _q(field))
            if r.get("range"):
                f.write("range = %s\n" % r["range"])
    cmd = ["curl", "-K", cfg]
    if parallel:
        cmd[1:1] = ["--parallel", "--parallel-max", str(parallel)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    lines = r.stdout.split("\n")
    res = []
    for i, line in enumerate(lines[:len(requests)]):
        code, total, down, up = line.split()
        body = None
        if outs[i]:
            with open(outs[i]) as bf:
                body = bf.read()
            os.unlink(outs[i])
        res.append((int(code), float(total), int(down), int(up), body))
    if len(res) != len(requests):
        raise RuntimeError("curl ran %d of %d requests (exit %d): %s" % (len(res), len(requests), r.returncode,
                                                                       r.stderr[-500:]))
    for f in os.listdir(workdir):
        if f.startswith("curl-%d" % stamp):
            os.unlink(os.path.join(workdir, f))
    bad = [(i, c) for i, (c, *_rest) in enumerate(res) if c >= 400 or c == 0]
    if bad:
        raise RuntimeError("curl: request %d answered HTTP %d (%s %s)" % (
            bad[0][0], bad[0][1], requests[bad[0][0]].get("method", "GET"), requests[bad[0][0]]["path"]))
    return res


def upload_file(server, path, name, workdir):
    """One multipart upload by curl -> (asset id, seconds)."""
    req = dict(upload_request(path, name), keep=True)
    code, total, _, _, body = curl_batch(server, [req], workdir)[0]
    return json.loads(body)["id"], total
