"""The hostile fault kinds (hostile.py) do what README.md says."""

import gzip
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fake_client import FakeImmich  # noqa: E402

SEARCH = "POST /api/search/metadata"


@pytest.fixture(scope="module")
def server():
    with FakeImmich() as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    album = server.seed_album("A")
    server.add_asset("a.jpg", content=b"aaa", album=album["id"])
    server.add_asset("b.jpg", content=b"bbbb", album=album["id"])
    return server, album


def page(fake, album, n=1, headers=None):
    body = {"albumIds": [album["id"]], "withExif": True, "size": 1000, "page": n}
    return fake.request("POST", "/api/search/metadata", body, headers=headers)


def test_deep_is_gzipped_when_accepted(fake):
    f, album = fake
    f.fault(SEARCH, "deep", count=2, depth=1000)
    status, headers, body = page(f, album, headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == b"[" * 1000 + b"]" * 1000
    status, headers, body = page(f, album)
    assert status == 200 and "content-encoding" not in headers
    assert body == b"[" * 1000 + b"]" * 1000


def test_bomb_inflates_to_size_mb(fake):
    f, album = fake
    f.fault(SEARCH, "bomb", count=1, size_mb=3)
    status, headers, body = page(f, album)
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert len(body) < 100 << 10
    assert gzip.decompress(body) == b"[" * (3 << 20)


def test_patch_sets_and_inserts_raw_text_where_asked(fake):
    f, album = fake
    f.fault(SEARCH, "patch", count=1, where={"originalFileName": "b.jpg"},
            set={"isTrashed": "no"}, raw={"exifInfo.fileSizeInByte": "1e400"})
    status, _, body = page(f, album)
    assert status == 200
    text = body.decode()
    assert text.count('"fileSizeInByte":1e400') == 1
    assert text.count('"isTrashed":"no"') == 1
    assert '"fileSizeInByte":3' in text  # a.jpg untouched


def test_endless_next_never_ends(fake):
    f, album = fake
    f.fault(SEARCH, "endless_next")
    for n in (1, 2, 7):
        status, _, body = page(f, album, n)
        assert status == 200
        assert ('"nextPage":"%d"' % (n + 1)) in body.decode()
    assert '"items":[]' in page(f, album, 2)[2].decode()


def test_drip_sends_slowly(fake):
    f, album = fake
    f.fault("GET /api/server/version", "drip", count=1, interval_ms=20)
    t0 = time.monotonic()
    status, _, body = f.request("GET", "/api/server/version")
    assert status == 200 and b"major" in body
    assert time.monotonic() - t0 >= len(body) * 0.02 * 0.9
