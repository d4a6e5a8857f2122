"""The fake Immich answers like the real one: the recorded responses of a
real Immich 3.1 server (tests/data/immich-api-responses/) are replayed
against the fake and compared on status code, selected headers, and the
shape of the JSON body (same keys, same JSON types, recursively; lists
element by element).

The recording was one session against a fresh server; `replay()` redoes
that session in the same order, so every file is compared against the
fake's answer to the same call in the same library state.  The call
behind each file (from its name):

  server_version / server_ping / server_media-types / server_features /
  server_config / server_about / server_storage   GET /api/server/<x>
  users_me                      GET /api/users/me
  auth_login                    POST /api/auth/login {email, password}        201
  assets_upload                 POST /api/assets test1.jpg (all fields)        201
  assets_upload_minimal         POST /api/assets test2.jpg, no device ids      201
  assets_upload_duplicate       POST /api/assets test1.jpg again               200
  assets_upload_checksum-header POST /api/assets + x-immich-checksum of test1  200
  assets_upload_missing-field   POST /api/assets without the dates             400
  upload_txt                    POST /api/assets x.txt                         400
  assets_upload_while-trashed   POST /api/assets test1.jpg while trashed       200
  assets_upload_test3           POST /api/assets test3.jpg                     201
  albums_create                 POST /api/albums {albumName, description}      201
  album_create_b                POST /api/albums {albumName: "Album B"}        201
  albums_id_assets_put          PUT  /api/albums/{id}/assets [test1, test2]    200
  albums_id_assets_put_again    PUT  /api/albums/{id}/assets [test1]           200 (duplicate)
  albums_id_get                 GET  /api/albums/{id}
  albums_id_get_withoutAssets-false  GET /api/albums/{id}?withoutAssets=false
  albums_id_get_after-delete / _after-restore   GET /api/albums/{id} later
  albums_list / more_albums_list / albums_list_after   GET /api/albums
  albums_shared_true            GET  /api/albums?shared=true
  albums_by_asset               GET  /api/albums?assetId=test1
  album_patch_rename            PATCH /api/albums/{id} {albumName}
  search_metadata_album         POST /api/search/metadata {albumIds, withExif: true}
  search_metadata_album_noexif  POST /api/search/metadata {albumIds}
  search_metadata_album_after-delete / _after-restore   same as _album, later
  search_metadata_trashed       POST /api/search/metadata {trashedAfter}
  search_page_size1             POST /api/search/metadata {albumIds, withExif, size: 1}
  search_notinalbum             POST /api/search/metadata {isNotInAlbum: true}
  assets_get (+_after-delete, _after-restore)   GET /api/assets/{test1}
  assets_get_after-force-delete GET  /api/assets/{test3} after force delete    400
  asset_unknown                 GET  /api/assets/not-a-uuid                    400
  assets_id_original            GET  /api/assets/{test1}/original              200
  assets_id_original_range      GET  ... Range: bytes=100-199                  206
  asset_head (.json and .headers are both headers)  HEAD /api/assets/{test2}/original
  asset_original_range_past     GET  ... Range: bytes=<size+100>-              404
  assets_bulk-upload-check      POST /api/assets/bulk-upload-check (base64, hex, new)
  assets_bulk-upload-check_after-delete   same for test1 while trashed
  bulk_check_txt                POST /api/assets/bulk-upload-check x.txt       200 accept
  assets_delete                 DELETE /api/assets {ids: [test1]}             204
  assets_delete_force           DELETE /api/assets {ids: [test3], force}      204
  asset_statistics              GET  /api/assets/statistics
  trash_restore_assets          POST /api/trash/restore/assets [test1]        {count: 1}
  trash_restore_assets_not-trashed   same with [test2]                        {count: 1}
  trash_restore_assets_unknown  same with a random uuid                       400
  trash_restore                 POST /api/trash/restore                       {count: 0}
  timeline_buckets              GET  /api/timeline/buckets
  timeline_buckets_album        GET  /api/timeline/buckets?albumId=
  timeline_bucket_album         GET  /api/timeline/bucket?albumId=&timeBucket=2024-05-01

Not replayed (admin set-up immichfs never calls; the fake takes its users
from the command line): auth_admin-sign-up, api-keys_create,
system-config_get, system-config_put. The "apiKey" member of api-keys_create
is the shape GET /api/api-keys/me is checked against (the official CLI calls it).
"""

import base64
import hashlib
import json
import os
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import media  # noqa: E402
from fake_client import FakeImmich, build_multipart  # noqa: E402

RECORDED = os.path.join(HERE, "..", "data", "immich-api-responses")
NOT_REPLAYED = {"auth_admin-sign-up", "api-keys_create", "system-config_get", "system-config_put"}

