"""A message that kills its own process, under the real `dramatiq` runner restarted by a supervisor:
it fails for good after 3 deliveries, with one dead letter, and the worker goes on serving."""

import datetime
import os
import statistics
import subprocess
import threading
import time

import pytest

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from models import DeadLetter, Image, Step, register_image
from tests.helpers import finish, submit
from tests.worker_app import POISON_DELIVERIES_KEY, POISON_STEP, crashing_decode

#: Shorter than the 10 s default so three kill/redelivery cycles fit the test's budget; set
#: IMAGEPIPE_TEST_BROKER_DEFAULTS=1 to measure with the production defaults instead.
FAST_BROKER_ENV = {"IMAGEPIPE_BROKER_HEARTBEAT_TIMEOUT_MS": "3000", "IMAGEPIPE_BROKER_MAINTENANCE_CHANCE": "100000"}


class Supervisor:
    """Restarts `dramatiq tests.worker_app` whenever it exits, as a platform would."""

    def __init__(self, env):
        self.env = env
        self.masters = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        while not self._stopping.is_set():
            master = start_worker(
                self.env,
                module="tests.worker_app",
                processes=1,
                threads=1,
                cwd=os.getcwd(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.masters.append(master)
            while master.poll() is None and not self._stopping.is_set():
                time.sleep(0.05)

    def stop(self):
        self._stopping.set()
        self._thread.join(timeout=10)
        for master in self.masters:
            stop_worker(master)


def wait_until(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _epoch(naive_utc):
    return naive_utc.replace(tzinfo=datetime.UTC).timestamp()


@pytest.mark.timeout(120)
def test_a_message_that_kills_its_process_fails_after_3_deliveries_and_the_worker_survives(
    redis_client, worker_env, media_root, tmp_path
):
    env = {
        **worker_env,
        "IMAGEPIPE_WIDTHS": "320",
        "IMAGEPIPE_FORMATS": "webp",
        **({} if os.environ.get("IMAGEPIPE_TEST_BROKER_DEFAULTS") else FAST_BROKER_ENV),
    }
    # given: an image whose (test-only) poison step kills its process on every delivery
    poison = register_image("tests/poison.jpg", "poison.jpg")
    Step.create(image=poison.id, name=POISON_STEP)
    supervisor = Supervisor(env).start()
    try:
        crashing_decode.send(poison.id)

        # when: the worker dies under it, is restarted, and the broker redelivers it
        wait_until(lambda: Image.get_by_id(poison.id).status == Image.FAILED, 90, "the poison image to fail")
        survivor = supervisor.masters[-1]

        # then: the next good image completes on the same worker
        good_id = submit(media_root, save_jpeg(make_photo(400, 300, seed=3), tmp_path / "good.jpg"))
        good = finish([good_id], timeout_s=60)[good_id]
        assert good.status == Image.COMPLETED, good.error
        assert supervisor.masters[-1] is survivor and survivor.poll() is None
    finally:
        supervisor.stop()

    deliveries = [float(entry.split()[0]) for entry in redis_client.lrange(POISON_DELIVERIES_KEY, 0, -1)]
    image = Image.get_by_id(poison.id)
    step = Step.get(Step.image == poison.id, Step.name == POISON_STEP)
    dead_letters = list(DeadLetter.select().where(DeadLetter.image_id == poison.id))
    assert len(deliveries) == 3
    assert image.error == f"{POISON_STEP} killed its worker process 3 times"
    assert (step.status, step.attempts, step.error) == (Step.FAILED, 3, image.error)
    assert len(dead_letters) == 1
    assert (dead_letters[0].error_type, dead_letters[0].attempts) == ("StepKillsItsWorker", 3)
    assert len(supervisor.masters) == 4  # the first worker and three restarts

    # the figure: from each kill (the moment the actor exits) to the next delivery, the last
    # one being the refused delivery that dead-lettered the message
    redelivered = deliveries[1:] + [_epoch(dead_letters[0].failed_at)]
    gaps = [after - before for before, after in zip(deliveries, redelivered, strict=True)]
    print(f"kill -> redelivery: p50 {statistics.median(gaps):.2f}s, each {', '.join(f'{g:.2f}' for g in gaps)}s")
