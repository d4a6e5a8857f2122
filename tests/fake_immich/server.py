#!/usr/bin/python3
"""A stateful fake Immich server for the immichfs tests (standard library only).

    server.py --port 0 --port-file PATH --data-dir DIR --api-key KEY
              [--user EMAIL:PASSWORD:APIKEY:NAME]... [--latency-ms N]
              [--version 3.1.0] [--demo] [--no-persist] [--quiet]

Answers the Immich REST routes immichfs uses with the real server's status
codes and JSON shapes (checked by test_conformance.py against responses
recorded from Immich 3.1), serves originals with sendfile and Range, parses
uploads as a stream, and has a control API under /_fake/ (see control.py)
for seeding data, injecting faults and reading counters.
"""

import argparse
import json
import os
import re
import signal
import socket
import string
import random
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import api  # noqa: E402
import control  # noqa: E402
import cost  # noqa: E402
import hostile  # noqa: E402
from common import STREAMED, ApiError  # noqa: E402
from store import Store  # noqa: E402
from upload import Body, BodyError  # noqa: E402


class Request:
    def __init__(self, handler, method, path, query, params):
        self.handler = handler
        self.method = method
        self.path = path
        self.query = query
        self.params = params
        self.headers = handler.headers
        self.body = handler.body
        self.user = None
        self.api_key = None   # the user's key record when the caller used an API key (not a session)
        self.parsed = None    # the JSON body once json() read it (for the cost model's item counts)

    def json(self):
        raw = self.body.read_all()
        if not raw:
            self.parsed = {}
            return self.parsed
        try:
            self.parsed = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Unexpected token in JSON at position 0")
        return self.parsed


class Router:
    def __init__(self):
        self.routes = []

    def add(self, method, template, func, auth=True):
        pattern = "^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
        self.routes.append((method, template, re.compile(pattern), func, auth))

    def match(self, method, path):
        lookup = "GET" if method == "HEAD" else method
        for m, template, rx, func, auth in self.routes:
            if m == lookup:
                hit = rx.match(path)
                if hit:
                    return template, func, auth, {k: unquote(v) for k, v in hit.groupdict().items()}
        return None, None, None, None


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = {}
            self.connections_opened = 0
            self.connections_accepted = 0
            self.upload_bytes = 0
            self.uploads = 0
            self.uploads_duplicate = 0
            self.download_bytes = 0

    def add(self, field, n=1):
        with self.lock:
            setattr(self, field, getattr(self, field) + n)

    def request(self, key):
        with self.lock:
            self.requests[key] = self.requests.get(key, 0) + 1

    def as_dict(self):
        with self.lock:
            return {"requests": dict(self.requests), "connections_opened": self.connections_opened,
                    "connections_accepted": self.connections_accepted,
                    "upload_bytes": self.upload_bytes, "uploads": self.uploads,
                    "uploads_duplicate": self.uploads_duplicate, "download_bytes": self.download_bytes,
                    "requests_total": sum(self.requests.values())}


class Faults:
    """Fault switches: the first live fault whose regex matches
    'METHOD /path' fires; count -1 means forever."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []
        self.next_id = 1

    def add(self, spec):
        kind = spec.get("kind")
        if kind not in ("delay", "status", "drop", "truncate") + hostile.KINDS:
            raise ValueError("kind must be delay, status, drop, truncate or one of "
                             + ", ".join(hostile.KINDS))
        f = dict(spec)  # hostile kinds keep their own fields (hostile.py)
        f.update({"id": self.next_id, "route": spec.get("route", ".*"), "kind": kind,
             "delay_ms": int(spec.get("delay_ms", 0)), "status": int(spec.get("status", 500 if kind == "status" else 200)),
             "count": int(spec.get("count", -1)), "after_bytes": int(spec.get("after_bytes", 0))})
        f["rx"] = re.compile(f["route"])
        with self.lock:
            self.next_id += 1
            self.items.append(f)
        return f["id"]

    def clear(self):
        with self.lock:
            self.items = []

    def take(self, key):
        with self.lock:
            for f in self.items:
                if f["count"] != 0 and f["rx"].search(key):
                    if f["count"] > 0:
                        f["count"] -= 1
                    return dict(f)
        return None

    def as_list(self):
        with self.lock:
            return [{k: v for k, v in f.items() if k != "rx"} for f in self.items]


class App:
    def __init__(self, args):
        self.args = args
        self.version = tuple(int(x) for x in args.version.lstrip("v").split(".")[:3])
        self.major = self.version[0]
        self.latency = args.latency_ms / 1000.0
        self.cost = self.load_cost_model()
        self.quiet = args.quiet
        self.offline = False
        self.stats = Stats()
        self.faults = Faults()
        self.router = Router()
        api.register(self.router)
        users = [{"email": "admin@example.com", "password": "admin", "apiKey": args.api_key,
                  "name": "Admin", "isAdmin": True}]
        for spec in args.user:
            email, password, key, name = (spec.split(":", 3) + ["", "", ""])[:4]
            users.append({"email": email, "password": password, "apiKey": key, "name": name or email,
                          "isAdmin": False})
        os.makedirs(args.data_dir, exist_ok=True)
        self.store = Store(args.data_dir, users, persist=not args.no_persist)

    def load_cost_model(self):
        """The --cost-model file's model, or None."""
        return cost.CostModel.load(self.args.cost_model) if self.args.cost_model else None

    def authenticate(self, headers, query):
        """-> (user, API key record or None for a login session)."""
        auth = headers.get("authorization", "")
        token = (headers.get("x-immich-user-token") or (auth[7:].strip() if auth.lower().startswith("bearer ")
                                                        else None))
        if not token:
            m = re.search(r"immich_access_token=([^;\s]+)", headers.get("cookie", ""))
            token = m.group(1) if m else None
        if token:
            uid = self.store.tokens.get(token)
            if uid is None or uid not in self.store.users:
                raise ApiError(401, "Invalid user token")
            return self.store.users[uid], None
        key = headers.get("x-api-key") or query.get("apiKey")
        if key:
            u = self.store.user_by_api_key(key)
            if u is None:
                raise ApiError(401, "Invalid API key")
            return u, self.store.api_key_record(u)
        raise ApiError(401, "Authentication required")

    def error_body(self, e, correlation_id):
        if self.major >= 3:
            # 3.x GlobalExceptionFilter keeps only the message (plus the zod
            # issues for validation errors).
            body = {"message": e.message}
            if e.errors is not None:
                body["errors"] = e.errors
            return body
        # 2.x: Nest's default body; validation errors are class-validator
        # message lists.
        return {"message": e.v2 if e.v2 is not None else e.message, "error": HTTPStatus(e.status).phrase, "statusCode": e.status,
                "correlationId": correlation_id}


