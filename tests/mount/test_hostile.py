"""A broken or hostile server while mounted: answers nested a million deep,
gzip bombs, numbers no int64 holds, fields of the wrong type, nextPage
forever, a body dripped a byte at a time. Each must give a clear error (EIO
and a log line naming the call) or a bounded, logged answer -- never a crash
or a hang -- and the mount must keep working afterwards."""

import os
import threading
import time

import pytest

SEARCH = "POST /api/search/metadata"
_seq = [0]


class Lib:
    """Albums 'Target-N' (where faults land) and 'Other-N', each with known
    files, unique per test (the fake server is shared by the module)."""

    def __init__(self, fake):
        _seq[0] += 1
        self.fake = fake
        self.target_name = "Target-%d" % _seq[0]
        self.other_name = "Other-%d" % _seq[0]
        self.target = fake.seed_album(self.target_name)
        self.other = fake.seed_album(self.other_name)
        fake.add_asset("t1.jpg", content=b"target one", album=self.target["id"])
        fake.add_asset("t2.jpg", content=b"target two", album=self.target["id"])
        fake.add_asset("o1.jpg", content=b"other bytes", album=self.other["id"])
        self.target_files = ["t1.jpg", "t2.jpg"]

    def grow_target(self):
        """A new asset in Target: its next listing pages it again."""
        name = "t%d.jpg" % (len(self.target_files) + 1)
        self.fake.add_asset(name, content=name.encode(), album=self.target["id"])
        self.target_files.append(name)
        time.sleep(0.6)  # past dir_cache_ttl: the next look revalidates


@pytest.fixture
def lib(fake):
    return Lib(fake)


def mount(mounted, fake):
    return mounted(fake, options=["dir_cache_ttl=0.5"])


def ls(m, name):
    return sorted(os.listdir(os.path.join(m.mountpoint, name)))


def wait_log(m, text, timeout=10):
    deadline = time.monotonic() + timeout
    while text not in m.log():
        assert time.monotonic() < deadline, "no %r in the daemon log:\n%s" % (text, m.log())
        time.sleep(0.1)


def still_works(m, lib, target=True):
    """The daemon is alive, the other album lists and reads, the target lists whole."""
    assert m.proc.poll() is None, "the daemon died:\n" + m.log()
    names = os.listdir(m.mountpoint)
    assert lib.target_name in names and lib.other_name in names, names
    assert ls(m, lib.other_name) == ["o1.jpg"]
    with open(os.path.join(m.mountpoint, lib.other_name, "o1.jpg"), "rb") as f:
        assert f.read() == b"other bytes"
    if target:
        assert ls(m, lib.target_name) == sorted(lib.target_files)


def primed(mounted, fake, lib):
    """A mount that has listed both albums; then Target grows, so that its
    next listing pages it again (and meets the fault)."""
    m = mount(mounted, fake)
    still_works(m, lib)
    known = sorted(lib.target_files)
    lib.grow_target()
    return m, known


def check_failed_listing(m, lib, known, message):
    """A refused answer: the folder keeps what was known, the log says why and
    names the call, and the next look (the fault spent) lists the album whole."""
    assert ls(m, lib.target_name) == known
    wait_log(m, message)
    wait_log(m, "list page 1 of album %s: " % lib.target["id"])
    wait_log(m, "answering from what is known")
    # A failed listing is asked for again only after dir_cache_ttl (0.5 s).
    time.sleep(0.6)
    still_works(m, lib)


@pytest.mark.limit(90)
def test_deep_json_is_refused_and_the_mount_lives(fake, lib, mounted):
    m, known = primed(mounted, fake, lib)
    fake.fault(SEARCH, "deep", count=1, depth=1000000)
    check_failed_listing(m, lib, known,
                         "malformed answer from the server: JSON nested deeper than 64 levels")


@pytest.mark.limit(90)
def test_deep_json_error_body_is_harmless(fake, lib, mounted):
    m, known = primed(mounted, fake, lib)
    fake.fault(SEARCH, "deep", count=1, depth=1000000, status=400)
    check_failed_listing(m, lib, known, "HTTP 400")


