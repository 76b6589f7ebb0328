"""Fault 7 of issue 5: with the events Redis unreachable for a whole run, under the real
`dramatiq actors` worker, 100 of 100 images complete, each write of events gives up within
IMAGEPIPE_EVENTS_TIMEOUT_MS (100 ms), and throughput stays within 10 % of a normal run.

"Unreachable" is the nasty kind: a port that accepts TCP connections and never answers (a
hung or blackholed Redis), so every attempt runs into its timeout instead of failing at once.

How it is measured. Each run starts its own worker (the events URL is read at its start),
warms it up (every worker thread's isolation child forked, Pillow loaded) with a few images,
registers the 100 images, then times from the first ``ingest.send`` to the last
``completed_at`` the workers wrote. The bound is measured where the writes happen, in the
worker processes: at shutdown each logs its writer's totals (``StreamWriter.log_totals``).
While the events Redis is down, their average round trip must be within ``MEAN_SLACK_MS`` of
the timeout (a write that waited twice, a retry or a second read, would double it) and their
slowest within ``SLACK_MS`` (a late wake-up of the writer thread on a busy machine).

Timing is noisy here: other test runs share the machine's two cores, and a 100-image run takes
5-10 s, with run-to-run swings of up to 10 % when others are busy (a full CI run once gave
0.889 with three runs each). So each condition runs four times, alternating (normal, down,
down, normal, normal, down, down, normal: a drift in load weighs on both alike), and its time
is its fastest run: outside load only ever adds time, so the fastest run
is the best estimate of what the pipeline itself costs.
The runs are short on purpose: the more of a job's time is overhead rather than image work,
the more any cost of publishing would show.
"""

import contextlib
import datetime
import os
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

import pytest

from imagepipe.cli.process import wait_for
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.settings import DEFAULT_EVENTS_TIMEOUT_MS
from imagepipe.worker_process import start_worker, stop_worker
from models import Image
from tests.helpers import epoch, register

IMAGES = 100
#: Enough that each of the 2 x 2 worker threads has run every step once before the clock starts.
WARMUP_IMAGES = 8
ORDER = ["normal", "down", "down", "normal", "normal", "down", "down", "normal"]
NARROW_PIPELINE = {"IMAGEPIPE_WIDTHS": "320", "IMAGEPIPE_FORMATS": "webp"}
MIN_RATIO = 0.90
#: What the slowest round trip may take beyond its timeout: the writer thread, woken by the
#: socket timeout, waits for a core and then for the GIL. Measured: 101-126 ms on a quiet 2-core
#: machine, up to 240 ms at load average 8-13 (other test runs), 320 ms once with a fault test
#: running beside. Generous, as one late wake-up is the machine's doing; a write that waits twice
#: (a retry, a second read) shows in the mean, one that ignores its timeout takes seconds.
SLACK_MS = 500
#: What the average round trip may take beyond its timeout (measured 101-105 ms).
MEAN_SLACK_MS = 20
RUN_TIMEOUT_S = 60
#: The fields of a writer's totals line (StreamWriter.log_totals), in order.
STORED, DROPPED, ROUND_TRIPS, MEAN_MS, SLOWEST_MS = range(5)
TOTALS = re.compile(
    r"Events to \S+: (\d+) stored, (\d+) dropped; round trips: (\d+), ([\d.]+) ms on average, the slowest ([\d.]+) ms\."
)


@contextlib.contextmanager
def silent_redis():
    """A port that accepts every connection and never says a word; yields its redis:// URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    held = []
    stopping = threading.Event()

    def accept():
        while not stopping.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])  # kept open, never read or written

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        stopping.set()
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=5)
        for connection in held:
            connection.close()


def register_copies(storage, sources, prefix, count):
    """``count`` fresh images (copies of ``sources`` in turn) registered, not yet sent."""
    return [register(storage, sources[n % len(sources)], f"{prefix}-{n}.jpg") for n in range(count)]


def send_and_time(image_ids):
    """Send every ingest, wait for the images; (seconds from first send to last completion, rows)."""
    from actors import ingest

    started = time.time()
    for image_id in image_ids:
        ingest.send(image_id)
    assert wait_for(image_ids, RUN_TIMEOUT_S, report=lambda line: None), "the images did not end in time"
    rows = list(Image.select().where(Image.id.in_(image_ids)))
    last = max(row.completed_at or datetime.datetime.min for row in rows)
    return epoch(last) - started, rows


@dataclass
class Run:
    """What one worker did with IMAGES images: their time, their ends, its writers' totals."""

    seconds: float
    statuses: list
    totals: list  # (stored, dropped, round trips, mean ms, slowest ms) for each worker process
    log: str

    def total(self, index):
        return sum(process[index] for process in self.totals)

    def slowest(self, index):
        return max(process[index] for process in self.totals)


