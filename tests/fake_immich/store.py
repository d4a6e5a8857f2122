"""In-memory library of the fake Immich, persisted to <data-dir>/state.json.

One RLock guards everything: the fake serves a handful of clients and the
lock is never held across network I/O, so contention is not an issue.
Timestamps are kept as normalised ISO strings ("2024-05-01T10:00:00.000Z")
so that comparing and sorting them is plain string comparison.
"""

import datetime as dt
import json
import os
import shutil
import threading
import time
import uuid

STATE_FILE = "state.json"


# --------------------------------------------------------------------------
# time helpers

def fmt_iso(d):
    return d.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def now_iso():
    return fmt_iso(dt.datetime.now(dt.timezone.utc))


def parse_iso(s):
    """Normalise an ISO 8601 date-time *with* zone; ValueError otherwise
    (the real server's validator also insists on a zone)."""
    if not isinstance(s, str) or "T" not in s:
        raise ValueError("not an ISO date-time")
    d = dt.datetime.fromisoformat(s.replace("z", "Z"))
    if d.tzinfo is None:
        raise ValueError("date-time without zone")
    return fmt_iso(d)


def bump_iso(prev):
    """A timestamp strictly after `prev` (and not before now).

    immichfs treats an unchanged album `updatedAt` as "nothing changed"; two
    edits within one millisecond must therefore still produce two values.
    """
    now = now_iso()
    if prev is None or now > prev:
        return now
    d = dt.datetime.fromisoformat(prev.replace("Z", "+00:00")) + dt.timedelta(milliseconds=1)
    return fmt_iso(d)


def new_id():
    return str(uuid.uuid4())


# --------------------------------------------------------------------------

