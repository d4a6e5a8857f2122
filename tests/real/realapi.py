"""A small client for a real Immich server, for tests/real/run: what the
scenarios need to set up, check and clean up, and nothing else. Every answer
that is not what Immich documents raises ApiError with the call and the body,
so a broken server shows up as a failure that says what it got.
"""

import base64
import json
import time
import urllib.error
import urllib.request


class ApiError(Exception):
    pass


class Immich:
    def __init__(self, url, key, timeout=60):
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def call(self, method, path, body=None, ok=(200, 201, 204), timeout=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("x-api-key", self.key)
        req.add_header("accept", "application/json")
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            raise ApiError("%s %s%s: %s" % (method, self.url, path, e)) from e
        if status not in ok:
            raise ApiError("%s %s: HTTP %d %s" % (method, path, status, text[:300]))
        return json.loads(text) if text.strip() else None

    # ------------------------------------------------------------ health

    def ping(self):
        """True when the server answers /api/server/ping (no key needed)."""
        try:
            return self.call("GET", "/api/server/ping", timeout=5).get("res") == "pong"
        except ApiError:
            return False

    def wait_up(self, timeout):
        """Waits until ping answers and the key works; -> seconds waited."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.ping():
                try:
                    self.call("GET", "/api/users/me", timeout=10)
                    return time.monotonic() - t0
                except ApiError:
                    pass
            time.sleep(0.5)
        raise ApiError("Immich at %s did not answer within %d s" % (self.url, timeout))

    # ------------------------------------------------------------ albums

    def album_id(self, name):
        ids = [a["id"] for a in self.call("GET", "/api/albums") if a["albumName"] == name]
        if len(ids) != 1:
            raise ApiError("%d albums named %r, expected 1" % (len(ids), name))
        return ids[0]

    def albums_named(self, prefix):
        return [a for a in self.call("GET", "/api/albums") if a["albumName"].startswith(prefix)]

    def delete_album(self, album_id):
        self.call("DELETE", "/api/albums/%s" % album_id)

    # ------------------------------------------------------------ assets

    def search(self, **query):
        """Every asset POST /api/search/metadata returns for `query`, all pages."""
        out, page = [], 1
        while page:
            body = dict(query, size=1000, page=page)
            r = self.call("POST", "/api/search/metadata", body)["assets"]
            out.extend(r["items"])
            page = int(r["nextPage"]) if r.get("nextPage") else None
        return out

    def album_assets(self, album_id):
        return self.search(albumIds=[album_id], withExif=True)

    def assets_named(self, part):
        """Assets, trashed ones too, whose originalFileName holds `part`."""
        return self.search(originalFileName=part, withDeleted=True)

    def bulk_check(self, sha1_hex_list):
        """-> {sha1_hex: (action, reason, assetId, isTrashed)}."""
        assets = [{"id": h, "checksum": h} for h in sha1_hex_list]
        out = {}
        for i in range(0, len(assets), 500):
            r = self.call("POST", "/api/assets/bulk-upload-check", {"assets": assets[i:i + 500]})
            for x in r["results"]:
                out[x["id"]] = (x["action"], x.get("reason"), x.get("assetId"),
                                x.get("isTrashed"))
        return out

    def force_delete(self, ids):
        for i in range(0, len(ids), 500):
            self.call("DELETE", "/api/assets", {"ids": ids[i:i + 500], "force": True})


def b64_of_hex(sha1_hex):
    """Immich's checksum field: the SHA-1 in base64."""
    return base64.b64encode(bytes.fromhex(sha1_hex)).decode()
