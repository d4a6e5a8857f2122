"""Behaviour of the fake Immich that the recordings alone do not pin down:
duplicates, trash and restore, Range, paging, users, copy, faults,
keep-alive, the control API and the 2.x switch."""

import base64
import hashlib
import http.client
import json
import os
import socket
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fake_client import FakeError, FakeImmich, build_multipart, upload_multipart  # noqa: E402

BOB = ("bob@example.com", "bobpw", "bob-key", "Bob")


@pytest.fixture(scope="module")
def server():
    with FakeImmich(users=[BOB]) as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    return server


def b64sha1(data):
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


def search(fake, body, api_key=None):
    return fake.api("POST", "/api/search/metadata", body, api_key=api_key)["assets"]


# ------------------------------------------------------------------ uploads

def test_duplicate_upload_is_stored_once(fake):
    data = os.urandom(5000)
    s1, r1 = upload_multipart(fake, "a.jpg", data)
    s2, r2 = upload_multipart(fake, "b.jpg", data)
    assert (s1, r1["status"]) == (201, "created")
    assert (s2, r2["status"], r2["id"]) == (200, "duplicate", r1["id"])
    st = fake.state()
    assert len(st["assets"]) == 1
    assert st["assets"][0]["name"] == "a.jpg"
    assert st["assets"][0]["checksum"] == b64sha1(data)
    assert fake.original_bytes(r1["id"]) == data
    s = fake.stats()
    assert s["uploads"] == 1 and s["uploads_duplicate"] == 1


def test_checksum_header_answers_duplicate_without_reading_body(fake):
    data = os.urandom(3000)
    _, r1 = upload_multipart(fake, "a.jpg", data)
    fake.reset_stats()
    s, r = upload_multipart(fake, "a.jpg", data, headers={"x-immich-checksum": b64sha1(data)})
    assert (s, r) == (200, {"status": "duplicate", "id": r1["id"]})


def test_upload_fields_land_in_asset(fake):
    data = os.urandom(100)
    _, r = upload_multipart(fake, "IMG 1.png", data, created="2023-01-02T03:04:05.000Z",
                            modified="2023-02-03T04:05:06+02:00")
    a = fake.api("GET", "/api/assets/" + r["id"])
    assert a["originalFileName"] == "IMG 1.png"
    assert a["fileCreatedAt"] == "2023-01-02T03:04:05.000Z"
    assert a["fileModifiedAt"] == "2023-02-03T02:05:06.000Z"
    assert a["exifInfo"]["fileSizeInByte"] == 100
    assert a["originalMimeType"] == "image/png"


def test_unsupported_type_and_missing_dates(fake):
    s, r = upload_multipart(fake, "notes.txt", b"x")
    assert (s, r["message"]) == (400, "Unsupported file type notes.txt")
    s, r = upload_multipart(fake, "a.jpg", b"x", extra_fields={"fileModifiedAt": None})
    assert s == 400 and [e["path"] for e in r["errors"]] == [["fileModifiedAt"]]
    assert fake.state()["assets"] == []


def test_big_chunked_upload(fake):
    data = os.urandom(3 << 20)
    body, h = build_multipart("big.mov", data)
    conn = http.client.HTTPConnection("127.0.0.1", fake.port)
    h["x-api-key"] = fake.api_key
    h["Transfer-Encoding"] = "chunked"

    def chunks():
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]
    conn.request("POST", "/api/assets", body=chunks(), headers=h, encode_chunked=True)
    r = conn.getresponse()
    assert r.status == 201
    import json
    aid = json.loads(r.read())["id"]
    assert fake.original_bytes(aid) == data
    assert fake.api("GET", "/api/assets/" + aid)["type"] == "VIDEO"


# ------------------------------------------------------------------ trash