def run_pipeline(env, storage, sources, log_path, name):
    """One worker, warmed up, through IMAGES images; stopped, so its writers log their totals."""
    warmup = register_copies(storage, sources, f"{name}-warmup", WARMUP_IMAGES)
    batch = register_copies(storage, sources, name, IMAGES)
    with open(log_path, "wb") as log:
        worker = start_worker(env, processes=2, threads=2, stdout=log, stderr=subprocess.STDOUT)
    try:
        send_and_time(warmup)
        seconds, rows = send_and_time(batch)
    finally:
        stop_worker(worker)
    log = log_path.read_text()
    totals = [(int(s), int(d), int(r), float(mean), float(top)) for s, d, r, mean, top in TOTALS.findall(log)]
    assert len(totals) == 2, f"expected one writer summary per worker process in:\n{log}"
    return Run(seconds, [row.status for row in rows], totals, log)


#: Eight timed runs of 13-19 s each on the machine of 2026-12-02 (5-10 s before), with a worker
#: started for each: 180 s was cut short there. The runs are timed themselves; this only bounds a hang.
@pytest.mark.timeout(420)
def test_an_unreachable_events_redis_costs_no_image_and_no_throughput(redis_client, worker_env, storage, tmp_path):
    sources = [save_jpeg(make_photo(640, 480, seed=seed), tmp_path / f"{seed}.jpg") for seed in range(5)]
    normal_env = {**worker_env, **NARROW_PIPELINE}
    runs = {"normal": [], "down": []}
    with silent_redis() as silent_url:
        down_env = {**normal_env, "IMAGEPIPE_EVENTS_REDIS_URL": silent_url}
        for n, condition in enumerate(ORDER):
            # when: 100 images go through a worker whose events Redis works, or never answers
            env = normal_env if condition == "normal" else down_env
            run = run_pipeline(env, storage, sources, tmp_path / f"{n}.log", name=f"events-down-{n}")
            runs[condition].append(run)
            print(
                f"run {n} ({condition}): {run.seconds:.2f}s; events {run.total(STORED)} stored, "
                f"{run.total(DROPPED)} dropped; {run.total(ROUND_TRIPS)} writes, mean "
                f"{run.slowest(MEAN_MS):.1f} ms (slower process), slowest {run.slowest(SLOWEST_MS):.1f} ms"
            )

            # then: every image completes either way
            assert run.statuses == [Image.COMPLETED] * IMAGES
            if condition == "normal":
                # not "none dropped": on a loaded machine the test Redis itself may miss 100 ms
                assert run.total(STORED) > 0.9 * (run.total(STORED) + run.total(DROPPED)), run.log
                continue
            # ... and while the events Redis never answers, each write gives up at its timeout
            assert run.total(STORED) == 0 and run.total(DROPPED) > 0, run.log
            assert run.slowest(MEAN_MS) <= DEFAULT_EVENTS_TIMEOUT_MS + MEAN_SLACK_MS, run.log
            assert run.slowest(SLOWEST_MS) <= DEFAULT_EVENTS_TIMEOUT_MS + SLACK_MS, run.log
            assert run.log.count("Cannot publish events") == 2, run.log  # once per worker process

    # ... and the throughput stays within 10 % of normal
    normal = min(run.seconds for run in runs["normal"])
    down = min(run.seconds for run in runs["down"])
    mean_write_ms = max(run.slowest(MEAN_MS) for run in runs["down"])
    slowest_write_ms = max(run.slowest(SLOWEST_MS) for run in runs["down"])
    print(
        f"FIGURE fault7: normal {normal:.2f}s, events down {down:.2f}s, ratio {normal / down:.3f} "
        f"(the fastest of {len(runs['down'])} runs of {IMAGES} images each); event writes while down: "
        f"{mean_write_ms:.1f} ms on average, the slowest {slowest_write_ms:.1f} ms "
        f"(timeout {DEFAULT_EVENTS_TIMEOUT_MS} ms); load average {os.getloadavg()[0]:.1f}"
    )
    assert normal / down >= MIN_RATIO
