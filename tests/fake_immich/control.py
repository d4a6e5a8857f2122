"""The /_fake/ control API (no auth, JSON in and out) and the --demo library.

    GET  /_fake/health                  {"ok": true, "version": "3.1.0", "port": N}
    POST /_fake/reset                   {"stats": true, "faults": true}  -> library emptied (users kept)
    POST /_fake/users                   {"email","password","apiKey","name"} -> user
    POST /_fake/albums                  {"name", "user"?, "description"?, "assets"?: [ids],
                                         "shared_with"?: [{"user": email|id, "role": "editor"|"viewer"}]}
    POST /_fake/assets                  {"user"?, "assets": [spec, ...]}  or  {"user"?, "generate": gen}
    GET  /_fake/state[?user=email]      albums + assets as they are now
    GET  /_fake/stats                   counters;   POST /_fake/stats/reset
    GET/POST/DELETE /_fake/faults       list / add / clear fault switches
    POST /_fake/latency                 {"ms": N}
    GET/POST /_fake/cost-model          the cost model (cost.py) / replace it ({} switches it off)
    POST /_fake/offline                 {"offline": true|false}  (API connections are closed at once)

See README.md for the asset spec and the fault fields.
"""

import base64
import datetime as dt
import itertools
import json
import math
import os
import shutil
import sys
import threading

import api
import cost
import media
from common import ApiError
from store import fmt_iso, new_id, now_iso, parse_iso

_seed_counter = itertools.count(1)
_seed_lock = threading.Lock()


def _json_body(handler):
    raw = handler.body.read_all()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, "control API: body is not JSON")


def _user(app, ref):
    u = app.store.resolve_user(ref)
    if u is None:
        raise ApiError(400, "control API: unknown user %r" % (ref,))
    return u


def _album_by_ref(app, owner, ref, create=True):
    store = app.store
    if ref in store.albums:
        return store.albums[ref]
    for al in store.albums.values():
        if al["ownerId"] == owner["id"] and al["albumName"] == ref:
            return al
    if not create:
        raise ApiError(400, "control API: unknown album %r" % (ref,))
    return store.create_album(owner["id"], ref)


def _default_date(i):
    base = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    return fmt_iso(base + dt.timedelta(minutes=i))