def test_trash_and_restore_via_bulk_check(fake):
    data = os.urandom(2000)
    alb = fake.seed_album("A")
    _, r = upload_multipart(fake, "a.jpg", data)
    aid = r["id"]
    fake.api("PUT", "/api/albums/%s/assets" % alb["id"], {"ids": [aid]})
    fake.api("DELETE", "/api/assets", {"ids": [aid], "force": False}, expect=204)
    check = fake.api("POST", "/api/assets/bulk-upload-check",
                     {"assets": [{"id": "x", "checksum": b64sha1(data)},
                                 {"id": "y", "checksum": hashlib.sha1(data).hexdigest()},
                                 {"id": "z", "checksum": b64sha1(b"other")}]})["results"]
    assert check[0] == {"id": "x", "action": "reject", "reason": "duplicate", "assetId": aid, "isTrashed": True}
    assert check[1]["assetId"] == aid
    assert check[2] == {"id": "z", "action": "accept"}
    # trashed: out of listings, still downloadable, album count drops
    assert search(fake, {"albumIds": [alb["id"]]})["items"] == []
    assert fake.api("GET", "/api/albums/" + alb["id"])["assetCount"] == 0
    assert fake.request("GET", "/api/assets/%s/original" % aid)[0] == 200
    # duplicate upload of a trashed asset keeps it trashed
    s, r2 = upload_multipart(fake, "a.jpg", data)
    assert (s, r2["id"]) == (200, aid)
    assert fake.api("GET", "/api/assets/" + aid)["isTrashed"] is True
    assert fake.api("POST", "/api/trash/restore/assets", {"ids": [aid]}) == {"count": 1}
    assert fake.api("GET", "/api/assets/" + aid)["isTrashed"] is False
    assert [a["id"] for a in search(fake, {"albumIds": [alb["id"]]})["items"]] == [aid]


def test_force_delete_and_empty_trash(fake):
    a = fake.add_asset("a.jpg", size=10)
    b = fake.add_asset("b.jpg", size=10)
    fake.api("DELETE", "/api/assets", {"ids": [a["id"]], "force": True}, expect=204)
    with pytest.raises(FakeError) as e:
        fake.api("GET", "/api/assets/" + a["id"])
    assert e.value.status == 400 and "Not found or no asset.read access" in e.value.body
    assert not os.path.exists(a["path"])
    fake.api("DELETE", "/api/assets", {"ids": [b["id"]]}, expect=204)
    assert fake.api("POST", "/api/trash/empty") == {"count": 1}
    assert fake.state()["assets"] == []


def test_restore_unknown_is_400(fake):
    s, _, body = fake.request("POST", "/api/trash/restore/assets", {"ids": ["0d3e4b1a-5c1f-4b7e-9a43-1b2c3d4e5f60"]})
    assert s == 400 and b"no asset.delete access" in body


# ------------------------------------------------------------------ originals

def test_range_requests(fake):
    data = os.urandom(10000)
    a = fake.add_asset("a.jpg", content=data)
    path = "/api/assets/%s/original" % a["id"]
    s, h, body = fake.request("GET", path, headers={"Range": "bytes=100-199"})
    assert (s, h["content-range"], body) == (206, "bytes 100-199/10000", data[100:200])
    s, h, body = fake.request("GET", path, headers={"Range": "bytes=9990-"})
    assert (s, body) == (206, data[9990:])
    s, h, body = fake.request("GET", path, headers={"Range": "bytes=-5"})
    assert (s, body) == (206, data[-5:])
    s, h, body = fake.request("GET", path, headers={"Range": "bytes=9000-20000"})
    assert (s, h["content-range"], body) == (206, "bytes 9000-9999/10000", data[9000:])
    s, h, body = fake.request("GET", path, headers={"Range": "bytes=10000-"})
    assert (s, body, h["content-range"]) == (404, b'{"message":"Not Found"}', "bytes */10000")
    s, h, body = fake.request("HEAD", path)
    assert (s, h["content-length"], body) == (200, "10000", b"")
    s, _, body = fake.request("GET", "/api/assets/0d3e4b1a-5c1f-4b7e-9a43-1b2c3d4e5f60/original")
    assert s == 400 and b"Not found or no asset.read access" in body


