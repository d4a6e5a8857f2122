"""The cost model (cost.py) is applied: a call takes at least its cost, the
terms are charged per call, per item and per MiB, and calls beyond the token
count wait. Lower bounds only: how much slower a loaded machine makes the
fake is not a property of the model."""

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cost  # noqa: E402
from fake_client import FakeError, FakeImmich, upload_multipart  # noqa: E402

CHECKED_IN = os.path.join(HERE, "cost-real-3.1.json")


@pytest.fixture(scope="module")
def server():
    with FakeImmich() as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()      # also restores the command line's model (none)
    return server


def charged(fake):
    return fake.cost_model_state()["stats"]["charged_s"]


def test_fixed_cost_is_a_lower_bound(fake):
    fake.set_cost_model({"cores": 2, "routes": {"GET /api/server/ping": {"fixed_ms": 300}}})
    t = time.monotonic()
    assert fake.request("GET", "/api/server/ping")[0] == 200
    assert time.monotonic() - t >= 0.3
    assert charged(fake) == pytest.approx(0.3)
    # Other routes cost nothing without a "*" entry.
    fake.request("GET", "/api/server/version")
    assert charged(fake) == pytest.approx(0.3)


def test_default_route_applies_to_the_rest(fake):
    fake.set_cost_model({"cores": 2, "routes": {"*": {"fixed_ms": 50}}})
    fake.request("GET", "/api/server/version")
    fake.api("GET", "/api/albums")
    assert charged(fake) == pytest.approx(0.1)


def test_one_token_serialises_two_calls(fake):
    fake.set_cost_model({"cores": 1, "routes": {"GET /api/server/ping": {"fixed_ms": 300}}})
    done = []

    def call():
        done.append(fake.request("GET", "/api/server/ping")[0])

    t = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert done == [200, 200]
    assert time.monotonic() - t >= 0.6
    # The second call waited for the token the first one held.
    assert fake.cost_model_state()["stats"]["waited_s"] >= 0.25


def test_upload_is_charged_per_mib(fake):
    fake.set_cost_model({"cores": 2, "routes": {"POST /api/assets": {"fixed_ms": 100, "per_mib_ms": 200}}})
    data = os.urandom(2 << 20)
    t = time.monotonic()
    status, body = upload_multipart(fake, "a.jpg", data)
    assert status == 201, body
    assert time.monotonic() - t >= 0.5
    # Every body byte is charged (the form fields around the file too).
    assert 0.5 <= charged(fake) < 0.52


def test_album_add_is_charged_per_id(fake):
    ids = [a["id"] for a in fake.generate(10, size=100)]
    al = fake.seed_album("A")
    fake.set_cost_model({"cores": 2, "routes": {"PUT /api/albums/{id}/assets": {"fixed_ms": 20, "per_item_ms": 30}}})
    t = time.monotonic()
    fake.api("PUT", "/api/albums/%s/assets" % al["id"], {"ids": ids})
    assert time.monotonic() - t >= 0.32
    assert charged(fake) == pytest.approx(0.02 + 10 * 0.03)


def test_bulk_upload_check_is_charged_per_checksum(fake):
    fake.set_cost_model({"cores": 2, "routes": {"POST /api/assets/bulk-upload-check":
                                                 {"fixed_ms": 10, "per_item_ms": 40}}})
    items = [{"id": str(i), "checksum": base64.b64encode(hashlib.sha1(b"%d" % i).digest()).decode()}
             for i in range(5)]
    t = time.monotonic()
    r = fake.api("POST", "/api/assets/bulk-upload-check", {"assets": items})
    assert len(r["results"]) == 5
    assert time.monotonic() - t >= 0.21
    assert charged(fake) == pytest.approx(0.01 + 5 * 0.04)


def test_search_page_is_charged_per_asset_returned(fake):
    al = fake.seed_album("S")
    fake.generate(7, size=100, album=al["id"])
    fake.set_cost_model({"cores": 2, "routes": {"POST /api/search/metadata": {"fixed_ms": 50, "per_item_ms": 20}}})
    r = fake.api("POST", "/api/search/metadata", {"albumIds": [al["id"]], "size": 5, "page": 2})
    assert r["assets"]["count"] == 2
    assert charged(fake) == pytest.approx(0.05 + 2 * 0.02)


def test_original_is_charged_per_mib_sent(fake):
    a = fake.add_asset("v.mp4", size=3 << 20, seed=3)
    fake.set_cost_model({"cores": 2, "routes": {"GET /api/assets/{id}/original":
                                                 {"fixed_ms": 10, "per_mib_ms": 100}}})
    t = time.monotonic()
    status, _, body = fake.request("GET", "/api/assets/%s/original" % a["id"])
    assert status == 200 and len(body) == 3 << 20
    assert time.monotonic() - t >= 0.31
    assert charged(fake) == pytest.approx(0.01 + 0.3)
    # A Range answer pays for what it sends.
    status, _, body = fake.request("GET", "/api/assets/%s/original" % a["id"],
                                   headers={"Range": "bytes=0-524287"})
    assert status == 206 and len(body) == 512 << 10
    assert charged(fake) == pytest.approx(0.31 + 0.01 + 0.05)


def test_switched_off_and_refused(fake):
    fake.set_cost_model({"routes": {"*": {"fixed_ms": 10}}})
    assert fake.cost_model_state()["model"] is not None
    fake.set_cost_model(None)
    assert fake.cost_model_state()["model"] is None
    for bad in ({"cores": 0, "routes": {}}, {"routes": {"GET /api/x": {"fixed_ms": -1}}},
                {"routes": {"ping": {"fixed_ms": 1}}}, {"cores": 2}):
        with pytest.raises(FakeError) as e:
            fake.set_cost_model(bad)
        assert e.value.status == 400


def test_bad_file_is_an_error_naming_the_option(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"routes": {"POST /api/assets": {"per_mib_ms": "fast"}}}')
    r = subprocess.run([sys.executable, os.path.join(HERE, "server.py"), "--data-dir", str(tmp_path / "d"),
                        "--cost-model", str(bad)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "--cost-model" in r.stderr and "per_mib_ms" in r.stderr


def test_checked_in_model_loads_and_names_real_routes():
    with open(CHECKED_IN) as f:
        doc = json.load(f)
    cores, routes = cost.validate(doc)
    assert cores >= 1
    for key in ("POST /api/assets", "PUT /api/albums/{id}/assets", "POST /api/assets/bulk-upload-check",
                "POST /api/search/metadata", "GET /api/assets/{id}", "GET /api/assets/{id}/original"):
        assert key in routes, key
    # Every route it names is one the fake serves.
    import api
    import server
    router = server.Router()
    api.register(router)
    served = {"%s %s" % (m, t) for m, t, _, _, _ in router.routes}
    assert set(routes) - {"*"} <= served
    assert doc.get("calibration", {}).get("command"), "the model says how it was measured"
