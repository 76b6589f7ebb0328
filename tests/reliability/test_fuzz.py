"""Damaged images (issue 11, part 2): 300 seeded mutations of the corpus's good files through a
real `dramatiq actors --processes 2 --threads 2`, and through sharp with its defaults, by
bench/fuzz.py (its 10,000-input run is in the README). The worker survives everything, nothing
hangs, every failure names its reason, and fewer damaged pictures are published than sharp
publishes from the same inputs.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
COUNT, SEED = 300, 1
#: Unended images past this many seconds are counted as hangs (the step time limit is 120 s).
TIMEOUT_S = 300


@pytest.fixture(scope="module")
def report(tmp_path_factory, redis_url):
    out = tmp_path_factory.mktemp("fuzz") / "report.json"
    command = [sys.executable, str(BENCH / "fuzz.py"), f"--count={COUNT}", f"--seed={SEED}", f"--timeout={TIMEOUT_S}"]
    done = subprocess.run(
        [*command, f"--json={out}"],
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S * 3,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)
    return json.loads(out.read_text())


def test_the_worker_survives_every_damaged_input_and_nothing_hangs(report):
    ours = report["imagepipe"]
    assert ours["worker deaths"] == 0
    assert ours["hangs"] == 0
    assert ours["completed"] + ours["failed"] == COUNT


def test_every_failure_names_a_specific_reason(report):
    assert report["imagepipe"]["failures without a specific reason"] == []


def test_fewer_damaged_pictures_are_published_than_by_sharp(report):
    if "sharp" not in report:
        pytest.skip("sharp is not installed (npm ci --prefix bench/sharp)")
    ours, sharps = report["imagepipe"]["damaged published"], report["sharp"]["damaged published"]
    print(f"FIGURE fault12: damaged outputs published from {COUNT} mutations: imagepipe {ours}, sharp {sharps}")
    assert ours < sharps
