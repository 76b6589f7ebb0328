"""Queues by cost: the encoder on a queue of its own, consumed by its own worker if wanted."""

import os
import subprocess
import sys
import time

import pytest

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from models import Image, Step
from tests.helpers import finish, submit, wait_until


def steps_of(image_id):
    return {step.name: step.status for step in Step.select().where(Step.image == image_id)}


@pytest.mark.timeout(120)
def test_a_split_deployment_runs_cheap_steps_and_encodes_in_their_own_workers(worker_env, storage, tmp_path):
    """The README's two worker lines: `--queues images` does everything but the encodes,
    which wait for `--queues encode`, and the image completes once both run."""
    options = {"processes": 1, "threads": 2, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    cheap = start_worker(worker_env, extra_args=["--queues", "images"], **options)
    encoder = None
    try:
        image_id = submit(storage, save_jpeg(make_photo(1200, 800), tmp_path / "a.jpg"))
        cheap_steps = ("embed", "describe")
        wait_until(lambda: all(steps_of(image_id)[s] == Step.DONE for s in cheap_steps), 60, lambda: steps_of(image_id))
        time.sleep(1)
        expected = {"ingest": "done", "metadata": "done", "embed": "done", "describe": "done", "variants": "queued"}
        assert steps_of(image_id) == expected

        encoder = start_worker(worker_env, extra_args=["--queues", "encode"], **options)
        image = finish([image_id], timeout_s=60)[image_id]
    finally:
        assert stop_worker(cheap) == 0
        if encoder:
            assert stop_worker(encoder) == 0

    assert image.status == Image.COMPLETED, image.error
    assert len(image.variants) == 4


def test_a_step_can_be_put_on_another_queue_by_a_setting():
    env = {**os.environ, "IMAGEPIPE_QUEUES": "variants=images"}
    code = "import actors; print(actors.make_variants.queue_name, actors.ingest.queue_name)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)

    assert done.stdout.split() == ["images", "images"]
