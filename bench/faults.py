"""The fault suite's report: runs tests/reliability/ and prints the figure each fault measured.

Each test of the suite prints one ``FIGURE faultN:`` line (what it did and what it measured);
this runs the suite once, with the broker's production settings unless ``--fast`` is given
(the suite's own, shorter heartbeat, which CI uses so that it fits its time budget), and
prints those lines in order. Exit status: pytest's.

    python bench/faults.py           # production broker settings: realistic kill -> redelivery
    python bench/faults.py --fast    # as CI runs it
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: A figure as a test prints it; not its source line, which pytest quotes when a test fails.
FIGURE = re.compile(r"(?<![\w\"'])FIGURE (fault\d+): (.*)")


def run_suite(fast):
    """(pytest's exit status, its stdout); the whole output is kept in a file for a failure."""
    env = {**os.environ, "IMAGEPIPE_TEST_BROKER_DEFAULTS": "" if fast else "1"}
    command = [sys.executable, "-m", "pytest", "tests/reliability", "-s", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    with tempfile.NamedTemporaryFile("w", prefix="imagepipe-faults-", suffix=".log", delete=False) as log:
        log.write(done.stdout + done.stderr)
    return done.returncode, done.stdout, log.name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the suite's 3 s broker heartbeat instead of 10 s")
    args = parser.parse_args()
    code, output, log = run_suite(args.fast)
    settings = "3 s heartbeat, 10 % maintenance" if args.fast else "production defaults: 10 s heartbeat, 2 %"
    print(f"Fault suite (tests/reliability), broker settings: {settings}")
    for fault, figure in sorted(FIGURE.findall(output), key=lambda found: int(found[0][5:])):
        print(f"  {fault}: {figure}")
    lines = output.strip().splitlines()
    print(f"pytest: {lines[-1] if lines else 'no output'}")
    if code:
        print(f"the whole output: {log}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
