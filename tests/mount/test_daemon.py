"""The daemon as users start it: without -f it forks into the background
(fstab mounts, `immichfs URL DIR` by hand). Every other mount test runs it
with -f, so this is the one that covers the forked process."""

import os
import subprocess
import time

import mountutil
from writeutil import unique_bytes, wait_in_album, write_file


def test_background_daemon_reads_caches_writes_and_exits_on_unmount(fake, tmp_path):
    data = unique_bytes(5 * (1 << 20) + 123, "daemon-read")
    fake.add_asset("clip.mp4", content=data, album="D bg")
    key = tmp_path / "key"
    key.write_text(fake.api_key)
    key.chmod(0o600)
    mnt, cache = tmp_path / "mnt", tmp_path / "cache"
    mnt.mkdir()
    opts = "api_key_file=%s,cache_dir=%s,settle=0.2" % (key, cache)
    r = subprocess.run([mountutil.BIN, "-o", opts, fake.url, str(mnt)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        assert mountutil.is_mounted(str(mnt))
        with open(mnt / "D bg" / "clip.mp4", "rb") as f:
            assert f.read() == data                  # streamed by the forked daemon
        deadline = time.monotonic() + 30             # and its cache writer runs
        while not any(os.scandir(cache / "blocks")):
            assert time.monotonic() < deadline, "no block reached the read cache"
            time.sleep(0.1)
        new = unique_bytes(40_000, "daemon-write")
        write_file(str(mnt / "D bg" / "new.jpg"), new)
        wait_in_album(fake, "D bg", "new.jpg", new, timeout=60)
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-f", "cache_dir=%s," % cache], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "the daemon did not exit after the unmount"
        time.sleep(0.1)
