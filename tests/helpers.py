"""Small helpers the tests share."""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from imagepipe.cli.process import wait_for
from imagepipe.worker_process import start_worker
from models import Image, Step, register_image
from models import epoch_s as epoch  # noqa: F401 - the tests' name for it

PIPELINE_TIMEOUT_S = 90


def start_test_worker(env, **options):
    """``dramatiq tests.worker_app`` (the pipeline plus the test probes), from this folder, where
    ``tests`` can be imported; its output is discarded, or appended to the file that
    IMAGEPIPE_TEST_WORKER_LOG names (to read what a failing fault test's workers did)."""
    log = os.environ.get("IMAGEPIPE_TEST_WORKER_LOG")
    with open(log, "ab") if log else contextlib.nullcontext(subprocess.DEVNULL) as output:
        return start_worker(env, module="tests.worker_app", cwd=os.getcwd(), stdout=output, stderr=output, **options)


def register(storage, path, name=None):
    """Store ``path`` as ``tests/<name>`` and register it, without sending it; returns the id."""
    key = f"tests/{name or Path(path).name}"
    with open(path, "rb") as body:
        storage.put(key, body, content_type="application/octet-stream")
    return register_image(key, Path(key).name).id


def submit(storage, path, name=None):
    """Store ``path``, register it and send its ingest message; returns the id."""
    from actors import ingest

    image_id = register(storage, path, name)
    ingest.send(image_id)
    return image_id


def stored_bytes(storage, key):
    """The bytes of a stored object (a variant, say), whatever the backend."""
    with storage.local_copy(key, max_bytes=1 << 30) as path:
        return Path(path).read_bytes()


def finish(image_ids, timeout_s=PIPELINE_TIMEOUT_S):
    """Wait until every image has ended and return their rows by id."""
    assert wait_for(image_ids, timeout_s, report=lambda line: None), "pipeline did not finish in time"
    return {image.id: image for image in Image.select().where(Image.id.in_(image_ids))}


def middleware_broker(redis_url, database_url, *, max_retries=2, backoff_ms=10, events=None):
    """A Redis broker with the middleware that dead letters and Sentry tags need, in the
    pipeline's order, for actors that a test declares on it (``broker=``)."""
    from dramatiq.brokers.redis import RedisBroker

    from middleware import DatabaseConnections, DeadLetters, PipelineRetries, SentryTags, StepTracking

    broker = RedisBroker(
        url=redis_url,
        middleware=[
            DatabaseConnections(database_url=database_url),
            SentryTags(),
            DeadLetters(events=events),
            StepTracking(),
            PipelineRetries(max_retries=max_retries, backoff=backoff_ms),
        ],
    )
    broker.emit_after("process_boot")
    return broker


def busiest_window(times, seconds=1.0):
    """The most of ``times`` (seconds) that fall in any window of ``seconds``."""
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t < start + seconds) for i, start in enumerate(times)), default=0)


def wait_until(condition, timeout_s, what):
    """Poll ``condition`` every 50 ms; fail the test if it is still false after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what() if callable(what) else what}"
        time.sleep(0.05)


def wait_for_dead_letter(image_id, timeout_s=10):
    """Wait for the image's dead letter: DeadLetters stores it just after StepTracking failed
    the image, so an image seen ``failed`` may not have it yet."""
    from models import DeadLetter

    wait_until(
        lambda: DeadLetter.select().where(DeadLetter.image_id == image_id).exists(), timeout_s, "the dead letter"
    )


def answers(client, path):
    """Whether a server that may still be starting answers ``GET path`` with 200."""
    import httpx

    try:
        return client.get(path).status_code == 200
    except httpx.HTTPError:
        return False


def all_ended(image_ids):
    """Whether every one of these images has ended."""
    unended = Image.select().where(Image.id.in_(image_ids), Image.status.not_in(Image.ENDED))
    return not unended.exists()


def unfinished_steps(image_ids):
    """What a failure message needs: the steps of these images that are not done."""
    steps = Step.select().where(Step.image.in_(image_ids), Step.status != Step.DONE)
    return [(step.image_id, step.name, step.status, step.attempts, step.error, step.started_at) for step in steps]


def join_pipeline(broker, timeout_ms=60_000):
    """``broker.join`` every queue of the pipeline's steps (the encoders have their own)."""
    queues = {actor.queue_name for actor in broker.actors.values() if actor.options.get("step")}
    for queue in sorted(queues):
        broker.join(queue, timeout=timeout_ms)


def send_with_cli(paths, env):
    """Queue ``paths`` with `imagepipe process` in the environment ``env`` (its own broker, Redis
    and database); their ids."""
    done = subprocess.run(
        [sys.executable, "-m", "imagepipe.cli", "process", *map(str, paths)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [int(n) for n in done.stdout.split(":", 1)[1].split(",")]


def queued_messages(*queue_names, dead=False):
    """How many messages wait in these queues (with ``dead``: in their dead-letter queues) on
    the broker that this process's actors send to, Redis or RabbitMQ."""
    import actors

    broker = actors.ingest.broker
    if hasattr(broker, "get_queue_message_counts"):  # RabbitMQ: (ready, delayed, dead)
        return sum(broker.get_queue_message_counts(name)[2 if dead else 0] for name in queue_names)
    return sum(broker.client.llen(f"{broker.namespace}:{name}{'.XQ' if dead else ''}") for name in queue_names)
