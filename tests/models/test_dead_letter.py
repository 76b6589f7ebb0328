"""The DeadLetter table, purging it, and the step transitions a replay makes."""

import datetime

import dramatiq
from dramatiq.brokers.stub import StubBroker

from imagepipe.dead_letters import replay_message
from models import (
    DeadLetter,
    Image,
    Step,
    database,
    fail_step,
    migrate_schema,
    purge_dead_letters,
    register_image,
    requeue_step,
    start_step,
)
from models.image import utcnow
from tests.conftest import with_postgres


def dead_letter(**fields):
    values = {
        "message_id": "m-1",
        "actor": "ingest",
        "queue": "images",
        "message": "{}",
        "error_type": "CorruptImage",
        "error": "broken",
        "traceback": "Traceback ...",
        "attempts": 1,
    }
    return DeadLetter.create(**{**values, **fields})


def failed_in(*steps):
    image = register_image("a.jpg")
    for name in steps:
        start_step(image.id, name)
        fail_step(image.id, name, f"{name} broke")
    return image.id


@with_postgres
def test_migrate_adds_the_table_to_a_database_made_before_it(database_url):
    database.drop_tables([DeadLetter])

    assert migrate_schema() == ["dead_letter"]
    assert migrate_schema() == []


@with_postgres
def test_purge_deletes_only_older_dead_letters(database_url):
    old = dead_letter(failed_at=utcnow() - datetime.timedelta(days=31))
    recent = dead_letter(failed_at=utcnow() - datetime.timedelta(days=29))

    assert purge_dead_letters(datetime.timedelta(days=30)) == 1
    assert [d.id for d in DeadLetter.select()] == [recent.id] and old.id != recent.id


@with_postgres
def test_requeue_puts_a_failed_step_and_its_image_back_to_queued(database_url):
    image_id = failed_in("ingest")

    assert requeue_step(image_id, "ingest") is True

    step = Step.get(Step.image == image_id, Step.name == "ingest")
    assert (step.status, step.error, step.attempts) == ("queued", None, 1)
    image = Image.get_by_id(image_id)
    assert (image.status, image.error) == ("queued", None)


def test_requeue_leaves_a_done_step_and_a_completed_image_alone(database_url):
    image_id = failed_in()
    Step.update(status=Step.DONE).where(Step.image == image_id).execute()
    Image.update(status=Image.COMPLETED).where(Image.id == image_id).execute()

    assert requeue_step(image_id, "ingest") is False
    assert Image.get_by_id(image_id).status == "completed"
    assert {step.status for step in Step.select().where(Step.image == image_id)} == {"done"}


def test_the_image_stays_failed_until_its_last_failed_step_is_requeued(database_url):
    image_id = failed_in("variants", "metadata")

    requeue_step(image_id, "variants")
    assert Image.get_by_id(image_id).status == "failed"

    requeue_step(image_id, "metadata")
    assert Image.get_by_id(image_id).status == "queued"


def test_a_replayed_message_is_the_original_without_its_run_state():
    broker = StubBroker()
    actor = dramatiq.actor(lambda image_id: None, actor_name="ingest", queue_name="images", broker=broker)
    original = actor.message_with_options(args=(7,), max_retries=5)
    ran = original.copy(
        options={"retries": 4, "traceback": "Traceback ...", "requeue_timestamp": 1, "eta": 2, "redis_message_id": "r"}
    )

    message = replay_message(DeadLetter(message=ran.encode().decode()))

    assert (message.message_id, message.actor_name, message.queue_name) == (original.message_id, "ingest", "images")
    assert (message.args, message.kwargs, message.options) == ((7,), {}, {"max_retries": 5})
    assert message.message_timestamp >= original.message_timestamp
