"""The pipeline graph declared once: a test app adds a step that waits for two others, and
completion, fan-out, events, the sweeper and dead letters work unchanged for it."""

import datetime

import pytest

from imagepipe.event_stream import decode
from imagepipe.graph import PIPELINE, Graph, Step
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from models import DeadLetter, Image, register_image, stuck_steps
from models import Step as StepRow
from models.image import utcnow
from tests.conftest import with_rabbitmq
from tests.helpers import finish, queued_messages, submit, wait_until

IMAGES = 8


@pytest.fixture
def graph_app(broker):
    """tests.graph_app imported here too (this process registers images with its graph), and
    taken out again after the test: other tests run the plain pipeline."""
    import importlib

    import tests.graph_app

    if "summary" not in PIPELINE.names:  # taken out by an earlier test: declare it again
        importlib.reload(tests.graph_app)
    yield tests.graph_app
    PIPELINE._steps.pop("summary", None)
    broker.actors.pop("summarize", None)


def test_a_graph_refuses_a_step_that_waits_for_an_unknown_one():
    graph = Graph([Step("a", actor="a")])
    with pytest.raises(ValueError, match="waits for unknown steps: b"):
        graph.add(Step("c", actor="c", after=("a", "b")))
    assert [step.name for step in graph.first] == ["a"]


@pytest.mark.timeout(150)
@with_rabbitmq
def test_a_step_that_waits_for_two_runs_once_after_both(graph_app, worker_env, storage, redis_client, tmp_path):
    worker = start_worker(worker_env, module="tests.graph_app", processes=2, threads=2, cwd=".")
    try:
        photos = [save_jpeg(make_photo(700, 500, seed=n), tmp_path / f"p{n}.jpg") for n in range(IMAGES)]
        ids = [submit(storage, photo) for photo in photos]
        bad = submit(storage, photos[0], name="bad-summary.jpg")
        images = finish([*ids, bad])
        # when: the two prerequisites' messages come again (a redelivery after a lost ack)
        from actors import extract_metadata, make_variants

        for image_id in ids[:3]:
            make_variants.send(image_id)
            extract_metadata.send(image_id)
        wait_until(lambda: queued_messages("images", "encode") == 0, 30, "redeliveries")
        wait_until(lambda: DeadLetter.select().count() == 1, 30, "the dead letter")
    finally:
        assert stop_worker(worker) == 0

    runs = [entry.decode().split() for entry in redis_client.lrange(graph_app.SUMMARY_RUNS_KEY, 0, -1)]
    events = [decode(fields) for _, fields in redis_client.xrange("imagepipe:events")]
    completed = [event["image_id"] for event in events if event["type"] == "image-completed"]
    # then: every image completed with all its steps done, summary ran once each, after both
    assert [images[i].status for i in ids] == [Image.COMPLETED] * IMAGES, {i.error for i in images.values()}
    done = StepRow.select().where(StepRow.image.in_(ids), StepRow.status == StepRow.DONE)
    assert done.count() == len(PIPELINE.names) * IMAGES
    assert sorted(int(image_id) for image_id, _ in runs) == sorted([*ids, bad])
    assert {ready for _, ready in runs} == {"1"}
    assert sorted(completed) == sorted(ids)
    # and the summary's permanent failure fails its image with one dead letter, as any step's
    assert (images[bad].status, images[bad].error) == (Image.FAILED, "the summary cannot be made")
    assert [(d.actor, d.image_id, d.error_type) for d in DeadLetter.select()] == [("summarize", bad, "CorruptImage")]


def test_the_sweeper_finds_a_lost_step_that_waits_for_two_only_once_both_are_done(graph_app, broker):
    long_ago = utcnow() - datetime.timedelta(hours=1)
    lost, waiting = register_image("tests/lost.jpg"), register_image("tests/waiting.jpg")
    for image, done in ((lost, ("ingest", "variants", "metadata")), (waiting, ("ingest", "variants"))):
        StepRow.update(status=StepRow.DONE, finished_at=long_ago).where(
            StepRow.image == image.id, StepRow.name.in_(done)
        ).execute()
        Image.update(status=Image.PROCESSING, created_at=long_ago).where(Image.id == image.id).execute()

    stuck = [(step.image_id, step.name) for step in stuck_steps(utcnow(), 600)]

    assert (lost.id, "summary") in stuck
    assert (waiting.id, "summary") not in stuck and (waiting.id, "metadata") in stuck