def test_large_original_is_fast(fake):
    a = fake.add_asset("big.mov", size=200 << 20, seed=5)
    conn = http.client.HTTPConnection("127.0.0.1", fake.port)
    t = time.monotonic()
    conn.request("GET", "/api/assets/%s/original" % a["id"], headers={"x-api-key": fake.api_key})
    r = conn.getresponse()
    h = hashlib.sha1()
    n = 0
    while True:
        b = r.read(1 << 20)
        if not b:
            break
        n += len(b)
        h.update(b)
    elapsed = time.monotonic() - t
    assert n == 200 << 20 and h.hexdigest() == a["checksum_hex"]
    assert n / elapsed > 100e6, "only %.0f MB/s" % (n / elapsed / 1e6)


# ------------------------------------------------------------------ listing

def test_search_paging(fake):
    alb = fake.seed_album("Big")
    made = fake.generate(25, size=100, album=alb["id"])
    seen = []
    page = 1
    pages = 0
    while page:
        res = search(fake, {"albumIds": [alb["id"]], "size": 10, "page": page, "withExif": True})
        pages += 1
        assert res["count"] == res["total"] == len(res["items"])
        seen += [a["id"] for a in res["items"]]
        assert all(a["exifInfo"]["fileSizeInByte"] == 100 for a in res["items"])
        page = int(res["nextPage"]) if res["nextPage"] else None
        if page:
            assert isinstance(res["nextPage"], str)
    assert pages == 3
    assert sorted(seen) == sorted(a["id"] for a in made)
    # newest first
    dates = [fake.api("GET", "/api/assets/" + i)["fileCreatedAt"] for i in seen[:3]]
    assert dates == sorted(dates, reverse=True)
    assert "exifInfo" not in search(fake, {"albumIds": [alb["id"]], "size": 1})["items"][0]


def test_search_by_checksum_and_bad_size(fake):
    a = fake.add_asset("a.jpg", size=50)
    fake.add_asset("b.jpg", size=50)
    for c in (a["checksum"], a["checksum_hex"]):
        assert [x["id"] for x in search(fake, {"checksum": c})["items"]] == [a["id"]]
    s, _, _ = fake.request("POST", "/api/search/metadata", {"size": 5000})
    assert s == 400


def test_album_crud_and_membership(fake):
    a = fake.add_asset("a.jpg", size=10)
    b = fake.add_asset("b.jpg", size=10)
    al = fake.api("POST", "/api/albums", {"albumName": "X", "assetIds": [a["id"]]}, expect=201)
    assert al["assetCount"] == 1
    res = fake.api("PUT", "/api/albums/%s/assets" % al["id"], {"ids": [a["id"], b["id"], al["id"]]})
    assert res == [{"id": a["id"], "success": False, "error": "duplicate"}, {"id": b["id"], "success": True},
                   {"id": al["id"], "success": False, "error": "no_permission"}]
    before = fake.api("GET", "/api/albums/" + al["id"])["updatedAt"]
    res = fake.api("DELETE", "/api/albums/%s/assets" % al["id"], {"ids": [a["id"], a["id"]]})
    assert res == [{"id": a["id"], "success": True}, {"id": a["id"], "success": False, "error": "not_found"}]
    got = fake.api("GET", "/api/albums/" + al["id"])
    assert got["assetCount"] == 1 and got["updatedAt"] > before
    assert [x["id"] for x in fake.api("GET", "/api/albums?assetId=" + b["id"])] == [al["id"]]
    assert fake.api("PATCH", "/api/albums/" + al["id"], {"albumName": "Y"})["albumName"] == "Y"
    fake.api("DELETE", "/api/albums/" + al["id"], expect=204)
    s, _, body = fake.request("GET", "/api/albums/" + al["id"])
    assert s == 400 and b"no album.read access" in body
    assert len(fake.state()["assets"]) == 2