# Status of recordings that have no .headers file.
EXPECTED_STATUS = {
    "albums_create": 201, "albums_id_assets_put": 200, "albums_id_assets_put_again": 200,
    "albums_id_get": 200, "albums_id_get_after-delete": 200, "albums_id_get_after-restore": 200,
    "albums_id_get_withoutAssets-false": 200, "assets_bulk-upload-check": 200,
    "assets_bulk-upload-check_after-delete": 200, "assets_delete": 204, "assets_delete_force": 204,
    "assets_get": 200, "assets_get_after-delete": 200, "assets_get_after-force-delete": 400,
    "assets_get_after-restore": 200, "assets_upload_checksum-header": 200, "assets_upload_duplicate": 200,
    "assets_upload_minimal": 201, "assets_upload_missing-field": 400, "assets_upload_test3": 201,
    "assets_upload_while-trashed": 200, "auth_login": 201, "more_albums_list": 200,
    "search_metadata_album": 200, "search_metadata_album_after-delete": 200,
    "search_metadata_album_after-restore": 200, "search_metadata_album_noexif": 200,
    "search_metadata_trashed": 200, "server_about": 200, "server_features": 200,
    "server_media-types": 200, "server_ping": 200, "server_version": 200, "timeline_bucket_album": 200,
    "timeline_buckets_album": 200, "trash_restore": 200, "trash_restore_assets": 200,
    "trash_restore_assets_not-trashed": 200, "trash_restore_assets_unknown": 400,
}

# Headers whose presence (and, for Content-Type, media type) is compared.
FILE_HEADERS = ["content-type", "content-disposition", "accept-ranges", "last-modified", "etag",
                "cache-control", "content-range", "content-length"]
JSON_HEADERS = ["content-type", "content-length"]


def _jpeg(seed, w=160, h=120):
    d = hashlib.sha1(str(seed).encode()).digest()
    return media.make_jpeg(w, h, media.gradient(tuple(d[0:3]), tuple(d[3:6]))(w, h))


class Replay:
    def __init__(self, fake):
        self.fake = fake
        self.results = {}   # name -> (status, headers, body bytes)

    def call(self, name, method, path, body=None, headers=None, api_key=None):
        r = self.fake.request(method, path, body, headers=headers, api_key=api_key)
        self.results[name] = r
        return r

    def upload(self, name, filename, content, headers=None, **kw):
        body, h = build_multipart(filename, content, **kw)
        h.update(headers or {})
        status, _, payload = self.call(name, "POST", "/api/assets", body, headers=h)
        return json.loads(payload) if payload else None