def seed_one(app, owner, spec, index=0):
    """Create one asset from a spec dict; returns (asset, duplicate)."""
    store = app.store
    # Any string is a name (Immich takes "" too); only a missing one gets the default.
    name = spec["name"] if isinstance(spec.get("name"), str) else "IMG_%05d.jpg" % index
    tmp = os.path.join(store.data_dir, "tmp", new_id() + ".seed")
    if spec.get("content_b64") is not None:
        chunks = [base64.b64decode(spec["content_b64"])]
    elif spec.get("text") is not None:
        chunks = [spec["text"].encode()]
    elif spec.get("path"):
        def file_chunks(p=spec["path"]):
            with open(p, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        return
                    yield b
        chunks = file_chunks()
    else:
        seed = spec.get("seed")
        if seed is None:
            with _seed_lock:
                seed = 1_000_000 + next(_seed_counter)
        chunks = media.content_chunks(int(seed), int(spec.get("size", 1024)))
    size, sha1hex = media.write_content(tmp, chunks)
    head = b""
    if size:
        with open(tmp, "rb") as f:
            head = f.read(65536)
    created = parse_iso(spec["created"]) if spec.get("created") else _default_date(index)
    modified = parse_iso(spec["modified"]) if spec.get("modified") else created
    with store.lock:
        dup = store.find_checksum(owner["id"], sha1hex)
        if dup is not None:
            os.unlink(tmp)
            a, duplicate = dup, True
        else:
            a = api.create_asset(app, owner, tmp, sha1hex, size, head, name, created, modified,
                                 favorite=spec.get("favorite", False),
                                 visibility=spec.get("visibility", "timeline"),
                                 duration=spec.get("duration"), description=spec.get("description", ""),
                                 uploaded_at=parse_iso(spec["uploaded"]) if spec.get("uploaded") else None,
                                 live_photo_video_id=spec.get("live_photo_video_id"))
            if spec.get("type") in ("IMAGE", "VIDEO", "AUDIO", "OTHER"):
                a["type"] = spec["type"]
            duplicate = False
        if spec.get("trashed"):
            store.trash([a["id"]])
    return a, duplicate


def _asset_summary(app, a, duplicate=None):
    out = {"id": a["id"], "name": a["originalFileName"], "size": a["size"],
           "checksum": base64.b64encode(bytes.fromhex(a["checksum"])).decode(), "checksum_hex": a["checksum"],
           "path": app.store.disk_path(a), "owner": app.store.users[a["ownerId"]]["email"],
           "trashed": a["deletedAt"] is not None, "favorite": a["isFavorite"], "visibility": a["visibility"],
           "type": a["type"], "fileCreatedAt": a["fileCreatedAt"], "fileModifiedAt": a["fileModifiedAt"],
           "createdAt": a["createdAt"], "updatedAt": a["updatedAt"],
           "albums": sorted(app.store.asset_albums.get(a["id"], ())),
           "livePhotoVideoId": a.get("livePhotoVideoId")}
    if duplicate is not None:
        out["duplicate"] = duplicate
    return out


def _album_summary(app, al):
    store = app.store
    return {"id": al["id"], "name": al["albumName"], "owner": store.users[al["ownerId"]]["email"],
            "description": al["description"], "assets": list(al["assets"]),
            "shared_with": [{"user": store.users[u]["email"], "role": r} for u, r in al["users"].items()
                            if u in store.users],
            "createdAt": al["createdAt"], "updatedAt": al["updatedAt"]}


def seed_assets(app, body):
    owner = _user(app, body.get("user"))
    specs = list(body.get("assets") or [])
    gen = body.get("generate")
    if gen:
        n = int(gen.get("count", 1))
        pattern = gen.get("name", "IMG_%05d.jpg")
        start = int(gen.get("start", 0))
        for i in range(start, start + n):
            spec = {"name": pattern % i, "size": int(gen.get("size", 1024)),
                    "seed": int(gen.get("seed", 7)) * 1_000_003 + i}
            for k in ("album", "albums", "favorite", "trashed", "visibility"):
                if k in gen:
                    spec[k] = gen[k]
            if gen.get("created"):
                d = dt.datetime.fromisoformat(parse_iso(gen["created"]).replace("Z", "+00:00"))
                spec["created"] = fmt_iso(d + dt.timedelta(seconds=int(gen.get("step_seconds", 60)) * (i - start)))
            specs.append(spec)
    out = []
    per_album = {}
    for i, spec in enumerate(specs):
        a, dup = seed_one(app, owner, spec, i)
        album = spec.get("album")
        refs = spec.get("albums") or ([album] if album is not None else [])
        for ref in refs:
            per_album.setdefault(ref, []).append(a["id"])
        out.append((a, dup))
    store = app.store
    with store.lock:
        for ref, ids in per_album.items():
            al = _album_by_ref(app, owner, ref)
            store.add_to_album(al, ids)
        return {"assets": [_asset_summary(app, a, dup) for a, dup in out]}


def seed_album(app, body):
    owner = _user(app, body.get("user"))
    name = body["name"] if "name" in body else body.get("albumName")
    if not isinstance(name, str):  # "" is a name: Immich's DTO only wants a string
        raise ApiError(400, "control API: album needs a name")
    store = app.store
    with store.lock:
        ids = [x for x in body.get("assets", []) if x in store.assets]
        created = parse_iso(body["created"]) if body.get("created") else None
        al = store.create_album(owner["id"], name, body.get("description", ""), ids, created_at=created)
        for sw in body.get("shared_with", []):
            if isinstance(sw, str):
                sw = {"user": sw}
            u = _user(app, sw["user"])
            if u["id"] != owner["id"]:
                al["users"][u["id"]] = sw.get("role", "editor")
        store.changed()
        return _album_summary(app, al)


def state(app, query):
    store = app.store
    with store.lock:
        uid = None
        if query.get("user"):
            uid = _user(app, query["user"])["id"]
        albums = [al for al in store.albums.values()
                  if uid is None or al["ownerId"] == uid or uid in al["users"]]
        assets = [a for a in store.assets.values() if uid is None or a["ownerId"] == uid]
        return {"users": [{"id": u["id"], "email": u["email"], "name": u["name"], "apiKey": u.get("apiKey")}
                          for u in store.users.values()],
                "albums": [_album_summary(app, al) for al in albums],
                "assets": [_asset_summary(app, a) for a in assets]}


def add_user(app, body):
    store = app.store
    email = body.get("email")
    if not email:
        raise ApiError(400, "control API: user needs an email")
    with store.lock:
        u = store.user_by_email(email)
        if u is None:
            ts = now_iso()
            u = {"id": new_id(), "createdAt": ts, "profileChangedAt": ts, "updatedAt": ts}
            store.users[u["id"]] = u
        u.update({"email": email, "password": body.get("password", ""), "apiKey": body.get("apiKey"),
                  "name": body.get("name") or email, "isAdmin": bool(body.get("isAdmin", False))})
        store.key_record(u)
        store.changed()
        return {"id": u["id"], "email": u["email"], "name": u["name"], "apiKey": u["apiKey"]}


def handle(handler, app, path, query):
    method = handler.command
    route = path[len("/_fake"):].rstrip("/") or "/"
    send = handler.send_json
    if route == "/health" and method == "GET":
        return send(200, {"ok": True, "version": "%d.%d.%d" % app.version,
                          "port": handler.server.server_address[1]})
    if route == "/reset" and method == "POST":
        body = _json_body(handler)
        app.store.reset()
        if body.get("stats", True):
            app.stats.reset()
        if body.get("faults", True):
            app.faults.clear()
        app.offline = False
        if body.get("latency", True):
            app.latency = app.args.latency_ms / 1000.0
            app.cost = app.load_cost_model()
        return send(200, {"ok": True})
    if route == "/users" and method == "POST":
        return send(200, add_user(app, _json_body(handler)))
    if route == "/albums" and method == "POST":
        return send(200, seed_album(app, _json_body(handler)))
    if route == "/assets" and method == "POST":
        return send(200, seed_assets(app, _json_body(handler)))
    if route == "/state" and method == "GET":
        return send(200, state(app, query))
    if route == "/stats" and method == "GET":
        out = app.stats.as_dict()
        if app.cost:
            out["cost"] = app.cost.stats()
        return send(200, out)
    if route == "/stats/reset" and method == "POST":
        app.stats.reset()
        return send(200, {"ok": True})
    if route == "/faults":
        if method == "GET":
            return send(200, app.faults.as_list())
        if method == "POST":
            body = _json_body(handler)
            specs = body if isinstance(body, list) else [body]
            try:
                ids = [app.faults.add(s) for s in specs]
            except (ValueError, TypeError) as e:
                raise ApiError(400, "control API: %s" % e)
            return send(200, {"ids": ids, "id": ids[0] if ids else None})
        if method == "DELETE":
            app.faults.clear()
            return send(200, {"ok": True})
    if route == "/latency" and method == "POST":
        body = _json_body(handler)
        app.latency = float(body.get("ms", 0)) / 1000.0
        return send(200, {"ok": True, "ms": app.latency * 1000.0})
    if route == "/cost-model":
        if method == "GET":
            return send(200, {"model": app.cost.doc if app.cost else None,
                              "stats": app.cost.stats() if app.cost else None})
        if method == "POST":
            body = _json_body(handler)
            try:
                app.cost = cost.CostModel(body) if body else None
            except cost.CostError as e:
                raise ApiError(400, "control API: %s" % e)
            return send(200, {"ok": True, "enabled": app.cost is not None})
    if route == "/offline" and method == "POST":
        body = _json_body(handler)
        app.offline = bool(body.get("offline", True))
        return send(200, {"ok": True, "offline": app.offline})
    if route == "/save" and method == "POST":
        app.store.save_now()
        return send(200, {"ok": True})
    raise ApiError(404, "control API: no %s %s" % (method, path))


# --------------------------------------------------------------------------
# Demo library

def _scene(width, height, sky_top, sky_bottom, ground_top, ground_bottom, sun, horizon=0.6):
    hy = int(height * horizon)
    sx, sy, sr = int(width * sun[0]), int(height * sun[1]), int(min(width, height) * sun[2])

    def mix(c1, c2, t):
        return tuple(int(a + (b - a) * t) for a, b in zip(c1, c2))

    def f(x, y):
        if (x - sx) ** 2 + (y - sy) ** 2 <= sr * sr and y < hy:
            return (255, 236, 160)
        if y < hy:
            return mix(sky_top, sky_bottom, y / max(hy - 1, 1))
        wave = 0.08 * math.sin(x / width * 12.0 + y / 9.0)
        t = min(1.0, max(0.0, (y - hy) / max(height - hy - 1, 1) + wave))
        return mix(ground_top, ground_bottom, t)
    return f


DEMO = [
    # (album, file name, date, kind, palette)
    ("Holidays 2024", "IMG_20240714_093012.jpg", "2024-07-14T09:30:12.000Z", "jpeg",
     ((70, 130, 220), (190, 220, 250), (240, 215, 160), (200, 170, 110), (0.75, 0.25, 0.08))),
    ("Holidays 2024", "IMG_20240714_193455.jpg", "2024-07-14T19:34:55.000Z", "jpeg",
     ((60, 40, 110), (250, 140, 70), (30, 60, 110), (10, 20, 50), (0.5, 0.55, 0.1))),
    ("Holidays 2024", "IMG_20240716_121500.jpg", "2024-07-16T12:15:00.000Z", "jpeg",
     ((90, 160, 240), (210, 235, 255), (60, 140, 70), (30, 90, 40), (0.2, 0.2, 0.07))),
    ("Holidays 2024", "VID_20240715_170000.mp4", "2024-07-15T17:00:00.000Z", "mp4", None),
    ("Family", "IMG_20231224_183000.jpg", "2023-12-24T18:30:00.000Z", "jpeg",
     ((20, 30, 70), (60, 70, 130), (230, 230, 240), (180, 190, 210), (0.8, 0.2, 0.05))),
    ("Family", "IMG_20240512_101010.png", "2024-05-12T10:10:10.000Z", "png",
     ((120, 180, 250), (220, 240, 255), (110, 170, 60), (60, 120, 30), (0.3, 0.3, 0.09))),
    ("Pets", "IMG_20250301_081500.jpg", "2025-03-01T08:15:00.000Z", "jpeg",
     ((170, 200, 230), (240, 240, 230), (150, 110, 70), (100, 70, 40), (0.15, 0.3, 0.06))),
    ("Pets", "IMG_20250302_164200.jpg", "2025-03-02T16:42:00.000Z", "jpeg",
     ((200, 120, 90), (250, 200, 150), (90, 130, 60), (50, 80, 30), (0.6, 0.45, 0.12))),
    (None, "IMG_20250410_120000.jpg", "2025-04-10T12:00:00.000Z", "jpeg",
     ((100, 100, 140), (200, 200, 220), (120, 120, 120), (60, 60, 60), (0.5, 0.3, 0.1))),
]


def seed_demo(app):
    store = app.store
    key_file = os.path.join(store.data_dir, "demo-api-key")
    owner = store.resolve_user(None)
    if not store.assets:
        albums = {}
        for i, (album, name, date, kind, pal) in enumerate(DEMO):
            if kind == "mp4":
                data = media.make_mp4(4000, payload_size=64 << 10, seed=i)
                spec = {"duration": 4000}
            else:
                w, h = (1024, 768) if kind == "jpeg" else (480, 360)
                color = _scene(w, h, *pal)
                data = media.make_jpeg(w, h, color) if kind == "jpeg" else media.make_png(w, h, color)
                spec = {}
            spec.update({"name": name, "content_b64": base64.b64encode(data).decode(), "created": date,
                         "favorite": i in (1, 6)})
            a, _ = seed_one(app, owner, spec, i)
            if album:
                albums.setdefault(album, []).append(a["id"])
        with store.lock:
            for n, (name, ids) in enumerate(albums.items()):
                al = _album_by_ref(app, owner, name)
                store.add_to_album(al, ids)
        if store.persist:
            store.save_now()
    with open(key_file, "w") as f:
        f.write(owner["apiKey"] + "\n")
    sys.stderr.write("fake-immich demo: user %s, API key %s (also in %s)\n" % (owner["email"], owner["apiKey"], key_file))
