#!/usr/bin/python3
"""Daemon memory per listed asset, and the time of ls -l on a big album.

    tests/bench/rss.py                        # 10 albums x 10 000 assets, ls -lR twice
    tests/bench/rss.py --albums 2 --per-album 5000   # smaller
    tests/bench/rss.py --ls-album 20000       # also: ls -l of a 20 000-asset album,
                                              # cold and warm, next to curl paging
    tests/bench/rss.py --json                 # one JSON object on stdout
    tests/bench/rss.py --url URL --key KEY    # a server already seeded: albums Lib*
                                              # are listed, "Big" is timed if present

Target (issue "benchmarks and speed targets"): daemon RSS after listing
100 000 assets <= 300 bytes/asset. bytes/asset = (VmRSS after `ls -lR` of
every album - VmRSS after mounting and listing the root) / assets listed.
The second `ls -lR` shows whether a re-listing grows the daemon (it should
not: the catalog is already there; listings are transient).

It runs $IMMICHFS_BIN (default build/src/immichfs) against the fake Immich
(tests/fake_immich), started through tests/bench/fake_server.py when present
(no state.json rewrites while seeding). Needs FUSE; root for drop_caches.
tests/bench/run may import measure_rss() and measure_ls().
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "fake_immich"))
sys.path.insert(0, os.path.join(ROOT, "tests", "mount"))
os.environ.setdefault("IMMICHFS_BIN", os.path.join(ROOT, "build", "src", "immichfs"))

import fake_client  # noqa: E402
import mountutil  # noqa: E402


def log(msg):
    sys.stderr.write("[rss %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def proc_status(pid, field):
    """A /proc/<pid>/status field in bytes (VmRSS, VmHWM, ...)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def timed(cmd):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd[:2]), r.stderr.strip()[-300:]))
    return time.perf_counter() - t


def drop_caches():
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass


def mount(url, key_file, work, name, options=()):
    mp = os.path.join(work, "mnt-" + name)
    cache = os.path.join(work, "cache-" + name)
    shutil.rmtree(cache, ignore_errors=True)
    return mountutil.Mount(url, key_file, mp, cache, options=list(options)).start()


def measure_rss(url, key_file, work, albums):
    """Mounts, lists the root, then `ls -lR` of `albums` (shown names) twice.
    Returns a dict of the figures."""
    m = mount(url, key_file, work, "rss")
    try:
        os.listdir(m.mountpoint)
        pid = m.proc.pid
        r0 = proc_status(pid, "VmRSS")
        dirs = [os.path.join(m.mountpoint, a) for a in albums]
        t1 = timed(["ls", "-lR"] + dirs)
        r1 = proc_status(pid, "VmRSS")
        t2 = timed(["ls", "-lR"] + dirs)
        r2 = proc_status(pid, "VmRSS")
        total = sum(len(os.listdir(d)) for d in dirs)
        hwm = proc_status(pid, "VmHWM")
    finally:
        m.stop()
    return {"assets": total, "rss_before": r0, "rss_after": r1, "rss_after_second": r2,
            "vmhwm": hwm, "ls_lR_s": t1, "ls_lR_second_s": t2,
            "bytes_per_asset": (r1 - r0) / total if total else None,
            "bytes_per_asset_second": (r2 - r0) / total if total else None}