def replay(fake):
    rp = Replay(fake)
    c = rp.call
    t1, t2, t3 = _jpeg(1), _jpeg(2), _jpeg(3)
    for x in ("version", "ping", "media-types", "features", "config", "about", "storage"):
        c("server_" + x, "GET", "/api/server/" + x)
    id1 = rp.upload("assets_upload", "test1.jpg", t1, created="2024-05-01T10:00:00.000Z")["id"]
    id2 = rp.upload("assets_upload_minimal", "test2.jpg", t2, created="2024-05-02T10:00:00.000Z",
                    extra_fields={"deviceAssetId": None, "deviceId": None})["id"]
    rp.upload("assets_upload_duplicate", "test1.jpg", t1, created="2024-05-01T10:00:00.000Z")
    rp.upload("assets_upload_checksum-header", "test1.jpg", t1,
              headers={"x-immich-checksum": hashlib.sha1(t1).hexdigest()})
    rp.upload("assets_upload_missing-field", "test9.jpg", _jpeg(9),
              extra_fields={"fileCreatedAt": None, "fileModifiedAt": None})
    st, _, body = c("albums_create", "POST", "/api/albums", {"albumName": "FUSE test album",
                                                            "description": "made by curl"})
    alb = json.loads(body)["id"]
    c("albums_id_assets_put", "PUT", "/api/albums/%s/assets" % alb, {"ids": [id1, id2]})
    c("albums_id_assets_put_again", "PUT", "/api/albums/%s/assets" % alb, {"ids": [id1]})
    c("albums_id_get", "GET", "/api/albums/" + alb)
    c("albums_id_get_withoutAssets-false", "GET", "/api/albums/%s?withoutAssets=false" % alb)
    c("albums_list", "GET", "/api/albums")
    c("search_metadata_album", "POST", "/api/search/metadata", {"albumIds": [alb], "withExif": True})
    c("search_metadata_album_noexif", "POST", "/api/search/metadata", {"albumIds": [alb]})
    c("search_page_size1", "POST", "/api/search/metadata", {"albumIds": [alb], "withExif": True, "size": 1})
    c("search_notinalbum", "POST", "/api/search/metadata", {"isNotInAlbum": True})
    c("assets_get", "GET", "/api/assets/" + id1)
    c("asset_unknown", "GET", "/api/assets/not-a-uuid")
    c("assets_id_original", "GET", "/api/assets/%s/original" % id1)
    c("assets_id_original_range", "GET", "/api/assets/%s/original" % id1, headers={"Range": "bytes=100-199"})
    c("asset_head", "HEAD", "/api/assets/%s/original" % id2)
    c("asset_original_range_past", "GET", "/api/assets/%s/original" % id2,
      headers={"Range": "bytes=%d-" % (len(t2) + 100)})
    b64 = base64.b64encode(hashlib.sha1(t1).digest()).decode()
    c("assets_bulk-upload-check", "POST", "/api/assets/bulk-upload-check", {"assets": [
        {"id": "test1.jpg", "checksum": b64}, {"id": "test1-hex", "checksum": hashlib.sha1(t1).hexdigest()},
        {"id": "new.jpg", "checksum": base64.b64encode(hashlib.sha1(b"new").digest()).decode()}]})
    c("bulk_check_txt", "POST", "/api/assets/bulk-upload-check", {"assets": [
        {"id": "x.txt", "checksum": base64.b64encode(hashlib.sha1(b"x").digest()).decode()}]})
    rp.upload("upload_txt", "x.txt", b"hello\n")
    c("assets_delete", "DELETE", "/api/assets", {"ids": [id1]})
    c("assets_get_after-delete", "GET", "/api/assets/" + id1)
    c("search_metadata_album_after-delete", "POST", "/api/search/metadata", {"albumIds": [alb], "withExif": True})
    c("search_metadata_trashed", "POST", "/api/search/metadata", {"trashedAfter": "2000-01-01T00:00:00.000Z"})
    c("albums_id_get_after-delete", "GET", "/api/albums/" + alb)
    c("assets_bulk-upload-check_after-delete", "POST", "/api/assets/bulk-upload-check",
      {"assets": [{"id": "test1.jpg", "checksum": b64}]})
    rp.upload("assets_upload_while-trashed", "test1.jpg", t1)
    c("asset_statistics", "GET", "/api/assets/statistics")
    c("trash_restore_assets", "POST", "/api/trash/restore/assets", {"ids": [id1]})
    c("trash_restore_assets_not-trashed", "POST", "/api/trash/restore/assets", {"ids": [id2]})
    c("trash_restore_assets_unknown", "POST", "/api/trash/restore/assets", {"ids": [str(uuid.uuid4())]})
    c("trash_restore", "POST", "/api/trash/restore")
    c("assets_get_after-restore", "GET", "/api/assets/" + id1)
    c("search_metadata_album_after-restore", "POST", "/api/search/metadata", {"albumIds": [alb], "withExif": True})
    c("albums_id_get_after-restore", "GET", "/api/albums/" + alb)
    c("albums_shared_true", "GET", "/api/albums?shared=true")
    c("albums_by_asset", "GET", "/api/albums?assetId=" + id1)
    c("more_albums_list", "GET", "/api/albums")
    c("timeline_buckets", "GET", "/api/timeline/buckets")
    c("timeline_buckets_album", "GET", "/api/timeline/buckets?albumId=" + alb)
    c("timeline_bucket_album", "GET", "/api/timeline/bucket?albumId=%s&timeBucket=2024-05-01" % alb)
    c("users_me", "GET", "/api/users/me")
    c("album_patch_rename", "PATCH", "/api/albums/" + alb, {"albumName": "Renamed Album"})
    c("album_create_b", "POST", "/api/albums", {"albumName": "Album B"})
    c("albums_list_after", "GET", "/api/albums")
    id3 = rp.upload("assets_upload_test3", "test3.jpg", t3, created="2024-05-03T10:00:00.000Z")["id"]
    c("auth_login", "POST", "/api/auth/login", {"email": "admin@example.com", "password": "admin"})
    c("assets_delete_force", "DELETE", "/api/assets", {"ids": [id3], "force": True})
    c("assets_get_after-force-delete", "GET", "/api/assets/" + id3)
    return rp.results


def recorded_names():
    names = set()
    for f in os.listdir(RECORDED):
        base, ext = os.path.splitext(f)
        if ext in (".json", ".headers"):
            names.add(base)
    return sorted(names - NOT_REPLAYED)


def parse_headers(text):
    lines = text.strip("\r\n").splitlines()
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


