"""300 images under `dramatiq actors` with 2 processes x 8 threads, while worker processes and
the main process are SIGKILLed at random and a supervisor restarts the main process: every
image completes exactly once, with every variant on disk, and nothing stays processing."""

import os
import random
import signal
import socket
import statistics
import time

import pytest
from PIL import Image as PILImage

from imagepipe.event_stream import decode
from imagepipe.samples import make_photo, save_jpeg
from models import Image, Step, Variant
from tests.helpers import epoch, submit, wait_until
from tests.reliability.supervision import Supervisor, alive, broker_env, child_pids

IMAGES = 300
KILLS = 10
#: The share of kills aimed at the main process rather than one of its worker processes.
MAIN_PROCESS_SHARE = 0.3
WIDTHS, FORMATS = (320, 640, 1024), ("webp", "avif")


class RedeliveryClock:
    """Times each kill of a worker process to the moment its messages are back on their queues.

    Dramatiq's Redis broker keeps the messages a process holds in ack sets named by its broker
    id (the heartbeat of imagepipe's WorkerHealth gives the id of a pid). Recovery moves them
    back to their queues and deletes the sets; the clock notes when the last one is gone.
    It also notes the steps then `processing`: one whose attempt count later grows ran again,
    and ``restarts`` holds how long after the kill, queue wait included.
    """

    def __init__(self, client):
        self.client = client
        self.held = {}  # broker id -> time of the kill
        self.running = {}  # (image id, step) -> (attempts at the kill, time of the kill)
        self.requeues, self.restarts = [], []

    def killed(self, at, pid, running):
        broker_id = self.client.hget(f"imagepipe:worker:{socket.gethostname()}:{pid}", "broker_id")
        if broker_id and self._ack_sets(broker_id.decode()):
            self.held[broker_id.decode()] = at
        self.running.update({key: (attempts, at) for key, attempts in running.items()})

    def look(self):
        now = time.time()
        for broker_id in list(self.held):
            if not self._ack_sets(broker_id):
                self.requeues.append(now - self.held.pop(broker_id))
        if self.running:
            for step in Step.select().where(Step.image.in_({image_id for image_id, _ in self.running})):
                key = (step.image_id, step.name)
                if key in self.running and step.attempts > self.running[key][0]:
                    self.restarts.append(epoch(step.started_at) - self.running.pop(key)[1])

    def _ack_sets(self, broker_id):
        return [key for key in self.client.scan_iter(f"dramatiq:__acks__.{broker_id}.*") if self.client.scard(key)]


def running_steps(image_ids):
    steps = Step.select().where(Step.image.in_(image_ids), Step.status == Step.PROCESSING)
    return {(step.image_id, step.name): step.attempts for step in steps}


def completions(redis_client):
    """How many image-completed events each image got."""
    counts = {}
    for _, fields in redis_client.xrange("imagepipe:events"):
        event = decode(fields)
        if event["type"] == "image-completed":
            counts[int(event["image_id"])] = counts.get(int(event["image_id"]), 0) + 1
    return counts


def wait_for_exit(pids, timeout_s):
    """Whether every process of ``pids`` ends within ``timeout_s``; SIGKILLs those that do not,
    so that none can take the messages of a later test."""
    deadline = time.monotonic() + timeout_s
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in pids if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return not left


def percentile(values, share):
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


