"""Route handlers of the fake Immich REST API.

Every handler is `func(app, req) -> (status, json_obj)` or STREAMED when it
wrote its own response (originals, thumbnails).  Status codes, messages and
shapes follow the real Immich 3.1 server as recorded in
tests/data/immich-api-responses/; 2.x differences live in views.py and in
the few `app.major < 3` branches below.
"""

import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import os
import shutil
import urllib.parse

import media
import views
from common import STREAMED, ApiError, Validator, is_uuid
from store import new_id, now_iso, parse_iso
from upload import FileSink, boundary_of, image_size, parse_multipart, remove_quietly

# ---------------------------------------------------------------- constants

SERVER_FEATURES = {
    "smartSearch": False, "facialRecognition": False, "duplicateDetection": False, "map": True,
    "reverseGeocoding": False, "importFaces": False, "sidecar": True, "search": True, "trash": True,
    "oauth": False, "oauthAutoLaunch": False, "ocr": False, "passwordLogin": True, "configFile": False,
    "email": False, "realtimeTranscoding": False,
}

SERVER_CONFIG = {
    "loginPageMessage": "", "trashDays": 30, "userDeleteDelay": 7, "oauthButtonText": "Login with OAuth",
    "isInitialized": True, "isOnboarded": False, "externalDomain": "", "publicUsers": True,
    "mapDarkStyleUrl": "https://tiles.immich.cloud/v1/style/dark.json",
    "mapLightStyleUrl": "https://tiles.immich.cloud/v1/style/light.json", "maintenanceMode": False,
    "minFaces": 3,
}

CACHE_CONTROL = "private, max-age=86400, no-transform, stale-while-revalidate=2592000, stale-if-error=2592000"


# ---------------------------------------------------------------- helpers

def _bool(value):
    """Query-string boolean as the server's zod coercion reads it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    v = str(value).lower()
    if v == "true":
        return True
    if v == "false":
        return False
    return None


def _uuid_param(value, name="id"):
    v = Validator()
    v.uuid(value, [name])
    v.check()


def _ids_body(body, key="ids"):
    v = Validator()
    ids = body.get(key)
    if ids is None:
        v.type(None, "array", [key])
    else:
        v.uuids(ids, [key])
    v.check()
    return list(ids)


def checksum_hex(value):
    """A checksum as the client may send it (base64 of 20 bytes, or hex) ->
    lowercase hex, or None when it cannot be decoded."""
    if not isinstance(value, str) or not value:
        return None
    try:
        raw = base64.b64decode(value, validate=True) if len(value) == 28 else bytes.fromhex(value)
    except (ValueError, binascii.Error):
        return None
    return raw.hex()


def _thumbhash(sha1hex):
    return base64.b64encode(hashlib.sha1(sha1hex.encode()).digest() + b"\x00").decode()


def _http_date(iso):
    d = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return email.utils.format_datetime(d.astimezone(dt.timezone.utc), usegmt=True)


def _etag(asset):
    d = dt.datetime.fromisoformat(asset["fileModifiedAt"].replace("Z", "+00:00"))
    return 'W/"%x-%x"' % (asset["size"], int(d.timestamp() * 1000))


def _human(n):
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    v = float(n)
    i = 0
    while v >= 1024 and i < len(units) - 1:
        v /= 1024
        i += 1
    return "%.1f %s" % (v, units[i])


def _readable_asset(app, user, aid, permission="read"):
    a = app.store.assets.get(aid)
    if a is None or not app.store.can_read(user["id"], a):
        raise ApiError(400, "Not found or no asset.%s access" % permission)
    return a


def _owned_assets(app, user, ids, permission):
    """All ids must be the user's own assets (asset.delete / asset.update ...)."""
    out = []
    for aid in ids:
        a = app.store.assets.get(aid)
        if a is None or a["ownerId"] != user["id"]:
            raise ApiError(400, "Not found or no asset.%s access" % permission)
        out.append(a)
    return out


def _album_for(app, user, alid, permission="read", roles=("owner", "editor", "viewer")):
    _uuid_param(alid)
    al = app.store.albums.get(alid)
    if al is None or app.store.album_role(al, user["id"]) not in roles:
        raise ApiError(400, "Not found or no album.%s access" % permission)
    return al