def _cid():
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=8))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-immich"

    def setup(self):
        self.timeout = self.server.app.args.keepalive_timeout  # like node's keepAliveTimeout
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.app.stats.add("connections_accepted")
        self._counted = False  # connections_opened counts those carrying /api requests

    def log_message(self, fmt, *args):
        if not self.server.app.quiet:
            sys.stderr.write("fake-immich %s - %s\n" % (self.address_string(), fmt % args))

    # ------------------------------------------------------------ responses
    def _head(self, status, headers):
        app = self.server.app
        lines = ["HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase), "X-Powered-By: Express",
                 "X-Correlation-ID: " + _cid()]
        lines += ["%s: %s" % kv for kv in headers]
        lines.append("Date: " + self.date_time_string())
        if self.close_connection:
            lines.append("Connection: close")
        else:
            lines.append("Connection: keep-alive")
            lines.append("Keep-Alive: timeout=%d" % app.args.keepalive_timeout)
        self.log_request(status)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _write_body(self, head, body):
        """Headers and a small body in one send; honours a truncate fault."""
        if self.command == "HEAD":
            body = b""
        if hostile.write(self, head, body):
            return
        cut = self.truncate_after
        if cut is not None and cut < len(body):
            self.wfile.write(head + body[:cut])
            self._hang_up()
            return
        self.wfile.write(head + body)

    def send_json(self, status, obj, headers=()):
        if status == 204:
            self._write_body(self._head(204, list(headers)), b"")
            return
        body = hostile.encode(self, status, obj)
        hdrs = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", len(body))]
        self._write_body(self._head(status, hdrs + list(headers)), body)

    def send_bytes(self, status, data, headers):
        hdrs = list(headers) + [("Content-Length", len(data))]
        self._write_body(self._head(status, hdrs), data)

    def send_file(self, status, headers, path, offset, count):
        """Headers, then `count` bytes of `path` from `offset` by sendfile."""
        self.wfile.write(self._head(status, list(headers) + [("Content-Length", count)]))
        if self.command == "HEAD" or count == 0:
            return
        limit = count if self.truncate_after is None else min(count, self.truncate_after)
        sent = 0
        model, entry = self.cost_model, self.cost_entry
        try:
            with open(path, "rb") as f:
                if model and entry and entry["per_mib_ms"]:
                    # The cost model's per-MiB charge before each piece: the
                    # client sees the server's pace, not the fake's.
                    while sent < limit:
                        n = min(1 << 20, limit - sent)
                        model.bytes(entry, n)
                        k = self.connection.sendfile(f, offset + sent, n)
                        sent += k
                        if k < n:
                            break
                else:
                    sent = self.connection.sendfile(f, offset, limit)
        finally:
            self.server.app.stats.add("download_bytes", sent)
        if limit < count:
            self._hang_up()

    def _hang_up(self):
        """Close the connection now (drop / truncate faults, offline mode)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ------------------------------------------------------------- dispatch
    def _make_body(self):
        te = self.headers.get("transfer-encoding", "").lower()
        length = int(self.headers.get("content-length") or 0)
        return Body(self.rfile, length=length, chunked="chunked" in te)

    def _dispatch(self):
        app = self.server.app
        # The keep-alive timeout applies to idle connections only; a slow
        # reader or writer inside a request gets much longer.
        self.connection.settimeout(app.args.io_timeout)
        try:
            self._dispatch2(app)
        finally:
            if not self.close_connection:
                try:
                    self.connection.settimeout(app.args.keepalive_timeout)
                except OSError:
                    pass

    def _dispatch2(self, app):
        self.truncate_after = None
        self.hostile = None
        self.cost_model = self.cost_entry = None
        self.body = self._make_body()
        url = urlsplit(self.path)
        path = url.path
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            if path.startswith("/_fake/") or path == "/_fake":
                control.handle(self, app, path, query)
            elif path.startswith("/api/") or path == "/api":
                self._api(app, path, query)
            elif path == "/.well-known/immich" and self.command in ("GET", "HEAD"):
                # API discovery (the official CLI asks it first), as AppController answers.
                self.send_json(200, {"api": {"endpoint": "/api"}})
            else:
                raise ApiError(404, "Cannot %s %s" % (self.command, path))
        except ApiError as e:
            cid = _cid()
            self.send_json(e.status, app.error_body(e, cid))
        except BodyError:
            self._hang_up()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        finally:
            self._finish_body()

    def _api(self, app, path, query):
        if not self._counted:
            self._counted = True
            app.stats.add("connections_opened")
        if app.offline:
            self._hang_up()
            return
        template, func, needs_auth, params = app.router.match(self.command, path)
        key = "%s %s" % (self.command, path)
        app.stats.request("%s %s" % (self.command, template or path))
        fault = app.faults.take(key)
        if fault and self._fault(fault):
            return
        if app.latency:
            time.sleep(app.latency)
        model = app.cost
        if model:
            entry = self.cost_entry = model.route(self.command, template)
            self.cost_model = model
            model.fixed(entry)
            if entry and entry["per_mib_ms"]:
                self.body.meter = lambda n: model.bytes(entry, n)
        if func is None:
            raise ApiError(404, "Cannot %s %s" % (self.command, path))
        req = Request(self, self.command, path, query, params)
        if needs_auth:
            req.user, req.api_key = app.authenticate(self.headers, query)
        result = func(app, req)
        if model and entry and entry["per_item_ms"]:
            model.items(entry, cost.count_items(template, self.command, req.parsed, result))
        if result is not STREAMED:
            status, obj = result
            self.send_json(status, obj)

    def _fault(self, f):
        """Apply a fault; True when the request is finished by it."""
        if f["kind"] == "delay":
            time.sleep(f["delay_ms"] / 1000.0)
            return False
        if f["kind"] in hostile.KINDS:
            return hostile.begin(self, f)
        if f["kind"] == "truncate":
            self.truncate_after = f["after_bytes"]
            return False
        if f["kind"] == "drop":
            # Optionally swallow part of the request body first, to fail an
            # upload in the middle.
            left = f["after_bytes"]
            while left > 0 and self.body.read(min(left, 1 << 20)):
                left -= 1 << 20
            self._hang_up()
            return True
        self.body.drain()
        status = f["status"]
        self.send_json(status, {"message": HTTPStatus(status).phrase if status != 500 else "Internal server error"})
        return True

    def _finish_body(self):
        # Keep-alive needs the whole request body consumed; big leftovers
        # (an upload refused early) are cheaper to cut off.
        if self.close_connection or self.body.done:
            return
        if not self.body.chunked and self.body.remaining > (64 << 20):
            self._hang_up()
            return
        try:
            self.body.drain()
        except (BodyError, OSError):
            self._hang_up()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def parse_args(argv):
    p = argparse.ArgumentParser(description="Fake Immich server for the immichfs tests")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", help="write the bound port here once listening")
    p.add_argument("--data-dir", required=True, help="originals and state.json live here")
    p.add_argument("--api-key", default="fake-immich-key", help="API key of the default user")
    p.add_argument("--user", action="append", default=[], metavar="EMAIL:PASSWORD:APIKEY:NAME",
                   help="an extra user (repeatable)")
    p.add_argument("--latency-ms", type=float, default=0, help="sleep this long in every /api request")
    p.add_argument("--cost-model", metavar="FILE.json",
                   help="per-route costs and a CPU token pool (cost.py; e.g. cost-real-3.1.json)")
    p.add_argument("--version", default="3.1.0", help="Immich version to imitate (3.x or 2.x)")
    p.add_argument("--keepalive-timeout", type=int, default=5, help="idle keep-alive seconds, like node")
    p.add_argument("--io-timeout", type=float, default=300, help="socket timeout while a request is served")
    p.add_argument("--demo", action="store_true", help="seed a demo library if the data dir is empty")
    p.add_argument("--no-persist", action="store_true",
                   help="keep the library in memory only: never write state.json (except POST /_fake/save)")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        app = App(args)
    except cost.CostError as e:
        sys.stderr.write("fake-immich: %s\n" % e)
        sys.exit(2)
    if args.demo:
        control.seed_demo(app)
    httpd = Server((args.host, args.port), Handler)
    httpd.app = app
    port = httpd.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    if not args.quiet:
        sys.stderr.write("fake-immich %s listening on http://%s:%d\n" % (args.version, args.host, port))

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    stop.wait()
    httpd.shutdown()
    app.store.close()  # flush the debounced state file before exiting


if __name__ == "__main__":
    main()
