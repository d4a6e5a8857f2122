#!/usr/bin/python3
"""Sums the JUnit XML files of one test run into the closing line
"N passed, N failed", and fails the run when a required suite did not run.

    summarize.py RESULTS_DIR [--require SUITE]...

A skipped test counts as failed when CI=true and its suite is required: on
the CI machine (root, /dev/fuse) a mount test that skipped is a mount test
that did not run.
"""

import argparse
import glob
import os
import sys
import xml.etree.ElementTree as ET


def count(path):
    passed = failed = skipped = 0
    failures = []
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = "%s.%s" % (case.get("classname", ""), case.get("name", ""))
        status = case.get("result") or case.get("status")
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            failures.append(name)
        elif case.find("skipped") is not None or status in ("skipped", "notrun"):
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped, failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--require", action="append", default=[])
    args = ap.parse_args()
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    total_pass = total_fail = 0
    seen = {}
    for path in sorted(glob.glob(os.path.join(args.results, "*.junit.xml"))):
        suite = os.path.basename(path)[: -len(".junit.xml")]
        try:
            p, f, s, failures = count(path)
        except ET.ParseError as e:
            print("%s: unreadable results (%s)" % (suite, e))
            total_fail += 1
            continue
        seen[suite] = (p, f, s)
        for name in failures:
            print("FAILED %s: %s" % (suite, name))
        if s and ci and suite in args.require:
            print("%s: %d test(s) skipped on the CI machine: counted as failed" % (suite, s))
            f += s
        print("%-12s %d passed, %d failed, %d skipped" % (suite, p, f, s))
        total_pass += p
        total_fail += f
    for suite in args.require:
        if suite not in seen or seen[suite][0] + seen[suite][1] == 0:
            print("%s: the suite did not run" % suite)
            if ci:
                total_fail += 1
    print("%d passed, %d failed" % (total_pass, total_fail))
    return 0 if total_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