def create_asset(app, owner, src_path, sha1hex, size, head, filename, created, modified,
                 favorite=False, visibility="timeline", duration=None, live_photo_video_id=None,
                 description="", device_asset_id=None, device_id=None, uploaded_at=None):
    """Insert a new asset whose content is at src_path (moved into place).
    Caller holds no lock; returns the asset dict."""
    store = app.store
    aid = new_id()
    ext = media.extension(filename)
    rel = store.rel_path_for(owner["id"], aid, ext)
    dest = os.path.join(store.data_dir, rel)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    os.replace(src_path, dest)
    width, height = image_size(head) if head else (None, None)
    atype = media.asset_type(filename) or "IMAGE"
    ts = uploaded_at or now_iso()
    a = {
        "id": aid, "ownerId": owner["id"], "checksum": sha1hex, "path": rel, "size": size,
        "type": atype, "mime": media.mime_type(filename), "originalFileName": filename,
        "fileCreatedAt": created, "fileModifiedAt": modified, "localDateTime": created,
        "createdAt": ts, "updatedAt": ts, "isFavorite": bool(favorite), "visibility": visibility,
        "deletedAt": None, "duration": duration if atype == "VIDEO" else None,
        "width": width, "height": height, "thumbhash": _thumbhash(sha1hex),
        "livePhotoVideoId": live_photo_video_id, "description": description or "",
        "deviceAssetId": device_asset_id, "deviceId": device_id,
    }
    with store.lock:
        store.add_asset(a)
        if live_photo_video_id and live_photo_video_id in store.assets:
            motion = store.assets[live_photo_video_id]
            if motion["ownerId"] == owner["id"]:
                motion["visibility"] = "hidden"
                store.touch_asset(motion)
                store.changed()
    return a


# ---------------------------------------------------------------- server

def server_version(app, req):
    out = {"major": app.version[0], "minor": app.version[1], "patch": app.version[2]}
    if app.major >= 3:
        out["prerelease"] = None
    return 200, out


def server_ping(app, req):
    return 200, {"res": "pong"}


def server_media_types(app, req):
    return 200, media.MEDIA_TYPES


def server_features(app, req):
    return 200, SERVER_FEATURES


def server_config(app, req):
    return 200, SERVER_CONFIG


def server_about(app, req):
    v = "v%d.%d.%d" % app.version
    return 200, {"version": v, "versionUrl": "https://github.com/immich-app/immich/releases/tag/" + v,
                 "licensed": False, "nodejs": "v24.15.0", "exiftool": "13.59",
                 "ffmpeg": "5.1.9-0+deb12u1", "libvips": "8.17.3", "imagemagick": ""}


def server_storage(app, req):
    st = os.statvfs(app.store.data_dir)
    size = st.f_blocks * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    use = size - st.f_bfree * st.f_frsize
    pct = round(use / size * 100, 2) if size else 0
    return 200, {"diskAvailable": _human(avail), "diskSize": _human(size), "diskUse": _human(use),
                 "diskAvailableRaw": avail, "diskSizeRaw": size, "diskUseRaw": use,
                 "diskUsagePercentage": float(pct)}


# ---------------------------------------------------------------- users / auth

def users_me(app, req):
    with app.store.lock:
        return 200, views.user_admin(req.user, app.store.usage(req.user["id"]))


def api_keys_me(app, req):
    # ApiKeyService.getMine: a login session has no key to show.
    if req.api_key is None:
        raise ApiError(403, "Not authenticated with an API Key")
    rec = req.api_key
    return 200, {"id": rec["id"], "name": rec["name"], "createdAt": rec["createdAt"],
                 "updatedAt": rec["updatedAt"], "permissions": list(rec["permissions"])}


def auth_login(app, req):
    body = req.json()
    v = Validator()
    if not isinstance(body.get("email"), str):
        v.type(body.get("email"), "string", ["email"])
    if not isinstance(body.get("password"), str):
        v.type(body.get("password"), "string", ["password"])
    v.check()
    u, token = app.store.login(body["email"], body["password"])
    if u is None:
        raise ApiError(401, "Incorrect email or password")
    return 201, {"accessToken": token, "userId": u["id"], "userEmail": u["email"], "name": u["name"],
                 "isAdmin": bool(u.get("isAdmin")), "profileImagePath": "", "shouldChangePassword": False,
                 "isOnboarded": False}


def auth_logout(app, req):
    auth = req.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        with app.store.lock:
            app.store.tokens.pop(auth[7:].strip(), None)
            app.store.changed()
    return 200, {"successful": True, "redirectUri": "/auth/login"}


def auth_validate(app, req):
    return 200, {"authStatus": True}


# ---------------------------------------------------------------- albums

