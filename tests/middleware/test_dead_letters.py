"""DeadLetters and replay: real Redis broker, real worker, real database."""

import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter

import dramatiq
import pytest

from imagepipe.dead_letters import replay
from imagepipe.errors import CorruptImage, ImageNotFound, TransientError
from imagepipe.graph import PIPELINE
from imagepipe.worker_process import stop_worker
from models import DeadLetter, Image, Step, Variant, database, finish_step, register_image, start_step
from tests.conftest import WORKER_TIMEOUT_MS, with_postgres, with_rabbitmq
from tests.helpers import (
    finish,
    middleware_broker,
    queued_messages,
    start_test_worker,
    submit,
    wait_for_dead_letter,
    wait_until,
)

QUEUE = "dead-letter-tests"
MAX_RETRIES = 2


class RecordedEvents:
    """Stands in for the event publisher: DeadLetters only calls ``publish``."""

    def __init__(self):
        self.published = []

    def publish(self, event_type, message=None, **fields):
        self.published.append((event_type, message.message_id, fields))


class Probes:
    """Test actors on their own broker; an actor raises its error while its name is in ``broken``."""

    def __init__(self, broker):
        self.broker = broker
        self.broken = set()
        self.calls = Counter()

        @dramatiq.actor(broker=broker, queue_name=QUEUE, step="ingest")
        def check(image_id):
            self._run("check", CorruptImage("image file is truncated"))
            if not Image.select().where(Image.id == image_id).exists():
                raise ImageNotFound(f"no image with id {image_id}")

        @dramatiq.actor(broker=broker, queue_name=QUEUE, step="variants")
        def resize(image_id):
            self._run("resize", TransientError("disk busy"))

        self.check, self.resize = check, resize

    def _run(self, name, error):
        self.calls[name] += 1
        if name in self.broken:
            raise error

    def join(self, worker):
        self.broker.join(QUEUE, timeout=30_000)
        worker.join()


@pytest.fixture
def events():
    return RecordedEvents()


@pytest.fixture
def probes(redis_client, redis_url, database_url, events):
    broker = middleware_broker(redis_url, database_url, max_retries=MAX_RETRIES, events=events)
    probes = Probes(broker)
    worker = dramatiq.Worker(broker, worker_timeout=WORKER_TIMEOUT_MS)
    worker.start()
    probes.worker = worker
    yield probes
    worker.stop()
    broker.close()


def image_waiting_for(step):
    """An image whose other steps are done, so that ``step`` alone decides how it ends."""
    image = register_image("tests/probe.jpg")
    for name in PIPELINE.names:
        if name != step:
            start_step(image.id, name)
            finish_step(image.id, name)
    return image.id


def step_row(image_id, name):
    return Step.get(Step.image == image_id, Step.name == name)


def run(probes, actor, image_id):
    message = actor.send(image_id)
    probes.join(probes.worker)
    return message


@with_postgres
def test_a_permanent_error_is_stored_whole_after_one_attempt(probes, events):
    image_id = image_waiting_for("ingest")
    probes.broken.add("check")

    message = run(probes, probes.check, image_id)

    (dead,) = DeadLetter.select()
    assert (dead.message_id, dead.actor, dead.queue, dead.image_id) == (message.message_id, "check", QUEUE, image_id)
    assert (dead.error_type, dead.error, dead.attempts) == ("CorruptImage", "image file is truncated", 1)
    assert "CorruptImage: image file is truncated" in dead.traceback and "in check" in dead.traceback
    stored = dramatiq.Message.decode(dead.message.encode())
    assert (stored.actor_name, stored.args, stored.message_id) == ("check", (image_id,), message.message_id)
    assert (dead.replayed_at, dead.replay_count) == (None, 0)
    assert events.published == [("job-dead-lettered", message.message_id, {"dead_letter_id": dead.id})]
    # StepTracking still fails the image with the reason, with DeadLetters in the stack
    image = Image.get_by_id(image_id)
    assert (image.status, image.error) == ("failed", "image file is truncated")
    assert (step_row(image_id, "ingest").status, step_row(image_id, "ingest").attempts) == ("failed", 1)


