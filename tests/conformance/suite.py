"""Trove conformance suite: drives `trove serve` as the official digi.me SDKs would.

Usage: python suite.py [--trove PATH] [--keep]
The binary comes from --trove, else $TROVE_BIN, else target/debug/trove under the repository root.
Prints one `ok`/`FAIL`/`skip` line per check, then `N passed, N failed[, N skipped]`, and exits
with status 1 when any check failed.
"""

import argparse
import os
import shutil
import sys
import tempfile

from main_server import MainServerChecks
from other_servers import PrefixChecks, ShortLifetimeChecks
from report import Report

REPOSITORY_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def locate_trove(explicit):
    candidate = explicit or os.environ.get("TROVE_BIN") or os.path.join(REPOSITORY_ROOT, "target", "debug", "trove")
    return os.path.abspath(candidate)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trove", help="path of the trove binary (default: $TROVE_BIN or target/debug/trove)")
    parser.add_argument("--keep", action="store_true", help="keep the data directories and server logs")
    arguments = parser.parse_args()

    report = Report()
    trove_bin = locate_trove(arguments.trove)
    if not os.access(trove_bin, os.X_OK):
        report.fail("trove binary found", f"{trove_bin} is missing or not executable; build it with "
                                          "`cargo build -p trove-cli` or set TROVE_BIN")
        print(report.closing_line())
        return 1

    workdir = tempfile.mkdtemp(prefix="trove-conformance-")
    try:
        for group in (MainServerChecks, ShortLifetimeChecks, PrefixChecks):
            group(report, trove_bin, workdir).run()
    finally:
        if arguments.keep:
            print(f"data directories and server logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report.closing_line())
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
