"""300 images under `dramatiq actors` with 2 processes x 8 threads, while worker processes and
the main process are SIGKILLed at random and a supervisor restarts the main process: every
image completes exactly once, with every variant on disk, and nothing stays processing.

The images arrive in ten batches, one after each restart, and each kill comes 0.2-1 s after
steps are running: on two cores the restarts (a killed worker's sibling stopping, the new
processes booting) take about as long as the work, and 300 images sent at once were all done
before the tenth kill in some runs. The database sweeper is off: the broker alone brings
every message back (test_kills_anytime.py kills at any moment, booting and stopping included).
"""

import io
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
from tests.conftest import with_rabbitmq
from tests.helpers import all_ended, epoch, stored_bytes, submit, unfinished_steps, wait_until
from tests.reliability.supervision import Supervisor, broker_env, child_pids, wait_for_exit

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
    (RabbitMQ has no such sets: it requeues a connection's unacked messages when it closes.)
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


def wait_for_every_completion_event(redis_client, count):
    """What a killed process kept in the outbox, a live one's drain publishes within ~4 s."""
    wait_until(lambda: len(completions(redis_client)) >= count, 20, "every image-completed event")


def stop_all(supervisor, workers):
    """Stop the supervisor and every worker process seen, orphans of killed main processes too;
    whether all of them ended by themselves."""
    supervisor.stop()
    return wait_for_exit(workers, 40)  # a stuck orphan exits at the shutdown timeout + 5 s


def run_outcome(redis_client, image_ids):
    """(the steps of these images, how many step runs were repeated, image-completed events by image)."""
    steps = list(Step.select().where(Step.image.in_(image_ids)))
    return steps, sum(step.attempts - 1 for step in steps), completions(redis_client)


def assert_completed_exactly_once(image_ids, steps, completed):
    """Every image completed, announced once (the terminal events are durable), every step done."""
    assert [image.status for image in Image.select().where(Image.id.in_(image_ids))].count(Image.COMPLETED) == len(
        image_ids
    ), {image.error for image in Image.select().where(Image.id.in_(image_ids))}
    assert set(completed.values()) == {1} and set(completed) == set(image_ids), completed
    assert {step.status for step in steps} == {Step.DONE}


def spread(values, unit):
    """``p50 and p95`` of ``values`` for the report, with how many there were."""
    if not values:
        return "none measured"
    if len(values) == 1:
        return f"{values[0]:.1f}s (1 {unit})"
    p95 = statistics.quantiles(values, n=100, method="inclusive")[94]
    return f"p50 {statistics.median(values):.1f}s, p95 {p95:.1f}s ({len(values)} {unit})"


@pytest.mark.timeout(360)
@with_rabbitmq
def test_300_images_survive_10_random_sigkills(redis_client, broker_url, worker_env, storage, tmp_path):
    seed = int(os.environ.get("IMAGEPIPE_TEST_SEED") or time.time())
    rng = random.Random(seed)
    env = {
        **worker_env,
        "IMAGEPIPE_WIDTHS": ",".join(map(str, WIDTHS)),
        "IMAGEPIPE_FORMATS": ",".join(FORMATS),
        "IMAGEPIPE_EVENTS_MAXLEN": "100000",
        "IMAGEPIPE_SWEEP_INTERVAL_S": "0",
        # Random kills may hit one step three times; that is poison's signature, tested apart
        # (test_poison.py), so here no number of kills can make a step poison.
        "IMAGEPIPE_MAX_DELIVERIES": str(KILLS + 1),
        **broker_env(),
    }
    photos = [save_jpeg(make_photo(1600, 1200, seed=n), tmp_path / f"photo{n}.jpg") for n in range(10)]
    # The Procfile's worker line: a killed worker's sibling finishes its running steps first.
    supervisor = Supervisor(env, processes=2, threads=8, extra_args=["--worker-shutdown-timeout", "26000"]).start()
    clock, kills, killed_mains, workers = RedeliveryClock(redis_client), [], set(), set()

    def restarted():
        clock.look()
        main = supervisor.master
        workers.update(child_pids(main.pid) if main else ())
        return main and main.pid not in killed_mains and len(child_pids(main.pid)) == 2

    def working():
        clock.look()
        return running_steps(image_ids)

    def state():
        main = supervisor.master
        ended = Image.select().where(Image.id.in_(image_ids), Image.status.in_((Image.COMPLETED, Image.FAILED)))
        return (
            f"main process {main.pid} (exit code {main.poll()}), workers {child_pids(main.pid)}, "
            f"{ended.count()} images ended, {len(running_steps(image_ids))} steps running"
        )

    started = time.monotonic()
    try:
        image_ids = []
        while len(kills) < KILLS:
            wait_until(restarted, 60, lambda: f"a restarted worker (kill {len(kills) + 1}): {state()}")
            # the images arrive in ten batches, one for each kill, so that every kill meets work
            batch = range(len(image_ids), IMAGES * (len(kills) + 1) // KILLS)
            image_ids += [submit(storage, photos[n % 10], f"kill-{n}.jpg") for n in batch]
            wait_until(working, 60, lambda: f"work to kill (kill {len(kills) + 1}): {state()}")
            time.sleep(rng.uniform(0.2, 1.0))
            main_pid = supervisor.master.pid
            victim = main_pid if rng.random() < MAIN_PROCESS_SHARE else rng.choice(child_pids(main_pid))
            running = running_steps(image_ids)
            os.kill(victim, signal.SIGKILL)
            clock.killed(time.time(), victim, running)
            killed_mains.add(main_pid)  # a worker process's death stops its main process too
            kills.append("main" if victim == main_pid else "worker")

        def every_image_ended():
            clock.look()
            return all_ended(image_ids)

        wait_until(every_image_ended, 150, lambda: f"every image to end: {unfinished_steps(image_ids)}")
        elapsed = time.monotonic() - started
        wait_for_every_completion_event(redis_client, IMAGES)
    finally:
        orphans_stopped = stop_all(supervisor, workers)

    steps, repeated, completed = run_outcome(redis_client, image_ids)
    print(
        f"FIGURE fault1: {broker_url.split(':')[0]}, seed {seed}, "
        f"{len(kills)} SIGKILLs ({kills.count('main')} of the main process), "
        f"{len(supervisor.masters) - 1} restarts, {IMAGES} images in {elapsed:.1f}s; "
        f"{repeated} step executions repeated after kills, over {len(steps)} steps; "
        f"{IMAGES - len(completed)} image-completed events lost; "
        "sweeper off; "
        f"worker kill -> its messages back on the queue {spread(clock.requeues, 'kills')}; "
        f"kill -> interrupted step running again {spread(clock.restarts, 'steps')}, queue wait included"
    )
    assert orphans_stopped, "worker processes outlived the test"
    assert_completed_exactly_once(image_ids, steps, completed)
    variants = list(Variant.select().where(Variant.image.in_(image_ids)))
    assert len(variants) == IMAGES * len(WIDTHS) * len(FORMATS)
    for variant in variants:
        with PILImage.open(io.BytesIO(stored_bytes(storage, variant.path))) as decoded:
            decoded.load()
            assert decoded.size == (variant.width, variant.height)