def albums_list(app, req):
    store = app.store
    uid = req.user["id"]
    q = req.query
    with store.lock:
        if q.get("assetId"):
            _uuid_param(q["assetId"], "assetId")
            ids = store.asset_albums.get(q["assetId"], set())
            albums = [store.albums[x] for x in ids if x in store.albums
                      and store.album_role(store.albums[x], uid) is not None]
        elif app.major < 3:
            shared = _bool(q.get("shared"))
            if shared is True:
                albums = [al for al in store.albums_of_user(uid)
                          if al["ownerId"] != uid or al["users"]]
            elif shared is False:
                albums = [al for al in store.albums.values() if al["ownerId"] == uid and not al["users"]]
            else:
                albums = [al for al in store.albums.values() if al["ownerId"] == uid]
        else:
            albums = store.albums_of_user(uid)
            owned = _bool(q.get("isOwned"))
            if owned is not None:
                albums = [al for al in albums if (al["ownerId"] == uid) == owned]
            shared = _bool(q.get("isShared"))
            if shared is not None:
                albums = [al for al in albums if bool(al["users"]) == shared]
            if q.get("name") is not None:
                albums = [al for al in albums if al["albumName"] == q["name"]]
            if q.get("id"):
                albums = [al for al in albums if al["id"] == q["id"]]
        albums = sorted(albums, key=lambda al: (al["createdAt"], al["id"]), reverse=True)
        return 200, [views.album(al, store, uid, app.major, "list") for al in albums]


def album_create(app, req):
    body = req.json()
    v = Validator()
    name = body.get("albumName")
    if not isinstance(name, str):
        v.type(name, "string", ["albumName"])
    asset_ids = body.get("assetIds") or []
    v.uuids(asset_ids, ["assetIds"])
    users = body.get("albumUsers") or []
    for i, au in enumerate(users):
        v.uuid((au or {}).get("userId"), ["albumUsers", i, "userId"])
    v.check()
    store = app.store
    uid = req.user["id"]
    with store.lock:
        for aid in asset_ids:
            a = store.assets.get(aid)
            if a is None or not store.can_read(uid, a):
                raise ApiError(400, "Not found or no asset.share access")
        for au in users:
            if au["userId"] not in store.users:
                raise ApiError(400, "User not found")
            if au["userId"] == uid:
                raise ApiError(400, "Cannot share album with owner")
        al = store.create_album(uid, name, body.get("description") or "", asset_ids)
        for au in users:
            al["users"][au["userId"]] = au.get("role") or "editor"
        store.changed()
        return 201, views.album(al, store, uid, app.major, "write")


def album_get(app, req):
    store = app.store
    with store.lock:
        al = _album_for(app, req.user, req.params["id"], "read")
        out = views.album(al, store, req.user["id"], app.major, "get")
        if app.major < 3 and _bool(req.query.get("withoutAssets")) is not True:
            items = [store.assets[a] for a in al["assets"] if a in store.assets
                     and store.assets[a]["deletedAt"] is None]
            items.sort(key=lambda a: (a["fileCreatedAt"], a["id"]), reverse=al["order"] != "asc")
            out["assets"] = [views.asset(a, store, app.major, full=False) for a in items]
        return 200, out


def album_update(app, req):
    body = req.json()
    store = app.store
    with store.lock:
        al = _album_for(app, req.user, req.params["id"], "update", roles=("owner",))
        v = Validator()
        if "albumName" in body and not isinstance(body["albumName"], str):
            v.type(body["albumName"], "string", ["albumName"])
        thumb = body.get("albumThumbnailAssetId")
        if thumb is not None:
            v.uuid(thumb, ["albumThumbnailAssetId"])
        if body.get("order") not in (None, "asc", "desc"):
            v.custom({"code": "invalid_value", "values": ["asc", "desc"], "path": ["order"],
                      "message": 'Invalid option: expected one of "asc"|"desc"'}, "order must be asc or desc")
        v.check()
        if thumb is not None and thumb not in al["assets"]:
            raise ApiError(400, "Invalid album thumbnail")
        store.update_album(al, albumName=body.get("albumName"), description=body.get("description"),
                           albumThumbnailAssetId=thumb, isActivityEnabled=body.get("isActivityEnabled"),
                           order=body.get("order"))
        return 200, views.album(al, store, req.user["id"], app.major, "write")


def album_delete(app, req):
    store = app.store
    with store.lock:
        al = _album_for(app, req.user, req.params["id"], "delete", roles=("owner",))
        store.delete_album(al)
    return 204, None