def test_a_transient_error_is_stored_when_its_retries_run_out(probes):
    image_id = image_waiting_for("variants")
    probes.broken.add("resize")

    run(probes, probes.resize, image_id)

    (dead,) = DeadLetter.select()
    assert (dead.error_type, dead.error, dead.attempts) == ("TransientError", "disk busy", MAX_RETRIES + 1)
    assert probes.calls["resize"] == MAX_RETRIES + 1
    assert "TransientError: disk busy" in dead.traceback
    assert json.loads(dead.message)["options"]["retries"] == MAX_RETRIES + 1
    assert Image.get_by_id(image_id).status == "failed"
    assert step_row(image_id, "variants").attempts == MAX_RETRIES + 1


def test_nothing_is_stored_for_a_message_that_succeeds(probes, events):
    image_id = image_waiting_for("ingest")

    run(probes, probes.check, image_id)

    assert DeadLetter.select().count() == 0 and events.published == []
    assert Image.get_by_id(image_id).status == "completed"


def test_a_message_for_an_unknown_image_is_stored_with_the_id_it_named(probes):
    run(probes, probes.check, 999)

    (dead,) = DeadLetter.select()
    assert (dead.error_type, dead.image_id, dead.attempts) == ("ImageNotFound", 999, 1)


def test_when_the_store_fails_the_message_is_logged_and_the_worker_goes_on(probes, caplog):
    image_id = image_waiting_for("ingest")
    probes.broken.add("check")
    database.drop_tables([DeadLetter])

    with caplog.at_level(logging.CRITICAL):
        message = run(probes, probes.check, image_id)
    probes.broken.clear()
    run(probes, probes.check, image_waiting_for("ingest"))

    (record,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert message.message_id in record.getMessage() and '"actor_name":"check"' in record.getMessage()
    assert probes.calls["check"] == 2


@with_postgres
def test_a_replay_runs_the_original_message_again_and_completes_the_image(probes):
    image_id = image_waiting_for("ingest")
    probes.broken.add("check")
    message = run(probes, probes.check, image_id)
    probes.broken.clear()  # the cause was fixed

    (dead,) = replay(broker=probes.broker)
    probes.join(probes.worker)

    image = Image.get_by_id(image_id)
    assert (image.status, image.error) == ("completed", None)
    assert (step_row(image_id, "ingest").status, step_row(image_id, "ingest").attempts) == ("done", 2)
    dead = DeadLetter.get_by_id(dead.id)
    assert dead.replayed_at is not None and dead.replay_count == 1
    assert dead.message_id == message.message_id and DeadLetter.select().count() == 1


def test_a_replay_gets_fresh_retries(probes):
    """Replayed while still broken, the message is retried in full and dead-lettered again."""
    image_id = image_waiting_for("variants")
    probes.broken.add("resize")
    run(probes, probes.resize, image_id)

    replay(broker=probes.broker)
    probes.join(probes.worker)

    first, second = DeadLetter.select().order_by(DeadLetter.id)
    assert (first.attempts, second.attempts) == (MAX_RETRIES + 1, MAX_RETRIES + 1)
    assert second.message_id == first.message_id and first.replay_count == 1
    assert probes.calls["resize"] == 2 * (MAX_RETRIES + 1)
    assert replay(broker=probes.broker) == [second]  # --all replays what was not replayed yet
    probes.join(probes.worker)


def test_replaying_twice_repeats_no_work_that_succeeded(probes):
    image_id = image_waiting_for("ingest")
    probes.broken.add("check")
    run(probes, probes.check, image_id)
    probes.broken.clear()
    (dead,) = replay(broker=probes.broker)
    probes.join(probes.worker)
    attempts = {step.name: step.attempts for step in Step.select().where(Step.image == image_id)}

    replay([dead.id], broker=probes.broker)
    probes.join(probes.worker)

    assert probes.calls["check"] == 2  # the second replay was skipped by StepTracking
    assert {step.name: step.attempts for step in Step.select().where(Step.image == image_id)} == attempts
    assert Image.get_by_id(image_id).status == "completed"
    assert DeadLetter.select().count() == 1 and DeadLetter.get_by_id(dead.id).replay_count == 2


def test_replay_all_can_keep_one_actor(probes):
    probes.broken.update({"check", "resize"})
    run(probes, probes.check, image_waiting_for("ingest"))
    run(probes, probes.resize, image_waiting_for("variants"))
    probes.broken.clear()

    replayed = replay(actor="resize", broker=probes.broker)
    probes.join(probes.worker)

    assert [dead.actor for dead in replayed] == ["resize"]
    assert {dead.actor: dead.replay_count for dead in DeadLetter.select()} == {"check": 0, "resize": 1}
    assert sorted(image.status for image in Image.select()) == ["completed", "failed"]


def test_replay_refuses_unknown_ids_and_changes_nothing(probes):
    probes.broken.add("check")
    run(probes, probes.check, image_waiting_for("ingest"))
    (dead,) = DeadLetter.select()

    with pytest.raises(ValueError, match="no dead letter with id 41, 42"):
        replay([dead.id, 41, 42], broker=probes.broker)

    assert DeadLetter.get_by_id(dead.id).replay_count == 0


@pytest.mark.timeout(120)
@with_rabbitmq
def test_the_pipeline_dead_letters_a_bad_file_and_replays_it_once_fixed(worker_env, storage, corpus, tmp_path):
    """Under a real worker, with DeadLetters in actors/broker.py: a truncated JPEG is stored;
    once the file is replaced by a good one, `imagepipe dead-letters replay` completes the
    image, and a second replay changes nothing."""
    from imagepipe.samples import make_photo, save_jpeg

    def replay_with_cli(dead_letter):
        command = [sys.executable, "-m", "imagepipe.cli", "dead-letters", "replay", str(dead_letter.id)]
        subprocess.run(command, env={**os.environ, **worker_env}, check=True, capture_output=True, timeout=60)

    worker = start_test_worker(worker_env, processes=1, threads=2)
    try:
        image_id = submit(storage, corpus / "bad" / "truncated_Canon_40D.jpg", name="fixed-later.jpg")
        assert finish([image_id])[image_id].status == "failed"
        wait_for_dead_letter(image_id)
        (dead,) = DeadLetter.select().where(DeadLetter.image_id == image_id)
        assert (dead.actor, dead.error_type, dead.attempts) == ("ingest", "TruncatedImage", 1)

        fixed = save_jpeg(make_photo(1200, 800, seed=5), tmp_path / "fixed-later.jpg")
        storage.put("tests/fixed-later.jpg", fixed.read_bytes(), content_type="image/jpeg")
        replay_with_cli(dead)
        wait_until(lambda: Image.get_by_id(image_id).status == "completed", 60, "the replayed image to complete")
        variants = {(v.path, v.bytes) for v in Variant.select().where(Variant.image == image_id)}
        attempts = {step.name: step.attempts for step in Step.select().where(Step.image == image_id)}

        replay_with_cli(dead)
        wait_until(lambda: DeadLetter.get_by_id(dead.id).replay_count == 2, 10, "the second replay")
        wait_until(lambda: queued_messages("images", "encode") == 0, 30, "the replayed message to be taken")
        time.sleep(1)  # and skipped
    finally:
        assert stop_worker(worker) == 0

    assert Image.get_by_id(image_id).error is None
    assert {(v.path, v.bytes) for v in Variant.select().where(Variant.image == image_id)} == variants
    assert storage.keys(f"variants/{image_id}/") == sorted(path for path, _ in variants)
    assert {step.name: step.attempts for step in Step.select().where(Step.image == image_id)} == attempts
    assert Image.get_by_id(image_id).status == "completed"


def test_replay_refuses_a_dead_letter_whose_actor_is_gone(probes):
    probes.broken.add("check")
    run(probes, probes.check, image_waiting_for("ingest"))
    (dead,) = DeadLetter.select()
    DeadLetter.update(actor="renamed").execute()

    with pytest.raises(ValueError, match=f"dead letter {dead.id}: no actor named 'renamed'"):
        replay(broker=probes.broker)

    assert DeadLetter.get_by_id(dead.id).replayed_at is None