class Store:
    def __init__(self, data_dir, users, persist=True):
        """users: list of dicts {email, password, apiKey, name, isAdmin}; the
        first one is the default user. persist=False: the library lives in
        memory only (an existing state.json is read, never written, except by
        POST /_fake/save)."""
        self.data_dir = os.path.abspath(data_dir)
        self.lock = threading.RLock()
        self.generation = 0          # bumped on every change; keys the caches
        self.persist = persist
        self.last_save_s = 0.0
        self._save_lock = threading.Lock()   # one writer of state.json at a time
        self._dirty = threading.Event()
        self._stop = False
        self._cli_users = users
        self._load()
        if persist:
            self._saver = threading.Thread(target=self._save_loop, name="state-saver", daemon=True)
            self._saver.start()

    # ---------------------------------------------------------------- state
    def _empty(self):
        self.users = {}       # id -> user dict
        self.tokens = {}      # login access token -> user id
        self.assets = {}      # id -> asset dict
        self.albums = {}      # id -> album dict ("assets": {asset id: None}, ordered)
        self.by_owner = {}    # user id -> {asset id: None}
        self.by_checksum = {}  # (owner id, sha1 hex) -> asset id
        self.asset_albums = {}  # asset id -> set of album ids
        self.search_cache = {}
        self.meta_cache = {}

    def _load(self):
        self._empty()
        path = os.path.join(self.data_dir, STATE_FILE)
        saved = {}
        if os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
        for u in saved.get("users", []):
            self.users[u["id"]] = u
        self.tokens = saved.get("tokens", {})
        # Users given on the command line win over saved ones (keys and
        # passwords may change between runs) but keep their saved ids, so a
        # restarted fake still owns the same library.
        by_email = {u["email"]: u for u in self.users.values()}
        for cu in self._cli_users:
            u = by_email.get(cu["email"])
            if u is None:
                ts = now_iso()
                u = {"id": new_id(), "createdAt": ts, "profileChangedAt": ts, "updatedAt": ts}
                self.users[u["id"]] = u
            u.update(cu)
        for u in self.users.values():
            self.key_record(u)
        self.default_user_id = next(u["id"] for u in self.users.values() if u["email"] == self._cli_users[0]["email"])
        for a in saved.get("assets", []):
            self._index_asset(a)
        for al in saved.get("albums", []):
            al["assets"] = dict.fromkeys(al["assets"])
            self.albums[al["id"]] = al
            for aid in al["assets"]:
                self.asset_albums.setdefault(aid, set()).add(al["id"])
        os.makedirs(os.path.join(self.data_dir, "tmp"), exist_ok=True)
        self.changed()

    def _index_asset(self, a):
        self.assets[a["id"]] = a
        self.by_owner.setdefault(a["ownerId"], {})[a["id"]] = None
        self.by_checksum[(a["ownerId"], a["checksum"])] = a["id"]

    def changed(self):
        """Call (under the lock) after every mutation."""
        self.generation += 1
        self.search_cache.clear()
        self._dirty.set()

    def _snapshot(self):
        """References to the state, taken under the lock in a few ms even
        for 100 000 assets: the asset dicts themselves are not copied (they
        are encoded later, outside the lock; a change racing with that is
        re-saved by the next round, as it set the dirty flag again)."""
        with self.lock:
            return {
                "users": [dict(u) for u in self.users.values()],
                "tokens": dict(self.tokens),
                "assets": list(self.assets.values()),
                "albums": [dict(al, assets=list(al["assets"]), users=dict(al["users"]))
                           for al in self.albums.values()],
            }

    def save_now(self):
        """Write state.json (atomically: a reader sees the old or the new file)."""
        with self._save_lock:
            t = time.monotonic()
            snap = self._snapshot()
            path = os.path.join(self.data_dir, STATE_FILE)
            tmp = path + ".tmp"
            enc = json.JSONEncoder(separators=(",", ":")).encode
            with open(tmp, "w") as f:
                f.write('{"format":1,"users":%s,"tokens":%s,"albums":%s,"assets":['
                        % (enc(snap["users"]), enc(snap["tokens"]), enc(snap["albums"])))
                # In slices: the GIL is released between them, so requests
                # keep being served while a big library is encoded.
                assets = snap["assets"]
                for i in range(0, len(assets), 500):
                    f.write(("," if i else "") + enc(assets[i:i + 500])[1:-1])
                f.write("]}")
            os.replace(tmp, path)
            self.last_save_s = time.monotonic() - t

    def _save_loop(self):
        # Debounced: wait until changes pause for 50 ms (or 1 s passed), so a
        # burst of requests costs one write of the state file. Throttled:
        # after a save that took T, the next one waits until 10 T have
        # passed, so a big library costs the saver at most ~10 % of the time
        # (a clean stop saves the latest state anyway).
        while not self._stop:
            self._dirty.wait()
            first = time.monotonic()
            while True:
                self._dirty.clear()
                time.sleep(0.05)
                if not self._dirty.is_set() or time.monotonic() - first > 1.0:
                    break
            if self._stop:
                break
            try:
                self.save_now()
            except OSError:
                pass
            pause = 9 * self.last_save_s
            if pause > 0.05:
                time.sleep(pause)

    def close(self):
        """Final save (clean stop), unless persistence is off."""
        self._stop = True
        self._dirty.set()
        if self.persist:
            self.save_now()

    def reset(self):
        with self.lock:
            for sub in ("upload", "tmp"):
                shutil.rmtree(os.path.join(self.data_dir, sub), ignore_errors=True)
            users = {uid: u for uid, u in self.users.items()}
            self._empty()
            self.users = users
            os.makedirs(os.path.join(self.data_dir, "tmp"), exist_ok=True)
            self.changed()

    # ---------------------------------------------------------------- users
    def user_by_api_key(self, key):
        for u in self.users.values():
            if u.get("apiKey") == key:
                return u
        return None

    def key_record(self, u):
        """The user's API key as GET /api/api-keys/me shows it (ApiKeyResponseDto
        fields, permission "all"); a new id and dates whenever the key itself
        changes. Call under the lock (or before serving)."""
        rec = u.get("apiKeyRecord")
        if u.get("apiKey") and (rec is None or rec.get("key") != u["apiKey"]):
            ts = now_iso()
            rec = {"key": u["apiKey"], "id": new_id(), "name": "API Key", "createdAt": ts, "updatedAt": ts,
                   "permissions": ["all"]}
            u["apiKeyRecord"] = rec
            self.changed()
        return rec

    def api_key_record(self, u):
        with self.lock:
            return self.key_record(u)

    def user_by_email(self, email):
        for u in self.users.values():
            if u["email"].lower() == str(email).lower():
                return u
        return None

    def resolve_user(self, ref):
        """ref: user id, email or None (default user)."""
        if ref is None:
            return self.users[self.default_user_id]
        return self.users.get(ref) or self.user_by_email(ref)

    def login(self, email, password):
        u = self.user_by_email(email)
        if u is None or u.get("password") != password:
            return None, None
        token = uuid.uuid4().hex + uuid.uuid4().hex
        with self.lock:
            self.tokens[token] = u["id"]
            self.changed()
        return u, token

    def usage(self, user_id):
        return sum(self.assets[a]["size"] for a in self.by_owner.get(user_id, ()))

    # ---------------------------------------------------------------- assets
    def disk_path(self, asset):
        return os.path.join(self.data_dir, asset["path"])

    def rel_path_for(self, owner_id, asset_id, ext):
        return os.path.join("upload", owner_id, asset_id[0:2], asset_id[2:4], asset_id + ext)

    def find_checksum(self, owner_id, sha1hex):
        aid = self.by_checksum.get((owner_id, sha1hex))
        return self.assets.get(aid) if aid else None

    def add_asset(self, asset):
        """Insert a fully built asset dict (file already in place)."""
        with self.lock:
            self._index_asset(asset)
            self.changed()
        return asset

    def can_read(self, user_id, asset):
        """Owner, or a member of an album holding the asset."""
        if asset["ownerId"] == user_id:
            return True
        for alid in self.asset_albums.get(asset["id"], ()):
            al = self.albums.get(alid)
            if al and (al["ownerId"] == user_id or user_id in al["users"]):
                return True
        return False

    def touch_asset(self, asset):
        asset["updatedAt"] = bump_iso(asset["updatedAt"])

    def _touch_albums_of(self, asset_id):
        for alid in self.asset_albums.get(asset_id, ()):
            al = self.albums[alid]
            al["updatedAt"] = bump_iso(al["updatedAt"])
            self._fix_thumbnail(al)

    def trash(self, ids):
        with self.lock:
            ts = now_iso()
            for aid in ids:
                a = self.assets[aid]
                a["deletedAt"] = ts
                self.touch_asset(a)
                self._touch_albums_of(aid)
            self.changed()

    def restore(self, ids):
        with self.lock:
            for aid in ids:
                a = self.assets[aid]
                if a["deletedAt"] is not None:
                    a["deletedAt"] = None
                    self.touch_asset(a)
                    self._touch_albums_of(aid)
            self.changed()

    def remove(self, ids):
        """Delete for good: index entries, album membership, file on disk."""
        with self.lock:
            for aid in list(ids):
                a = self.assets.pop(aid, None)
                if a is None:
                    continue
                self.by_owner.get(a["ownerId"], {}).pop(aid, None)
                if self.by_checksum.get((a["ownerId"], a["checksum"])) == aid:
                    del self.by_checksum[(a["ownerId"], a["checksum"])]
                for alid in self.asset_albums.pop(aid, set()):
                    al = self.albums[alid]
                    al["assets"].pop(aid, None)
                    al["updatedAt"] = bump_iso(al["updatedAt"])
                    self._fix_thumbnail(al)
                try:
                    os.unlink(self.disk_path(a))
                except OSError:
                    pass
                # Like the real server: the hidden motion part of a live photo
                # goes too once no still refers to it.
                motion = a.get("livePhotoVideoId")
                if motion and motion in self.assets and not any(
                        x.get("livePhotoVideoId") == motion for x in self.assets.values()):
                    self.remove([motion])
            self.changed()

    # ---------------------------------------------------------------- albums
    def album_role(self, album, user_id):
        if album["ownerId"] == user_id:
            return "owner"
        return album["users"].get(user_id)

    def create_album(self, owner_id, name, description="", asset_ids=(), created_at=None):
        with self.lock:
            ts = created_at or now_iso()
            al = {"id": new_id(), "ownerId": owner_id, "albumName": name, "description": description or "",
                  "createdAt": ts, "updatedAt": ts, "albumThumbnailAssetId": None, "assets": {},
                  "users": {}, "isActivityEnabled": True, "order": "desc"}
            self.albums[al["id"]] = al
            for aid in asset_ids:
                self._link(al, aid)
            if al["assets"]:
                al["albumThumbnailAssetId"] = next(iter(al["assets"]))
            self.changed()
            return al

    def _link(self, al, aid):
        al["assets"][aid] = None
        self.asset_albums.setdefault(aid, set()).add(al["id"])

    def add_to_album(self, al, ids):
        """Returns the ids actually added (the caller did the access checks)."""
        with self.lock:
            added = [aid for aid in ids if aid not in al["assets"]]
            for aid in added:
                self._link(al, aid)
            if added:
                al["updatedAt"] = bump_iso(al["updatedAt"])
                if al["albumThumbnailAssetId"] is None:
                    al["albumThumbnailAssetId"] = added[0]
                self.changed()
            return added

    def remove_from_album(self, al, ids):
        with self.lock:
            removed = [aid for aid in ids if aid in al["assets"]]
            for aid in removed:
                del al["assets"][aid]
                self.asset_albums.get(aid, set()).discard(al["id"])
            if removed:
                al["updatedAt"] = bump_iso(al["updatedAt"])
                self._fix_thumbnail(al)
                self.changed()
            return removed

    def _fix_thumbnail(self, al):
        # Mirrors updateThumbnails(): the thumbnail must be a live member; a
        # replacement is the newest (by fileCreatedAt) live member.
        live = [self.assets[a] for a in al["assets"] if a in self.assets and self.assets[a]["deletedAt"] is None]
        if al["albumThumbnailAssetId"] in {a["id"] for a in live}:
            return
        al["albumThumbnailAssetId"] = max(live, key=lambda a: a["fileCreatedAt"])["id"] if live else None

    def update_album(self, al, **fields):
        with self.lock:
            for k, v in fields.items():
                if v is not None:
                    al[k] = v
            al["updatedAt"] = bump_iso(al["updatedAt"])
            self.changed()

    def delete_album(self, al):
        with self.lock:
            for aid in al["assets"]:
                self.asset_albums.get(aid, set()).discard(al["id"])
            del self.albums[al["id"]]
            self.changed()

    def album_meta(self, al):
        """assetCount / date range / last modified over the album's live
        timeline+archive assets, as getMetadataForIds computes them."""
        hit = self.meta_cache.get(al["id"])
        if hit and hit[0] == self.generation:
            return hit[1]
        count = 0
        start = end = last = None
        for aid in al["assets"]:
            a = self.assets.get(aid)
            if a is None or a["deletedAt"] is not None or a["visibility"] not in ("timeline", "archive"):
                continue
            count += 1
            ldt = a["localDateTime"]
            start = ldt if start is None or ldt < start else start
            end = ldt if end is None or ldt > end else end
            last = a["updatedAt"] if last is None or a["updatedAt"] > last else last
        meta = {"assetCount": count, "startDate": start, "endDate": end, "lastModified": last}
        self.meta_cache[al["id"]] = (self.generation, meta)
        return meta

    def albums_of_user(self, user_id):
        return [al for al in self.albums.values() if al["ownerId"] == user_id or user_id in al["users"]]

    # ---------------------------------------------------------------- search
    def search_ids(self, user_id, f):
        """Ids matching the normalised filter dict `f`, sorted; cached per
        generation so paging through a big album sorts once."""
        key = (user_id, json.dumps(f, sort_keys=True))
        with self.lock:
            hit = self.search_cache.get(key)
            if hit is not None:
                return hit
            # With albumIds, 3.1 returns every asset of the album, also those
            # other users added to a shared album (immich-app/immich#30585:
            # only /search/smart and /search/random are owner-only); the
            # handler has checked album access. Without, only the caller's.
            in_albums = bool(f.get("albumIds"))
            if in_albums:
                sets = [self.albums[x]["assets"] if x in self.albums else {} for x in f["albumIds"]]
                cand = [a for a in sets[0] if all(a in s for s in sets[1:])]
            else:
                cand = self.by_owner.get(user_id, {})
            out = []
            # No visibility filter unless asked (searchAssetBuilder), except
            # that locked assets need an elevated session.
            vis = f.get("visibility")
            trashed = f.get("isTrashed")
            with_deleted = f.get("withDeleted") or f.get("trashedAfter") or f.get("trashedBefore") or trashed
            for aid in cand:
                a = self.assets.get(aid)
                if a is None or (a["ownerId"] != user_id and not in_albums):
                    continue
                if (a["visibility"] != vis) if vis else a["visibility"] == "locked":
                    continue
                if a["deletedAt"] is not None and not with_deleted:
                    continue
                if trashed is not None and (a["deletedAt"] is not None) != trashed:
                    continue
                if not _match(a, f, self.asset_albums):
                    continue
                out.append(a)
            desc = f.get("order", "desc") != "asc"
            out.sort(key=lambda a: (a["fileCreatedAt"], a["id"]), reverse=desc)
            ids = [a["id"] for a in out]
            self.search_cache[key] = ids
            return ids

    def statistics(self, user_id, is_trashed=None, is_favorite=None, visibility=None):
        images = videos = 0
        for aid in self.by_owner.get(user_id, ()):
            a = self.assets[aid]
            if (a["deletedAt"] is not None) != bool(is_trashed):
                continue
            if visibility is not None and a["visibility"] != visibility:
                continue
            if visibility is None and a["visibility"] not in ("timeline", "archive"):
                continue
            if is_favorite is not None and a["isFavorite"] != is_favorite:
                continue
            if a["type"] == "IMAGE":
                images += 1
            elif a["type"] == "VIDEO":
                videos += 1
        return {"images": images, "videos": videos, "total": images + videos}


