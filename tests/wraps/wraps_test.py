#!/usr/bin/env python3
"""Checks that meson reads every wrap in subprojects/, without the network.

For each wrap, a throwaway copy of the source tree is configured with
--force-fallback-for=<a dependency the wrap provides>. A file of junk bytes
named like the wrap's source archive is put in subprojects/packagecache/, so
meson takes the "download" from there and stops at the hash check with
"Incorrect hash for source", quoting the wrap's source_hash. That can only
happen when meson found the wrap through its [provide] section under the
name meson.build asks for, and parsed it. A missing or malformed wrap, or a
[provide] that does not name the dependency, ends in another message or in
a successful setup, and the check fails.

A last setup with --wrap-mode=nodownload must succeed: the normal build
uses the system packages and never needs a wrap.

usage: wraps_test.py MESON SOURCE_ROOT
"""
import configparser
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

# wrap file -> the dependency name meson.build asks for, which the wrap
# must provide.
WRAPS = {
    "curl.wrap": "libcurl",
    "rapidjson.wrap": "rapidjson",
    "xxhash.wrap": "libxxhash",
    "openssl.wrap": "libcrypto",
    "abseil-cpp.wrap": "absl_status",
    "gtest.wrap": "gtest",
}
JUNK = b"not the real archive\n"


def run(cmd, cwd=None):
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=dict(os.environ, LC_ALL="C.UTF-8"))
    return proc.returncode, proc.stdout


def copy_tree(src, dst):
    def ignore(directory, names):
        top = os.path.samefile(directory, src)
        return [n for n in names
                if n == ".git" or n == "__pycache__" or (top and n.startswith("build"))
                or (os.path.basename(directory) == "subprojects" and n != "packagefiles"
                    and not n.endswith(".wrap"))]
    shutil.copytree(src, dst, ignore=ignore, symlinks=True)


def main():
    meson, root = sys.argv[1], sys.argv[2]
    failures = []
    present = sorted(f for f in os.listdir(os.path.join(root, "subprojects")) if f.endswith(".wrap"))
    if present != sorted(WRAPS):
        failures.append(f"subprojects/ holds {present}, expected {sorted(WRAPS)}")
    with tempfile.TemporaryDirectory(prefix="immichfs-wraps-") as tmp:
        src = os.path.join(tmp, "src")
        copy_tree(root, src)
        cache = os.path.join(src, "subprojects", "packagecache")
        os.makedirs(cache)
        junk_hash = hashlib.sha256(JUNK).hexdigest()
        for wrap, dep in WRAPS.items():
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(os.path.join(root, "subprojects", wrap))
                section = parser["wrap-file"]
                filename, expected = section["source_filename"], section["source_hash"]
            except (configparser.Error, KeyError, OSError) as e:
                failures.append(f"{wrap}: cannot read source_filename/source_hash: {e!r}")
                continue
            with open(os.path.join(cache, filename), "wb") as f:
                f.write(JUNK)
            rc, out = run([meson, "setup", os.path.join(tmp, "b-" + wrap), src,
                           "-Dtests=true", "-Dman=disabled", "--force-fallback-for=" + dep])
            if rc == 0 or "Incorrect hash for source" not in out or expected not in out \
                    or junk_hash not in out:
                failures.append(f"{wrap} (dependency {dep}): meson did not stop at the wrap's "
                                f"hash check (exit {rc}); its output ends:\n{out[-1500:]}")
            else:
                print(f"ok: {wrap} read by meson for dependency '{dep}'")
        shutil.rmtree(cache)
        rc, out = run([meson, "setup", os.path.join(tmp, "b-system"), src, "-Dtests=true",
                       "-Dman=disabled", "--wrap-mode=nodownload"])
        if rc != 0:
            failures.append(f"setup with --wrap-mode=nodownload failed (exit {rc}):\n{out[-1500:]}")
        elif "Executing subproject" in out:
            failures.append("setup with --wrap-mode=nodownload used a subproject:\n" + out[-1500:])
        else:
            print("ok: the normal setup uses the system packages only")
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