def recorded(name):
    """-> (status, headers or None, body text or None)"""
    hpath = os.path.join(RECORDED, name + ".headers")
    jpath = os.path.join(RECORDED, name + ".json")
    status, headers, body = None, None, None
    if os.path.exists(hpath):
        with open(hpath) as f:
            status, headers = parse_headers(f.read())
    if os.path.exists(jpath):
        with open(jpath) as f:
            body = f.read()
        if body.startswith("HTTP/1.1 "):  # asset_head.json holds headers
            status, headers = parse_headers(body)
            body = None
    if status is None:
        status = EXPECTED_STATUS[name]
    return status, headers, body


def jtype(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def shape_diff(rec, got, path="$"):
    """Differences in keys and JSON types between recorded and fake values."""
    out = []
    if jtype(rec) != jtype(got):
        return ["%s: recorded %s, fake %s (%r)" % (path, jtype(rec), jtype(got), got)]
    if isinstance(rec, dict):
        for k in rec:
            if k not in got:
                out.append("%s.%s: missing in fake" % (path, k))
            else:
                out += shape_diff(rec[k], got[k], "%s.%s" % (path, k))
        for k in got:
            if k not in rec:
                out.append("%s.%s: extra in fake" % (path, k))
    elif isinstance(rec, list):
        if len(rec) != len(got):
            out.append("%s: recorded %d elements, fake %d" % (path, len(rec), len(got)))
        for i, (r, g) in enumerate(zip(rec, got)):
            out += shape_diff(r, g, "%s[%d]" % (path, i))
    return out


@pytest.fixture(scope="module")
def results():
    with FakeImmich() as fake:
        yield replay(fake)


def test_every_recording_is_replayed(results):
    missing = [n for n in recorded_names() if n not in results]
    assert not missing, "recorded files without a replayed call: %s" % missing


@pytest.mark.parametrize("name", recorded_names())
def test_matches_recording(results, name):
    assert name in results, "no replayed call for " + name
    status, headers, body = recorded(name)
    got_status, got_headers, got_body = results[name]
    assert got_status == status, "%s: status %d, recorded %d: %r" % (name, got_status, status, got_body[:300])
    if headers is not None and got_headers:
        want = FILE_HEADERS if "accept-ranges" in headers else JSON_HEADERS
        for h in want:
            if h in headers:
                assert h in got_headers, "%s: header %s missing" % (name, h)
        if "content-type" in headers:
            assert got_headers["content-type"].split(";")[0] == headers["content-type"].split(";")[0]
        assert got_headers.get("connection", "keep-alive").lower() == "keep-alive"
        if "content-range" in headers:
            assert got_headers["content-range"].split()[1].split("/")[0].startswith(
                headers["content-range"].split()[1].split("/")[0][:1])
    if body is not None:
        if body.strip() == "":
            assert got_body == b"", "%s: expected an empty body" % name
            return
        rec = json.loads(body)
        got = json.loads(got_body)
        diff = shape_diff(rec, got)
        assert not diff, "%s differs from the recording:\n  %s" % (name, "\n  ".join(diff))


def test_content_length_matches_body(results):
    for name, (status, headers, body) in results.items():
        if headers and "content-length" in headers and name != "asset_head":
            assert int(headers["content-length"]) == len(body), name


# GET /api/api-keys/me (getMyApiKey; the official CLI asks it before login and
# upload): an ApiKeyResponseDto like the "apiKey" member of the recorded
# POST /api/api-keys answer. With a login session instead of a key,
# ApiKeyService.getMine throws ForbiddenException("Not authenticated with an API Key").
ISO_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def test_api_keys_me_matches_recording():
    import re
    from common import UUID_PATTERN
    with open(os.path.join(RECORDED, "api-keys_create.json")) as f:
        rec = json.load(f)["apiKey"]
    with FakeImmich() as fake:
        status, headers, body = fake.request("GET", "/api/api-keys/me")
        assert status == 200, body
        assert headers["content-type"].split(";")[0] == "application/json"
        got = json.loads(body)
        assert not shape_diff(rec, got), shape_diff(rec, got)
        assert re.match(UUID_PATTERN, got["id"]) and got["permissions"] == ["all"]
        assert re.match(ISO_MS, got["createdAt"]) and re.match(ISO_MS, got["updatedAt"])
        # ?apiKey= is an API key too
        assert json.loads(fake.request("GET", "/api/api-keys/me?apiKey=" + fake.api_key, api_key="")[2]) == got
        tok = fake.api("POST", "/api/auth/login", {"email": "admin@example.com", "password": "admin"}, api_key="")
        status, _, body = fake.request("GET", "/api/api-keys/me", api_key="",
                                       headers={"Authorization": "Bearer " + tok["accessToken"]})
        assert (status, json.loads(body)) == (403, {"message": "Not authenticated with an API Key"})
        status, _, body = fake.request("GET", "/api/api-keys/me", api_key="")
        assert (status, json.loads(body)) == (401, {"message": "Authentication required"})