def _match(a, f, asset_albums):
    """The searchAssetBuilder() filters immichfs can send."""
    if f.get("id") and a["id"] != f["id"]:
        return False
    if f.get("checksum") and a["checksum"] != f["checksum"]:
        return False
    if f.get("type") and a["type"] != f["type"]:
        return False
    if f.get("isFavorite") is not None and a["isFavorite"] != f["isFavorite"]:
        return False
    if f.get("isMotion") is not None and bool(a.get("livePhotoVideoId")) != f["isMotion"]:
        return False
    if f.get("originalFileName") and f["originalFileName"].lower() not in a["originalFileName"].lower():
        return False
    if f.get("deviceId") and a.get("deviceId") != f["deviceId"]:
        return False
    if f.get("deviceAssetId") and a.get("deviceAssetId") != f["deviceAssetId"]:
        return False
    if f.get("isNotInAlbum") and not f.get("albumIds") and asset_albums.get(a["id"]):
        return False
    for key, field, op in (("takenAfter", "fileCreatedAt", ">="), ("takenBefore", "fileCreatedAt", "<="),
                           ("createdAfter", "createdAt", ">="), ("createdBefore", "createdAt", "<="),
                           ("updatedAfter", "updatedAt", ">="), ("updatedBefore", "updatedAt", "<="),
                           ("trashedAfter", "deletedAt", ">="), ("trashedBefore", "deletedAt", "<=")):
        bound = f.get(key)
        if bound:
            v = a[field]
            if v is None or (v < bound if op == ">=" else v > bound):
                return False
    return True