def test_copy_moves_albums_and_favorite(fake):
    alb = fake.seed_album("A")
    old = fake.add_asset("a.jpg", size=10, album=alb["id"], favorite=True)
    new = fake.add_asset("a.jpg", size=11)
    fake.api("PUT", "/api/assets/copy", {"sourceId": old["id"], "targetId": new["id"]}, expect=204)
    assert fake.api("GET", "/api/assets/" + new["id"])["isFavorite"] is True
    members = fake.state()["albums"][0]["assets"]
    assert set(members) == {old["id"], new["id"]}
    s, _, _ = fake.request("PUT", "/api/assets/copy", {"sourceId": old["id"], "targetId": old["id"]})
    assert s == 400


def test_users_are_separate_and_login(fake):
    fake.add_asset("admin.jpg", size=10)
    fake.add_asset("bob.jpg", size=10, user="bob@example.com")
    bob = fake.seed_album("Bob's", user="bob@example.com", shared_with=["admin@example.com"])
    assert [a["originalFileName"] for a in search(fake, {}, api_key="bob-key")["items"]] == ["bob.jpg"]
    assert [a["originalFileName"] for a in search(fake, {})["items"]] == ["admin.jpg"]
    # shared album is listed for admin (3.x: owned + shared with me)
    names = [al["albumName"] for al in fake.api("GET", "/api/albums")]
    assert names == ["Bob's"]
    assert fake.api("GET", "/api/albums?isOwned=true") == []
    assert fake.api("GET", "/api/albums/" + bob["id"])["shared"] is True
    # login
    tok = fake.api("POST", "/api/auth/login", {"email": "bob@example.com", "password": "bobpw"}, api_key="")
    me = fake.api("GET", "/api/users/me", api_key="") if False else None
    s, _, body = fake.request("GET", "/api/users/me", api_key="",
                              headers={"Authorization": "Bearer " + tok["accessToken"]})
    assert s == 200 and b"bob@example.com" in body
    s, _, body = fake.request("POST", "/api/auth/login", {"email": "bob@example.com", "password": "x"}, api_key="")
    assert s == 401
    s, _, body = fake.request("GET", "/api/users/me", api_key="")
    assert s == 401 and b"Authentication required" in body
    s, _, body = fake.request("GET", "/api/users/me", api_key="nope")
    assert s == 401 and b"Invalid API key" in body
    s, _, _ = fake.request("GET", "/api/users/me?apiKey=bob-key", api_key="")
    assert s == 200
    assert me is None


def test_api_keys_me_per_user_and_stable(fake):
    admin = fake.api("GET", "/api/api-keys/me")
    bob = fake.api("GET", "/api/api-keys/me", api_key="bob-key")
    assert admin["id"] != bob["id"] and admin["permissions"] == bob["permissions"] == ["all"]
    assert fake.api("GET", "/api/api-keys/me") == admin
    # a new key is a new key record; a login session has none
    fake.add_user("bob@example.com", "bobpw", "bob-key-2", "Bob")
    bob2 = fake.api("GET", "/api/api-keys/me", api_key="bob-key-2")
    assert bob2["id"] != bob["id"]
    assert fake.request("GET", "/api/api-keys/me", api_key="bob-key")[0] == 401
    fake.add_user(*BOB)
    # discovery, as the CLI does it before anything else
    s, _, body = fake.request("GET", "/.well-known/immich")
    assert s == 200 and json.loads(body) == {"api": {"endpoint": "/api"}}


# ------------------------------------------------------------------ faults

def test_fault_status_count(fake):
    fake.fault(r"GET /api/server/about", "status", status=503, count=2)
    assert [fake.request("GET", "/api/server/about")[0] for _ in range(3)] == [503, 503, 200]