def album_add_assets(app, req):
    body = req.json()
    store = app.store
    uid = req.user["id"]
    with store.lock:
        al = _album_for(app, req.user, req.params["id"], "read")
        if store.album_role(al, uid) == "viewer":
            raise ApiError(400, "Not found or no albumAsset.create access")
        ids = _ids_body(body)
        out = []
        seen = set()
        to_add = []
        for aid in ids:
            if aid in al["assets"] or aid in seen:
                out.append({"id": aid, "success": False, "error": "duplicate"})
                continue
            a = store.assets.get(aid)
            if a is None or not store.can_read(uid, a):
                out.append({"id": aid, "success": False, "error": "no_permission"})
                continue
            seen.add(aid)
            to_add.append(aid)
            out.append({"id": aid, "success": True})
        if to_add:
            store.add_to_album(al, to_add)
        return 200, out


def album_remove_assets(app, req):
    body = req.json()
    store = app.store
    uid = req.user["id"]
    with store.lock:
        al = _album_for(app, req.user, req.params["id"], "read")
        role = store.album_role(al, uid)
        if role == "viewer":
            raise ApiError(400, "Not found or no albumAsset.delete access")
        ids = _ids_body(body)
        out = []
        remove = []
        for aid in ids:
            if aid not in al["assets"] or aid in remove:
                out.append({"id": aid, "success": False, "error": "not_found"})
                continue
            a = store.assets.get(aid)
            if role != "owner" and (a is None or a["ownerId"] != uid):
                out.append({"id": aid, "success": False, "error": "no_permission"})
                continue
            remove.append(aid)
            out.append({"id": aid, "success": True})
        if remove:
            store.remove_from_album(al, remove)
        return 200, out


def albums_add_assets_bulk(app, req):
    body = req.json()
    v = Validator()
    v.uuids(body.get("albumIds"), ["albumIds"])
    v.uuids(body.get("assetIds"), ["assetIds"])
    v.check()
    store = app.store
    uid = req.user["id"]
    with store.lock:
        added_any = False
        for alid in body["albumIds"]:
            al = store.albums.get(alid)
            if al is None or store.album_role(al, uid) not in ("owner", "editor"):
                return 200, {"success": False, "error": "no_permission"}
        for aid in body["assetIds"]:
            a = store.assets.get(aid)
            if a is None or not store.can_read(uid, a):
                return 200, {"success": False, "error": "no_permission"}
        for alid in body["albumIds"]:
            if store.add_to_album(store.albums[alid], body["assetIds"]):
                added_any = True
        if not added_any:
            return 200, {"success": False, "error": "duplicate"}
        return 200, {"success": True}


def album_add_users(app, req):
    body = req.json()
    store = app.store
    with store.lock:
        al = _album_for(app, req.user, req.params["id"], "share", roles=("owner",))
        users = body.get("albumUsers") or []
        v = Validator()
        for i, au in enumerate(users):
            v.uuid((au or {}).get("userId"), ["albumUsers", i, "userId"])
        v.check()
        for au in users:
            if au["userId"] not in store.users:
                raise ApiError(400, "User not found")
            if au["userId"] == al["ownerId"]:
                raise ApiError(400, "Cannot be shared with owner")
            if au["userId"] in al["users"]:
                raise ApiError(400, "User already added")
        for au in users:
            al["users"][au["userId"]] = au.get("role") or "editor"
        store.update_album(al)
        return 200, views.album(al, store, req.user["id"], app.major, "write")


def album_remove_user(app, req):
    store = app.store
    with store.lock:
        al = _album_for(app, req.user, req.params["id"], "read")
        target = req.params["userId"]
        if target == "me":
            target = req.user["id"]
        if target != req.user["id"] and store.album_role(al, req.user["id"]) != "owner":
            raise ApiError(400, "Not found or no album.share access")
        if target not in al["users"]:
            raise ApiError(400, "Album not shared with user")
        del al["users"][target]
        store.update_album(al)
    return 204, None


# ---------------------------------------------------------------- search

def _filter_from(body):
    f = {}
    for key in ("id", "type", "originalFileName", "deviceId", "deviceAssetId", "order"):
        if body.get(key) is not None:
            f[key] = body[key]
    for key in ("isFavorite", "isMotion", "isNotInAlbum", "withDeleted", "isTrashed"):
        if body.get(key) is not None:
            f[key] = bool(body[key])
    for key in ("takenAfter", "takenBefore", "createdAfter", "createdBefore", "updatedAfter",
                "updatedBefore", "trashedAfter", "trashedBefore"):
        if body.get(key):
            try:
                f[key] = parse_iso(body[key])
            except ValueError:
                v = Validator()
                v.datetime(body[key], [key])
                v.check()
    if body.get("visibility"):
        f["visibility"] = body["visibility"]
    if body.get("albumIds"):
        f["albumIds"] = list(body["albumIds"])
    if body.get("checksum"):
        f["checksum"] = checksum_hex(body["checksum"]) or "-"
    return f