@pytest.mark.limit(90)
def test_gzip_bomb_is_refused_at_the_route_cap(fake, lib, mounted):
    m, known = primed(mounted, fake, lib)
    fake.fault(SEARCH, "bomb", count=1, size_mb=100)
    check_failed_listing(m, lib, known, "the answer is larger than 64 MiB (uncompressed)")


@pytest.mark.limit(60)
def test_next_page_forever_lists_what_there_is(fake, lib, mounted):
    m = mount(mounted, fake)
    fake.fault(SEARCH, "endless_next")
    fake.reset_stats()
    assert ls(m, lib.target_name) == ["t1.jpg", "t2.jpg"]
    wait_log(m, "which added nothing; taking the listing as complete")
    assert fake.stats()["requests"].get("POST /api/search/metadata", 0) <= 3
    still_works(m, lib)


@pytest.mark.limit(60)
@pytest.mark.parametrize("patch,message", [
    ({"set": {"exifInfo.fileSizeInByte": "lots"}},
     "exifInfo field 'fileSizeInByte' is \"lots\", not a number"),
    ({"raw": {"exifInfo.fileSizeInByte": "9223372036854775808"}},
     "exifInfo field 'fileSizeInByte' is 9223372036854775808, out of range"),
    ({"raw": {"exifInfo.fileSizeInByte": "1e400"}}, "Number too big to be stored in double"),
    ({"set": {"isTrashed": "no"}}, "field 'isTrashed' is \"no\", not a boolean"),
    ({"set": {"exifInfo": [1, 2]}}, "field 'exifInfo' is an array, not an object"),
])
def test_bad_asset_field_is_refused_naming_it(fake, lib, mounted, patch, message):
    m, known = primed(mounted, fake, lib)
    fake.fault(SEARCH, "patch", count=1, where={"originalFileName": "t2.jpg"}, **patch)
    check_failed_listing(m, lib, known, message)


@pytest.mark.limit(60)
def test_huge_asset_count_is_clamped_and_costs_few_pages(fake, lib, mounted):
    m = mount(mounted, fake)
    fake.fault("GET /api/albums$", "patch", where={"albumName": lib.target_name},
               raw={"assetCount": "9223372036854775807"})
    fake.reset_stats()
    time.sleep(0.6)  # the album list is due again
    assert ls(m, lib.target_name) == ["t1.jpg", "t2.jpg"]
    assert fake.stats()["requests"].get("POST /api/search/metadata", 0) <= 4
    still_works(m, lib)


@pytest.mark.limit(60)
def test_album_field_of_the_wrong_type_keeps_the_known_albums(fake, lib, mounted):
    m = mount(mounted, fake)
    still_works(m, lib)
    fake.fault("GET /api/albums$", "patch", where={"albumName": lib.target_name},
               set={"assetCount": {"n": 2}})
    time.sleep(0.6)
    os.listdir(m.mountpoint)  # revalidates: the new list is refused, the known one served
    wait_log(m, "field 'assetCount' is an object, not a number")
    still_works(m, lib)
    fake.clear_faults()


@pytest.mark.limit(200)
def test_a_dripping_answer_blocks_only_its_album(fake, lib, mounted):
    """A page dripped a byte a second: the listing gives up after the request
    timeout (60 s) and retries; meanwhile the rest of the mount answers."""
    m = mount(mounted, fake)
    fake.fault(SEARCH, "drip", count=1, interval_ms=1000)  # Target is listed first
    result = {}

    def list_target():
        t0 = time.monotonic()
        try:
            result["names"] = ls(m, lib.target_name)
        except OSError as e:
            result["errno"] = e.errno
        result["seconds"] = time.monotonic() - t0

    lister = threading.Thread(target=list_target)
    lister.start()
    time.sleep(2)
    assert lister.is_alive(), "the dripping listing ended early: %r" % result
    t0 = time.monotonic()
    still_works(m, lib, target=False)
    assert time.monotonic() - t0 < 5, "the rest of the mount waited for the dripping album"
    lister.join(150)
    assert not lister.is_alive(), "the dripping listing never ended"
    assert result.get("names") == ["t1.jpg", "t2.jpg"], result
    wait_log(m, "retry 1 of")
    still_works(m, lib)