def curl_paging(url, key, album_id, count, size=1000):
    """All pages of the album's search/metadata in one curl, as immichfs pages them."""
    cmd = ["curl"]
    for p in range(1, (count + size - 1) // size + 1):
        if p > 1:
            cmd.append("--next")
        cmd += ["-sS", "--fail", "-o", "/dev/null", "-H", "x-api-key: " + key,
                "--json", json.dumps({"albumIds": [album_id], "withExif": True, "size": size,
                                      "page": p}),
                url + "/api/search/metadata"]
    return timed(cmd)


def measure_ls(url, key, key_file, work, album, album_id, count, reps=3):
    """ls -l of one album: cold (fresh mount, dropped caches) and warm (again on
    the same mount), in ms, next to curl paging the same listing."""
    curl_paging(url, key, album_id, count)  # the fake's own caches
    curl = min(curl_paging(url, key, album_id, count) for _ in range(3)) * 1000
    cold, warm = [], []
    for _ in range(reps):
        m = mount(url, key_file, work, "ls")
        try:
            d = os.path.join(m.mountpoint, album)
            drop_caches()
            cold.append(timed(["ls", "-l", d]) * 1000)
            for _ in range(3):
                warm.append(timed(["ls", "-l", d]) * 1000)
        finally:
            m.stop()
    warm.sort()
    return {"curl_ms": curl, "cold_ms": min(cold), "cold_runs_ms": cold,
            "warm_ms": warm[len(warm) // 2], "warm_runs_ms": warm,
            "cold_ratio": min(cold) / curl}


def run_existing(args):
    work = tempfile.mkdtemp(prefix="immichfs-rss-")
    out = {}
    try:
        key_file = os.path.join(work, "key")
        with open(key_file, "w") as f:
            f.write(args.key)
        os.chmod(key_file, 0o600)
        fake = fake_client.FakeImmich(api_key=args.key, start=False)
        fake.port = int(args.url.rsplit(":", 1)[1].rstrip("/"))
        albums = fake.api("GET", "/api/albums")
        names = sorted(a["albumName"] for a in albums if a["albumName"].startswith("Lib"))
        if names:
            out["rss"] = r = measure_rss(args.url, key_file, work, names)
            log("RSS %.1f MB -> %.1f MB (-> %.1f MB after a second ls -lR), HWM %.1f MB: "
                "%.0f bytes/asset over %d assets (ls -lR %.2fs, again %.2fs)"
                % (r["rss_before"] / 1e6, r["rss_after"] / 1e6, r["rss_after_second"] / 1e6,
                   r["vmhwm"] / 1e6, r["bytes_per_asset"], r["assets"], r["ls_lR_s"],
                   r["ls_lR_second_s"]))
        big = [a for a in albums if a["albumName"] == "Big"]
        if big:
            out["ls"] = r = measure_ls(args.url, args.key, key_file, work, "Big", big[0]["id"],
                                       big[0]["assetCount"])
            log("ls -l of %d assets: cold %.0f ms (curl paging %.0f ms, %.2fx), warm %.0f ms"
                % (big[0]["assetCount"], r["cold_ms"], r["curl_ms"], r["cold_ratio"], r["warm_ms"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--albums", type=int, default=10)
    ap.add_argument("--per-album", type=int, default=10000)
    ap.add_argument("--ls-album", type=int, default=0, help="assets in the album timed with ls -l (0: skip)")
    ap.add_argument("--latency-ms", type=int, default=3, help="the fake's latency per request")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--url", help="an Immich (or fake) already seeded; nothing is created")
    ap.add_argument("--key", help="its API key (with --url)")
    args = ap.parse_args()
    if args.url:
        return run_existing(args)

    ok, why = mountutil.fuse_usable()
    if not ok:
        raise SystemExit("cannot mount: " + why)
    work = tempfile.mkdtemp(prefix="immichfs-rss-")
    bench_server = os.path.join(HERE, "fake_server.py")
    if os.path.exists(bench_server):
        fake_client.SERVER = bench_server
    fake = fake_client.FakeImmich(data_dir=os.path.join(work, "fake"), latency_ms=args.latency_ms)
    out = {}
    try:
        key_file = os.path.join(work, "key")
        with open(key_file, "w") as f:
            f.write(fake.api_key)
        os.chmod(key_file, 0o600)
        t = time.perf_counter()
        names = []
        for i in range(args.albums):
            al = fake.seed_album("Lib%02d" % i)
            fake.generate(args.per_album, size=64, album=al["id"], name="IMG_%05d.jpg", seed=100 + i)
            names.append("Lib%02d" % i)
        big = None
        if args.ls_album:
            big = fake.seed_album("Big")
            fake.generate(args.ls_album, size=64, album=big["id"], name="IMG_%05d.jpg", seed=7)
        log("seeded %d assets in %.1fs" % (args.albums * args.per_album + args.ls_album,
                                           time.perf_counter() - t))
        if args.albums:
            out["rss"] = measure_rss(fake.url, key_file, work, names)
            r = out["rss"]
            log("RSS %.1f MB -> %.1f MB (-> %.1f MB after a second ls -lR), HWM %.1f MB: "
                "%.0f bytes/asset over %d assets (ls -lR %.2fs, again %.2fs)"
                % (r["rss_before"] / 1e6, r["rss_after"] / 1e6, r["rss_after_second"] / 1e6,
                   r["vmhwm"] / 1e6, r["bytes_per_asset"], r["assets"], r["ls_lR_s"],
                   r["ls_lR_second_s"]))
        if big:
            out["ls"] = measure_ls(fake.url, fake.api_key, key_file, work, "Big", big["id"],
                                   args.ls_album)
            r = out["ls"]
            log("ls -l of %d assets: cold %.0f ms (curl paging %.0f ms, %.2fx), warm %.0f ms"
                % (args.ls_album, r["cold_ms"], r["curl_ms"], r["cold_ratio"], r["warm_ms"]))
    finally:
        fake.close()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