def search_metadata(app, req):
    body = req.json()
    v = Validator()
    page = body.get("page", 1)
    size = body.get("size", 250)
    if page is not None and (not isinstance(page, int) or isinstance(page, bool) or page < 1):
        v.custom({"origin": "number", "code": "too_small", "minimum": 1, "inclusive": True, "path": ["page"],
                  "message": "Too small: expected number to be >=1"}, "page must not be less than 1")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 1000):
        v.custom({"origin": "number", "code": "too_big" if isinstance(size, int) and size > 1000 else "too_small",
                  "path": ["size"], "message": "Invalid size"}, "size must be between 1 and 1000")
    if body.get("albumIds") is not None:
        v.uuids(body["albumIds"], ["albumIds"])
    if body.get("visibility") not in (None, "archive", "timeline", "hidden", "locked"):
        v.custom({"code": "invalid_value", "values": ["archive", "timeline", "hidden", "locked"],
                  "path": ["visibility"], "message": "Invalid option"}, "visibility must be an enum")
    v.check()
    page = page or 1
    req.handler.search_page = page  # for the endless_next fault (hostile.py)
    size = size or 250
    f = _filter_from(body)
    store = app.store
    with store.lock:
        for alid in f.get("albumIds") or ():
            _album_for(app, req.user, alid)   # 400 "Not found or no album.read access"
        ids = store.search_ids(req.user["id"], f)
        start = (page - 1) * size
        chunk = ids[start:start + size]
        items = [views.asset(store.assets[a], store, app.major, full=False, with_exif=bool(body.get("withExif")))
                 for a in chunk]
    next_page = str(page + 1) if start + size < len(ids) else None
    return 200, {"albums": {"total": 0, "count": 0, "items": [], "facets": []},
                 "assets": {"total": len(items), "count": len(items), "items": items, "facets": [],
                            "nextPage": next_page}}


# ---------------------------------------------------------------- assets

def asset_get(app, req):
    aid = req.params["id"]
    _uuid_param(aid)
    with app.store.lock:
        a = _readable_asset(app, req.user, aid)
        return 200, views.asset(a, app.store, app.major, full=True)


def asset_update(app, req):
    aid = req.params["id"]
    _uuid_param(aid)
    body = req.json()
    store = app.store
    with store.lock:
        a = _owned_assets(app, req.user, [aid], "update")[0]
        _apply_update(app, a, body)
        store.changed()
        return 200, views.asset(a, store, app.major, full=True)


def _apply_update(app, a, body):
    store = app.store
    if body.get("isFavorite") is not None:
        a["isFavorite"] = bool(body["isFavorite"])
    if body.get("visibility") in ("archive", "timeline", "hidden", "locked"):
        a["visibility"] = body["visibility"]
    if body.get("isArchived") is not None:  # 1.x/2.x spelling
        a["visibility"] = "archive" if body["isArchived"] else "timeline"
    if body.get("description") is not None:
        a["description"] = str(body["description"])
    if body.get("dateTimeOriginal"):
        try:
            a["fileCreatedAt"] = a["localDateTime"] = parse_iso(body["dateTimeOriginal"])
        except ValueError:
            pass
    if "livePhotoVideoId" in body:
        a["livePhotoVideoId"] = body["livePhotoVideoId"]
    store.touch_asset(a)
    store._touch_albums_of(a["id"])


def assets_update_bulk(app, req):
    body = req.json()
    ids = _ids_body(body)
    store = app.store
    with store.lock:
        assets = _owned_assets(app, req.user, ids, "update")
        for a in assets:
            _apply_update(app, a, body)
        store.changed()
    return 204, None


def assets_delete(app, req):
    body = req.json()
    ids = _ids_body(body)
    store = app.store
    with store.lock:
        _owned_assets(app, req.user, ids, "delete")
        if body.get("force"):
            store.remove(ids)
        else:
            store.trash(ids)
    return 204, None


def assets_statistics(app, req):
    q = req.query
    vis = q.get("visibility")
    with app.store.lock:
        return 200, app.store.statistics(req.user["id"], is_trashed=_bool(q.get("isTrashed")),
                                         is_favorite=_bool(q.get("isFavorite")), visibility=vis)