@pytest.mark.timeout(360)
def test_300_images_survive_10_random_sigkills(redis_client, worker_env, media_root, tmp_path):
    seed = int(os.environ.get("IMAGEPIPE_TEST_SEED") or time.time())
    rng = random.Random(seed)
    env = {
        **worker_env,
        "IMAGEPIPE_WIDTHS": ",".join(map(str, WIDTHS)),
        "IMAGEPIPE_FORMATS": ",".join(FORMATS),
        "IMAGEPIPE_EVENTS_MAXLEN": "100000",
        "IMAGEPIPE_SHUTDOWN_TIMEOUT_S": "5",
        # Random kills may hit one step three times; that is poison's signature, tested apart
        # (test_poison.py), so here no number of kills can make a step poison.
        "IMAGEPIPE_MAX_DELIVERIES": str(KILLS + 1),
        **broker_env(),
    }
    photos = [save_jpeg(make_photo(1280, 960, seed=n), tmp_path / f"photo{n}.jpg") for n in range(10)]
    supervisor = Supervisor(env, processes=2, threads=8, extra_args=["--worker-shutdown-timeout", "6500"]).start()
    clock, kills, workers = RedeliveryClock(redis_client), [], set()

    def work_to_kill():
        clock.look()
        main = supervisor.master
        workers.update(child_pids(main.pid) if main else ())
        return main and main.poll() is None and child_pids(main.pid) and running_steps(image_ids)

    def state():
        main = supervisor.master
        ended = Image.select().where(Image.id.in_(image_ids), Image.status.in_((Image.COMPLETED, Image.FAILED)))
        return (
            f"main process {main.pid} (exit code {main.poll()}), workers {child_pids(main.pid)}, "
            f"{ended.count()} images ended, {len(running_steps(image_ids))} steps running"
        )

    started = time.monotonic()
    try:
        image_ids = [submit(media_root, photos[n % 10], f"kill-{n}.jpg") for n in range(IMAGES)]
        while len(kills) < KILLS:
            # at random moments, in whatever state the processes are (booting, stopping...)
            wait_until(work_to_kill, 60, lambda: f"a worker with work to kill (kill {len(kills) + 1}): {state()}")
            time.sleep(rng.uniform(0.5, 2.0))
            main_pid = supervisor.master.pid
            targets = child_pids(main_pid)
            if not targets:
                continue  # it exited meanwhile: the supervisor is starting the next one
            victim = main_pid if rng.random() < MAIN_PROCESS_SHARE else rng.choice(targets)
            running = running_steps(image_ids)
            os.kill(victim, signal.SIGKILL)
            clock.killed(time.time(), victim, running)
            kills.append("main" if victim == main_pid else "worker")

        def all_ended():
            clock.look()
            return (
                not Image.select()
                .where(Image.id.in_(image_ids), Image.status.not_in((Image.COMPLETED, Image.FAILED)))
                .exists()
            )

        wait_until(all_ended, 180, "every image to end")
        elapsed = time.monotonic() - started
    finally:
        supervisor.stop()
        # every worker process ends with its supervisor, orphans of killed main processes too
        orphans_stopped = wait_for_exit(workers, 20)

    images = list(Image.select().where(Image.id.in_(image_ids)))
    steps = list(Step.select().where(Step.image.in_(image_ids)))
    repeated = sum(step.attempts - 1 for step in steps)
    completed = completions(redis_client)
    print(
        f"FIGURE fault1: seed {seed}, {len(kills)} SIGKILLs ({kills.count('main')} of the main process), "
        f"{len(supervisor.masters) - 1} restarts, {IMAGES} images in {elapsed:.1f}s; "
        f"{repeated} step executions repeated after kills, over {len(steps)} steps; "
        f"{IMAGES - len(completed)} image-completed events lost with their process; "
        f"worker kill -> its messages back on the queue p50 {statistics.median(clock.requeues):.1f}s, "
        f"p95 {percentile(clock.requeues, 0.95):.1f}s ({len(clock.requeues)} kills); "
        f"kill -> interrupted step running again p50 {statistics.median(clock.restarts):.1f}s, "
        f"p95 {percentile(clock.restarts, 0.95):.1f}s ({len(clock.restarts)} steps, queue wait included)"
    )
    assert orphans_stopped, "worker processes outlived the test"
    assert [image.status for image in images].count(Image.COMPLETED) == IMAGES, {i.error for i in images}
    # completed exactly once: never a second image-completed. Events are best effort: those
    # still in a writer's memory (5 ms linger) when its process was killed are gone.
    assert set(completed.values()) == {1} and set(completed) <= set(image_ids), completed
    assert {step.status for step in steps} == {Step.DONE}
    variants = list(Variant.select().where(Variant.image.in_(image_ids)))
    assert len(variants) == IMAGES * len(WIDTHS) * len(FORMATS)
    for variant in variants:
        with PILImage.open(media_root / variant.path) as decoded:
            decoded.load()
            assert decoded.size == (variant.width, variant.height)
