"""Status transitions: exactly once, whatever the order or concurrency of the steps."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from imagepipe.graph import PIPELINE, Graph
from imagepipe.graph import Step as GraphStep
from models import Image, Step, database, fail_step, finish_step, register_image, start_step
from tests.conftest import with_postgres


def start_all(image_id):
    for name in PIPELINE.names:
        assert start_step(image_id, name)


@with_postgres
def test_the_last_step_to_finish_completes_the_image_once(database_url):
    image = register_image("a.jpg")
    start_all(image.id)

    results = [
        finish_step(image.id, name).completed for name in ("embed", "ingest", "metadata", "describe", "variants")
    ]

    assert results == [False, False, False, False, True]
    assert Image.get_by_id(image.id).status == "completed"
    assert finish_step(image.id, "variants").completed is False  # a redelivered step completes nothing again


def test_an_image_registered_before_a_step_was_added_completes_without_it(database_url):
    """Its rows are the old graph's: the new step has none, so nothing waits for it."""
    image = register_image("old.jpg")  # the shipped graph
    grown = Graph(list(PIPELINE))
    grown.add(GraphStep("summary", actor="summarize", after=("variants", "metadata")))

    finished = []
    for name in PIPELINE.names:
        assert start_step(image.id, name)
        finished.append(finish_step(image.id, name, grown))

    assert [result.ready for result in finished] == [("variants", "metadata", "describe"), (), ("embed",), (), ()]
    assert [result.completed for result in finished] == [False, False, False, False, True]


@with_postgres
def test_concurrent_finishes_complete_each_image_exactly_once(database_url):
    """Steps finished from many threads at once: one True per image, never two, never none."""
    images = [register_image(f"{i}.jpg") for i in range(10)]
    for image in images:
        start_all(image.id)

    def finish(job):
        with database.connection_context():
            return job[0], finish_step(*job).completed

    jobs = [(image.id, name) for name in PIPELINE.names for image in images]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(finish, jobs))

    completions = [image_id for image_id, completed in results if completed]
    assert sorted(completions) == sorted(image.id for image in images)
    assert {i.status for i in Image.select()} == {"completed"}


@with_postgres
def test_a_failed_step_fails_the_image_once_and_it_never_completes(database_url):
    image = register_image("a.jpg")
    start_all(image.id)

    assert fail_step(image.id, "variants", "corrupt image").failed is True
    assert fail_step(image.id, "variants", "corrupt image").failed is False
    for name in ("ingest", "metadata", "embed", "describe"):
        assert finish_step(image.id, name).completed is False

    stored = Image.get_by_id(image.id)
    assert (stored.status, stored.error) == ("failed", "corrupt image")


def test_a_done_step_does_not_start_again_and_attempts_are_counted(database_url):
    image = register_image("a.jpg")

    assert start_step(image.id, "ingest") and start_step(image.id, "ingest")
    finish_step(image.id, "ingest")

    assert start_step(image.id, "ingest") is False
    assert Step.get(Step.image == image.id, Step.name == "ingest").attempts == 2
    assert Image.get_by_id(image.id).status == "processing"


def test_an_unknown_image_is_an_error(database_url):
    with pytest.raises(Image.DoesNotExist):
        start_step(12345, "ingest")


class Crash(Exception):
    """The process dying between two statements, as far as the database can tell."""


@with_postgres
def test_a_crash_between_done_and_completed_leaves_the_step_to_run_again(database_url, monkeypatch):
    """Done and completed commit together: a step marked done on an image left `processing`
    would be skipped when its message comes again, and the image would never complete."""
    image = register_image("a.jpg")
    start_all(image.id)
    for name in ("embed", "ingest", "metadata", "describe"):
        finish_step(image.id, name)

    update, updates = Image.update, []

    def crash_at_the_completion(*args, **kwargs):
        updates.append(args)
        if len(updates) == 2:  # the image row is written before the step and after it
            raise Crash()
        return update(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Image, "update", crash_at_the_completion)
        with pytest.raises(Crash):
            finish_step(image.id, "variants")

    assert Step.get(Step.image == image.id, Step.name == "variants").status == Step.PROCESSING
    assert finish_step(image.id, "variants").completed is True


@with_postgres
def test_a_throttled_attempt_is_given_back_and_a_step_reopens_only_when_it_can_run(database_url):
    from models import give_back_attempt, reopen_step

    image = register_image("a.jpg")
    # describe waits for ingest: it cannot be redone before the file was checked
    assert reopen_step(image.id, "describe") is False
    start_step(image.id, "ingest")
    finish_step(image.id, "ingest")
    start_step(image.id, "describe")
    assert reopen_step(image.id, "describe") is False  # running: a redo now would be lost
    # an API's 429: the attempt is given back, the step queued as before it
    give_back_attempt(image.id, "describe")
    describe = Step.get(Step.image == image.id, Step.name == "describe")
    assert (describe.status, describe.attempts, describe.unended) == (Step.QUEUED, 0, 0)
    start_step(image.id, "describe")
    finish_step(image.id, "describe")
    assert reopen_step(image.id, "describe") is True
    assert Step.get(Step.image == image.id, Step.name == "describe").status == Step.QUEUED
    # an image older than the step gets its row
    Step.delete().where(Step.image == image.id, Step.name == "describe").execute()
    assert reopen_step(image.id, "describe") is True
    fail_step(image.id, "variants", "corrupt")
    assert reopen_step(image.id, "describe") is False and reopen_step(12345, "describe") is False