def assets_copy(app, req):
    body = req.json()
    v = Validator()
    v.uuid(body.get("sourceId"), ["sourceId"])
    v.uuid(body.get("targetId"), ["targetId"])
    v.check()
    store = app.store
    with store.lock:
        src, dst = _owned_assets(app, req.user, [body["sourceId"], body["targetId"]], "copy")
        if src["id"] == dst["id"]:
            raise ApiError(400, "Source and target id must be distinct")
        if body.get("albums", True):
            for alid in list(store.asset_albums.get(src["id"], ())):
                al = store.albums.get(alid)
                if al is not None:
                    store.add_to_album(al, [dst["id"]])
        if body.get("favorite", True):
            dst["isFavorite"] = src["isFavorite"]
            store.touch_asset(dst)
        store.changed()
    return 204, None


def bulk_upload_check(app, req):
    body = req.json()
    items = body.get("assets")
    v = Validator()
    if not isinstance(items, list):
        v.type(items, "array", ["assets"])
    else:
        for i, it in enumerate(items):
            if not isinstance(it, dict) or not isinstance(it.get("id"), str):
                v.type(None, "string", ["assets", i, "id"])
            if not isinstance(it, dict) or not isinstance(it.get("checksum"), str):
                v.type(None, "string", ["assets", i, "checksum"])
    v.check()
    store = app.store
    out = []
    with store.lock:
        for it in items:
            hx = checksum_hex(it["checksum"])
            a = store.find_checksum(req.user["id"], hx) if hx else None
            if a is None:
                out.append({"id": it["id"], "action": "accept"})
            else:
                out.append({"id": it["id"], "action": "reject", "reason": "duplicate", "assetId": a["id"],
                            "isTrashed": a["deletedAt"] is not None})
    return 200, {"results": out}


class _Discard:
    size = 0
    head = b""

    def write(self, mv):
        pass

    def close(self):
        pass


def asset_upload(app, req):
    store = app.store
    user = req.user
    req.body.counter = lambda n: app.stats.add("upload_bytes", n)
    # The checksum header lets the server answer before the body arrives.
    hdr = req.headers.get("x-immich-checksum")
    if hdr:
        hx = checksum_hex(hdr)
        with store.lock:
            dup = store.find_checksum(user["id"], hx) if hx else None
        if dup is not None:
            app.stats.add("uploads_duplicate")
            return 200, {"status": "duplicate", "id": dup["id"]}
    boundary = boundary_of(req.headers.get("content-type"))
    if boundary is None:
        raise ApiError(400, "Multipart: Boundary not found")
    tmp = os.path.join(store.data_dir, "tmp", new_id() + ".part")
    state = {}

    def open_file(name, filename):
        if name == "assetData":
            if media.asset_type(filename) is None:
                state["bad"] = filename
                return _Discard()
            s = FileSink(tmp)
            state["sink"] = s
            state["filename"] = filename
            return s
        return _Discard()

    try:
        fields, files = parse_multipart(req.body, boundary, open_file)
    except Exception:
        remove_quietly(tmp)
        raise
    try:
        if "bad" in state:
            raise ApiError(400, "Unsupported file type %s" % state["bad"])
        v = Validator()
        dates = {}
        for key in ("fileCreatedAt", "fileModifiedAt"):
            try:
                dates[key] = parse_iso(fields.get(key))
            except (ValueError, TypeError):
                v.datetime(fields.get(key), [key])
        if app.major < 3:
            for key in ("deviceAssetId", "deviceId"):
                if not fields.get(key):
                    v.custom({"expected": "string", "code": "invalid_type", "path": [key],
                              "message": "Invalid input: expected string, received undefined"},
                             "%s should not be empty" % key)
        live = fields.get("livePhotoVideoId")
        if live:
            v.uuid(live, ["livePhotoVideoId"])
        v.check()
        sink = state.get("sink")
        if sink is None:
            raise ApiError(400, "Asset file is required")
        sha1hex = sink.sha1.hexdigest()
        filename = fields.get("filename") or state["filename"]
        with store.lock:
            dup = store.find_checksum(user["id"], sha1hex)
            if dup is None:
                a = create_asset(app, user, tmp, sha1hex, sink.size, sink.head, filename,
                                 dates["fileCreatedAt"], dates["fileModifiedAt"],
                                 favorite=fields.get("isFavorite") == "true",
                                 visibility=fields.get("visibility") or "timeline",
                                 duration=int(fields["duration"]) if (fields.get("duration") or "").isdigit() else None,
                                 live_photo_video_id=live or None,
                                 device_asset_id=fields.get("deviceAssetId"), device_id=fields.get("deviceId"))
        if dup is not None:
            app.stats.add("uploads_duplicate")
            return 200, {"status": "duplicate", "id": dup["id"]}
        app.stats.add("uploads")
        return 201, {"id": a["id"], "status": "created"}
    finally:
        remove_quietly(tmp)