def test_fault_drop_and_truncate(fake):
    a = fake.add_asset("a.jpg", size=100000)
    path = "/api/assets/%s/original" % a["id"]
    fake.fault("GET /api/assets/.*/original", "drop", count=1)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        fake.request("GET", path)
    fake.fault("GET /api/assets/.*/original", "truncate", after_bytes=1000, count=1)
    with pytest.raises(http.client.IncompleteRead):
        fake.request("GET", path)
    fake.fault("POST /api/search/metadata", "truncate", after_bytes=10, count=1)
    with pytest.raises(http.client.IncompleteRead):
        fake.request("POST", "/api/search/metadata", {})
    assert fake.request("GET", path)[0] == 200


def test_fault_drop_during_upload(fake):
    fake.fault("POST /api/assets$", "drop", after_bytes=1000, count=1)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        upload_multipart(fake, "a.jpg", os.urandom(200000))
    assert fake.state()["assets"] == []
    s, _ = upload_multipart(fake, "a.jpg", os.urandom(2000))
    assert s == 201


def test_delay_and_latency(fake):
    fake.fault("GET /api/server/ping", "delay", delay_ms=300, count=1)
    t = time.monotonic()
    assert fake.request("GET", "/api/server/ping")[0] == 200
    assert time.monotonic() - t >= 0.3
    fake.set_latency(200)
    t = time.monotonic()
    fake.request("GET", "/api/server/ping")
    assert time.monotonic() - t >= 0.2
    fake.set_latency(0)


def test_offline(fake):
    fake.set_offline(True)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        fake.request("GET", "/api/server/ping")
    fake.set_offline(False)
    assert fake.request("GET", "/api/server/ping")[0] == 200


# ------------------------------------------------------------------ HTTP

def test_keep_alive_reuses_one_connection(fake):
    a = fake.add_asset("a.jpg", size=5000)
    fake.reset_stats()
    conn = http.client.HTTPConnection("127.0.0.1", fake.port)
    h = {"x-api-key": fake.api_key}
    for method, path, extra in [("GET", "/api/server/ping", {}),
                                ("GET", "/api/assets/%s/original" % a["id"], {"Range": "bytes=0-9"}),
                                ("GET", "/api/assets/%s/original" % a["id"], {"Range": "bytes=999999-"}),
                                ("GET", "/api/nope", {}),
                                ("DELETE", "/api/assets", {"Content-Type": "application/json"}),
                                ("GET", "/api/users/me", {})]:
        body = b'{"ids":[]}' if method == "DELETE" else None
        conn.request(method, path, body=body, headers=dict(h, **extra))
        r = conn.getresponse()
        r.read()
        assert r.getheader("connection") == "keep-alive"
    s = fake.stats()
    assert s["connections_opened"] == 1
    assert s["requests"]["GET /api/assets/{id}/original"] == 2


def test_204_has_no_body(fake):
    sock = socket.create_connection(("127.0.0.1", fake.port))
    sock.sendall(b"DELETE /api/assets HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 10\r\n\r\n{\"ids\":[]}" % fake.api_key.encode())
    data = b""
    sock.settimeout(2)
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, rest = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 204") and rest == b"" and b"Content-Length" not in head
    sock.close()


# ------------------------------------------------------------------ control API

def test_seed_state_and_restart(fake):
    alb = fake.seed_album("Trip", created="2024-01-01T00:00:00Z")
    specs = [{"name": "x%d.jpg" % i, "size": 100 + i, "album": "Trip", "created": "2024-02-0%dT10:00:00Z" % (i + 1)}
             for i in range(3)]
    specs.append({"name": "t.jpg", "text": "hello", "trashed": True})
    made = fake.seed_assets(specs)
    assert [m["size"] for m in made] == [100, 101, 102, 5]
    st = fake.state()
    assert st["albums"][0]["id"] == alb["id"] and len(st["albums"][0]["assets"]) == 3
    assert [a["trashed"] for a in st["assets"]] == [False, False, False, True]
    assert fake.api("GET", "/api/albums/" + alb["id"])["startDate"] == "2024-02-01T00:00:00.000Z"
    key = fake.api("GET", "/api/api-keys/me")
    fake.restart()
    assert fake.state()["albums"][0]["assets"] == st["albums"][0]["assets"]
    assert fake.original_bytes(made[3]["id"]) == b"hello"
    assert fake.api("GET", "/api/api-keys/me") == key


