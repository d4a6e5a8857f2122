"""JSON shapes of users, assets and albums, field for field (and in the same
key order) as the recorded Immich 3.1 answers; 2.x differences are kept
here so the handlers stay version-agnostic."""

import base64


def pg_time(iso):
    """'2024-05-01T10:00:00.000Z' -> '2024-05-01T10:00:00+00:00', the form
    Postgres JSON aggregates use (exifInfo dates, album startDate on PATCH)."""
    if iso is None:
        return None
    base, ms = iso[:19], iso[20:23]
    ms = ms.rstrip("0")
    return base + ("." + ms if ms else "") + "+00:00"


def pg_time_us(iso):
    """Microsecond form used inside nested user objects."""
    return iso[:19] + "." + iso[20:23] + "000+00:00"


def day_start(iso):
    return iso[:10] + "T00:00:00.000Z"


def user_small(u):
    return {"id": u["id"], "email": u["email"], "name": u["name"], "profileImagePath": "",
            "avatarColor": "gray", "profileChangedAt": pg_time_us(u["profileChangedAt"])}


def user_admin(u, usage):
    return {"id": u["id"], "email": u["email"], "name": u["name"], "profileImagePath": "",
            "avatarColor": "gray", "profileChangedAt": u["profileChangedAt"],
            "storageLabel": "admin" if u.get("isAdmin") else None, "shouldChangePassword": False,
            "isAdmin": bool(u.get("isAdmin")), "createdAt": u["createdAt"], "deletedAt": None,
            "updatedAt": u["updatedAt"], "oauthId": "", "quotaSizeInBytes": None,
            "quotaUsageInBytes": usage, "status": "active", "license": None}


def _exif(a):
    return {"make": None, "model": None, "exifImageWidth": a.get("width"), "exifImageHeight": a.get("height"),
            "fileSizeInByte": a["size"], "orientation": None, "dateTimeOriginal": pg_time(a["fileCreatedAt"]),
            "modifyDate": pg_time(a["fileModifiedAt"]), "timeZone": None, "lensModel": None, "fNumber": None,
            "focalLength": None, "iso": None, "exposureTime": None, "latitude": None, "longitude": None,
            "city": None, "state": None, "country": None, "description": a.get("description", ""),
            "projectionType": None, "rating": None}


def _duration(a, major):
    ms = a.get("duration")
    if major >= 3:
        return ms
    # 2.x sends a "H:MM:SS.ffffff" string, zero for stills.
    ms = ms or 0
    return "%d:%02d:%02d.%06d" % (ms // 3600000, ms // 60000 % 60, ms // 1000 % 60, ms % 1000 * 1000)


def asset(a, store, major, full=True, with_exif=True):
    """full=True: GET /api/assets/{id}; False: a search result item."""
    out = {"id": a["id"], "createdAt": a["createdAt"], "ownerId": a["ownerId"]}
    if full:
        out["owner"] = user_small(store.users[a["ownerId"]])
    out.update({
        "libraryId": None, "type": a["type"], "originalPath": "/data/" + a["path"],
        "originalFileName": a["originalFileName"], "originalMimeType": a["mime"],
        "thumbhash": a.get("thumbhash"), "fileCreatedAt": a["fileCreatedAt"],
        "fileModifiedAt": a["fileModifiedAt"], "localDateTime": a["localDateTime"],
        "updatedAt": a["updatedAt"], "isFavorite": a["isFavorite"], "isArchived": a["visibility"] == "archive",
        "isTrashed": a["deletedAt"] is not None, "visibility": a["visibility"], "duration": _duration(a, major),
    })
    if with_exif:
        out["exifInfo"] = _exif(a)
    out["livePhotoVideoId"] = a.get("livePhotoVideoId")
    if full:
        out["tags"] = []
    out["people"] = []
    out["checksum"] = base64.b64encode(bytes.fromhex(a["checksum"])).decode()
    if full:
        out["stack"] = None
    out.update({"isOffline": False, "hasMetadata": True, "duplicateId": None, "resized": True,
                "width": a.get("width"), "height": a.get("height"), "isEdited": False})
    if major < 3:
        out["deviceAssetId"] = a.get("deviceAssetId") or ""
        out["deviceId"] = a.get("deviceId") or ""
    return out


def album(al, store, viewer_id, major, mode):
    """mode: 'list' (GET /albums), 'get' (GET /albums/{id}), 'write'
    (answers of POST and PATCH, built from the album row plus its assets)."""
    owner = store.users[al["ownerId"]]
    # 3.x: owner first, then the viewer, then the others by name.
    others = sorted(((store.users[uid], role) for uid, role in al["users"].items() if uid in store.users),
                    key=lambda ur: (ur[0]["id"] != viewer_id, ur[0]["name"]))
    shared = len(others) > 0
    out = {"albumName": al["albumName"], "description": al["description"],
           "albumThumbnailAssetId": al["albumThumbnailAssetId"], "createdAt": al["createdAt"],
           "updatedAt": al["updatedAt"], "id": al["id"]}
    if major >= 3:
        out["albumUsers"] = [{"user": user_small(owner), "role": "owner"}] + [
            {"user": user_small(u), "role": role} for u, role in others]
    else:
        out["ownerId"] = owner["id"]
        out["owner"] = user_small(owner)
        out["albumUsers"] = [{"user": user_small(u), "role": role} for u, role in others]
    out["shared"] = shared
    out["hasSharedLink"] = False
    meta = store.album_meta(al)
    if mode == "write":
        # mapAlbum() over the loaded rows: exact timestamps, no
        # lastModifiedAssetTimestamp.
        if meta["assetCount"]:
            out["startDate"] = pg_time(meta["startDate"])
            out["endDate"] = pg_time(meta["endDate"])
    elif meta["assetCount"]:
        out["startDate"] = day_start(meta["startDate"])
        out["endDate"] = day_start(meta["endDate"])
    if major < 3:
        out["assets"] = []
    out["assetCount"] = meta["assetCount"]
    out["isActivityEnabled"] = al["isActivityEnabled"]
    out["order"] = al["order"]
    if mode != "write" and meta["assetCount"]:
        out["lastModifiedAssetTimestamp"] = meta["lastModified"]
    if mode == "get" and shared and major >= 3:
        counts = {}
        for aid in al["assets"]:
            a = store.assets.get(aid)
            if a and a["deletedAt"] is None:
                counts[a["ownerId"]] = counts.get(a["ownerId"], 0) + 1
        out["contributorCounts"] = [{"userId": k, "assetCount": v}
                                    for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    return out