def _parse_range(value, size):
    """'bytes=a-b' -> (start, end) inclusive; 'past' when it starts past the
    end; None when absent or not a single satisfiable-looking range."""
    if not value or not value.startswith("bytes=") or "," in value:
        return None
    spec = value[6:].strip()
    a, _, b = spec.partition("-")
    try:
        if a == "":
            n = int(b)
            if n <= 0:
                return "past"
            return max(0, size - n), size - 1
        start = int(a)
        end = int(b) if b else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return "past"
    return start, min(end, size - 1)


def asset_original(app, req):
    aid = req.params["id"]
    _uuid_param(aid)
    with app.store.lock:
        a = dict(_readable_asset(app, req.user, aid))
    path = app.store.disk_path(a)
    size = a["size"]
    h = req.handler
    headers = [("Cache-Control", CACHE_CONTROL), ("Content-Type", a["mime"]),
               ("Content-Disposition", "inline; filename*=UTF-8''" + urllib.parse.quote(a["originalFileName"])),
               ("Accept-Ranges", "bytes"), ("Last-Modified", _http_date(a["fileModifiedAt"])),
               ("ETag", _etag(a))]
    rng = _parse_range(req.headers.get("range"), size)
    if rng is not None and req.headers.get("if-range") not in (None, headers[-1][1], headers[-2][1]):
        rng = None
    if rng == "past":
        body = b'{"message":"Not Found"}'
        headers[1] = ("Content-Type", a["mime"] + "; charset=utf-8")
        h.send_bytes(404, body, headers + [("Content-Range", "bytes */%d" % size)])
        return STREAMED
    if rng is None:
        h.send_file(200, headers, path, 0, size)
    else:
        start, end = rng
        h.send_file(206, headers + [("Content-Range", "bytes %d-%d/%d" % (start, end, size))],
                    path, start, end - start + 1)
    return STREAMED


def asset_thumbnail(app, req):
    aid = req.params["id"]
    _uuid_param(aid)
    with app.store.lock:
        a = _readable_asset(app, req.user, aid)
        key = a["checksum"]
    data = media.thumbnail_jpeg(key)
    req.handler.send_bytes(200, data, [("Cache-Control", CACHE_CONTROL), ("Content-Type", "image/jpeg")])
    return STREAMED


# ---------------------------------------------------------------- trash

def trash_restore_assets(app, req):
    body = req.json()
    ids = _ids_body(body)
    store = app.store
    with store.lock:
        _owned_assets(app, req.user, ids, "delete")
        store.restore(ids)
    return 200, {"count": len(ids)}


def _trashed_of(store, uid):
    return [aid for aid in store.by_owner.get(uid, ()) if store.assets[aid]["deletedAt"] is not None]


def trash_restore_all(app, req):
    store = app.store
    with store.lock:
        ids = _trashed_of(store, req.user["id"])
        store.restore(ids)
    return 200, {"count": len(ids)}


def trash_empty(app, req):
    store = app.store
    with store.lock:
        ids = _trashed_of(store, req.user["id"])
        store.remove(ids)
    return 200, {"count": len(ids)}


# ---------------------------------------------------------------- timeline

def _timeline_assets(app, req):
    q = req.query
    store = app.store
    uid = req.user["id"]
    if q.get("albumId"):
        al = _album_for(app, req.user, q["albumId"], "read")
        cand = [store.assets[a] for a in al["assets"] if a in store.assets]
    else:
        cand = [store.assets[a] for a in store.by_owner.get(uid, ())]
    trashed = _bool(q.get("isTrashed")) or False
    fav = _bool(q.get("isFavorite"))
    vis = q.get("visibility")
    out = []
    for a in cand:
        if (a["deletedAt"] is not None) != trashed:
            continue
        if fav is not None and a["isFavorite"] != fav:
            continue
        if vis and a["visibility"] != vis:
            continue
        if not vis and a["visibility"] not in ("timeline", "archive" if q.get("albumId") else "timeline"):
            continue
        out.append(a)
    out.sort(key=lambda a: (a["localDateTime"], a["id"]), reverse=q.get("order", "desc") != "asc")
    return out