def test_background_save_survives_a_crash():
    """Without a clean stop, what the periodic saver wrote is what comes back."""
    with FakeImmich() as fake:
        fake.generate(300, size=16, album="Crash")
        path = os.path.join(fake.data_dir, "state.json")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(path) and len(json.load(open(path))["assets"]) == 300:
                break
            time.sleep(0.05)
        fake.kill()
        fake.start()
        assert len(fake.album_named("Crash")["assets"]) == 300


def test_no_persist_keeps_state_in_memory_only():
    with FakeImmich(persist=False) as fake:
        fake.generate(20, size=16, album="Mem")
        assert len(fake.album_named("Mem")["assets"]) == 20
        time.sleep(0.3)   # longer than the saver's debounce
        assert not os.path.exists(os.path.join(fake.data_dir, "state.json"))
        fake.restart()
        assert fake.state()["assets"] == [] and fake.album_named("Mem") is None


def test_generate_is_deterministic(fake):
    a = fake.add_asset("a.jpg", size=3 << 20, seed=42)
    fake.reset()
    b = fake.add_asset("b.jpg", size=3 << 20, seed=42)
    assert a["checksum"] == b["checksum"]


def test_version_2():
    with FakeImmich(version="2.5.0") as fake:
        assert fake.api("GET", "/api/server/version") == {"major": 2, "minor": 5, "patch": 0}
        s, r = upload_multipart(fake, "a.jpg", b"abc", extra_fields={"deviceId": None})
        assert s == 400 and r["statusCode"] == 400 and isinstance(r["message"], list)
        s, r = upload_multipart(fake, "a.jpg", b"abc")
        assert s == 201
        alb = fake.seed_album("A", assets=[r["id"]])
        got = fake.api("GET", "/api/albums/" + alb["id"])
        assert [x["id"] for x in got["assets"]] == [r["id"]] and got["ownerId"]
        assert fake.api("GET", "/api/albums/%s?withoutAssets=true" % alb["id"])["assets"] == []


def test_demo_library():
    with FakeImmich(demo=True) as fake:
        albums = {al["albumName"]: al for al in fake.api("GET", "/api/albums")}
        assert {"Holidays 2024", "Family", "Pets"} <= set(albums)
        items = search(fake, {"albumIds": [albums["Holidays 2024"]["id"]], "withExif": True})["items"]
        assert any(a["type"] == "VIDEO" for a in items)
        jpg = next(a for a in items if a["originalFileName"].endswith(".jpg"))
        body = fake.request("GET", "/api/assets/%s/original" % jpg["id"])[2]
        assert body[:2] == b"\xff\xd8" and body[-2:] == b"\xff\xd9"
        with open(os.path.join(fake.data_dir, "demo-api-key")) as f:
            assert f.read().strip() == fake.api_key


# ------------------------------------------------------------------ odd names

@pytest.mark.parametrize("name", ["", " ", ".", "..", "a/b", "new\nline", "nul\x00x", "\x7f"])
def test_any_string_is_an_album_and_file_name(fake, name):
    """Immich's DTOs only ask for a string: the control API seeds, and the API
    serves, every name as it is (also "", which the control API once refused)."""
    al = fake.seed_album(name)
    asset = fake.add_asset(name, content=b"odd", album=al["id"])
    assert al["name"] == name and asset["name"] == name
    albums = fake.api("GET", "/api/albums")
    assert [a["albumName"] for a in albums if a["id"] == al["id"]] == [name]
    found = search(fake, {"albumIds": [al["id"]]})["items"]
    assert [a["originalFileName"] for a in found] == [name]
    created = fake.api("POST", "/api/albums", {"albumName": name})
    assert created["albumName"] == name