def timeline_buckets(app, req):
    with app.store.lock:
        assets = _timeline_assets(app, req)
    counts = {}
    for a in assets:
        b = a["localDateTime"][:7] + "-01"
        counts[b] = counts.get(b, 0) + 1
    return 200, [{"timeBucket": k, "count": v} for k, v in counts.items()]


def timeline_bucket(app, req):
    tb = (req.query.get("timeBucket") or "")[:7]
    with app.store.lock:
        assets = [a for a in _timeline_assets(app, req) if a["localDateTime"][:7] == tb]
    cols = {k: [] for k in ("duration", "id", "visibility", "isFavorite", "isImage", "isTrashed",
                            "livePhotoVideoId", "fileCreatedAt", "localOffsetHours", "createdAt", "ownerId",
                            "projectionType", "ratio", "status", "thumbhash", "city", "country")}
    for a in assets:
        cols["duration"].append(None if a.get("duration") is None else str(a["duration"]))
        cols["id"].append(a["id"])
        cols["visibility"].append(a["visibility"])
        cols["isFavorite"].append(a["isFavorite"])
        cols["isImage"].append(a["type"] == "IMAGE")
        cols["isTrashed"].append(a["deletedAt"] is not None)
        cols["livePhotoVideoId"].append(a.get("livePhotoVideoId"))
        cols["fileCreatedAt"].append(a["fileCreatedAt"][:19])
        cols["localOffsetHours"].append(0)
        cols["createdAt"].append(a["createdAt"][:23] + "000")
        cols["ownerId"].append(a["ownerId"])
        cols["projectionType"].append(None)
        w, h = a.get("width"), a.get("height")
        cols["ratio"].append(round(w / h, 3) if w and h else 1.0)
        cols["status"].append("active")
        cols["thumbhash"].append(a.get("thumbhash"))
        cols["city"].append(None)
        cols["country"].append(None)
    return 200, cols


# ---------------------------------------------------------------- registry

def register(router):
    add = router.add
    add("GET", "/api/server/version", server_version, auth=False)
    add("GET", "/api/server/ping", server_ping, auth=False)
    add("GET", "/api/server/media-types", server_media_types, auth=False)
    add("GET", "/api/server/features", server_features, auth=False)
    add("GET", "/api/server/config", server_config, auth=False)
    add("GET", "/api/server/about", server_about)
    add("GET", "/api/server/storage", server_storage)
    add("GET", "/api/users/me", users_me)
    add("GET", "/api/api-keys/me", api_keys_me)
    add("POST", "/api/auth/login", auth_login, auth=False)
    add("POST", "/api/auth/logout", auth_logout)
    add("POST", "/api/auth/validateToken", auth_validate)

    add("GET", "/api/albums", albums_list)
    add("POST", "/api/albums", album_create)
    add("PUT", "/api/albums/assets", albums_add_assets_bulk)
    add("GET", "/api/albums/{id}", album_get)
    add("PATCH", "/api/albums/{id}", album_update)
    add("DELETE", "/api/albums/{id}", album_delete)
    add("PUT", "/api/albums/{id}/assets", album_add_assets)
    add("DELETE", "/api/albums/{id}/assets", album_remove_assets)
    add("PUT", "/api/albums/{id}/users", album_add_users)
    add("DELETE", "/api/albums/{id}/user/{userId}", album_remove_user)

    add("POST", "/api/search/metadata", search_metadata)

    add("POST", "/api/assets", asset_upload)
    add("PUT", "/api/assets", assets_update_bulk)
    add("DELETE", "/api/assets", assets_delete)
    add("POST", "/api/assets/bulk-upload-check", bulk_upload_check)
    add("GET", "/api/assets/statistics", assets_statistics)
    add("PUT", "/api/assets/copy", assets_copy)
    add("GET", "/api/assets/{id}", asset_get)
    add("PUT", "/api/assets/{id}", asset_update)
    add("GET", "/api/assets/{id}/original", asset_original)
    add("GET", "/api/assets/{id}/thumbnail", asset_thumbnail)

    add("POST", "/api/trash/restore/assets", trash_restore_assets)
    add("POST", "/api/trash/restore", trash_restore_all)
    add("POST", "/api/trash/empty", trash_empty)

    add("GET", "/api/timeline/buckets", timeline_buckets)
    add("GET", "/api/timeline/bucket", timeline_bucket)
