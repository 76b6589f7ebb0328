"""``imagepipe dead-letters`` as a user runs it: a real process on the test database and Redis."""

import datetime
import json

import dramatiq
import pytest

from imagepipe.cli.dead_letters import parse_duration
from models import DeadLetter, Image, Step, fail_step, register_image, start_step
from models.image import utcnow
from tests.cli.test_cli import imagepipe


@pytest.fixture
def env(database_url, redis_client, redis_url):
    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "BROKER_URL": redis_url}


def dead_letter_of(actor_name, step, **fields):
    """A failed image and the dead letter of the pipeline message that failed it."""
    import actors

    image = register_image("tests/a.jpg")
    start_step(image.id, step)
    fail_step(image.id, step, "broken")
    message = getattr(actors, actor_name).message(image.id).copy(options={"retries": 3, "traceback": "..."})
    values = {
        "message_id": message.message_id,
        "actor": actor_name,
        "queue": message.queue_name,
        "image_id": image.id,
        "message": message.encode().decode(),
        "error_type": "TransientError",
        "error": "disk busy\nsecond line",
        "traceback": "Traceback (most recent call last):\nTransientError: disk busy",
        "attempts": 4,
    }
    return DeadLetter.create(**{**values, **fields})


def queued_messages(redis_client, queue="images"):
    return [dramatiq.Message.decode(data) for data in redis_client.hvals(f"dramatiq:{queue}.msgs")]


def test_list_shows_one_line_per_dead_letter(env):
    dead = dead_letter_of("ingest", "ingest")

    result = imagepipe("dead-letters", "list", env=env)

    assert result.returncode == 0, result.stderr
    header, _, row = result.stdout.splitlines()
    assert header.split() == ["id", "failed", "at", "(UTC)", "actor", "image", "attempts", "error", "replayed"]
    assert row.split()[:5] == [
        str(dead.id),
        dead.failed_at.strftime("%Y-%m-%d"),
        dead.failed_at.strftime("%H:%M:%S"),
        "ingest",
        str(dead.image_id),
    ]
    assert "TransientError: disk busy" in row and "second line" not in row and row.endswith("-")


def test_list_without_dead_letters(env):
    assert imagepipe("dead-letters", "list", env=env).stdout.strip() == "no dead letters"


def test_show_prints_the_traceback_and_the_message(env):
    dead = dead_letter_of("ingest", "ingest")

    result = imagepipe("dead-letters", "show", str(dead.id), env=env)

    assert result.returncode == 0, result.stderr
    assert f"message id:      {dead.message_id}" in result.stdout
    assert "TransientError: disk busy\nsecond line" in result.stdout
    traceback_part, message_part = result.stdout.split("\nmessage:\n")
    assert traceback_part.rstrip().endswith("Traceback (most recent call last):\nTransientError: disk busy")
    assert json.loads(message_part)["actor_name"] == "ingest"


def test_replay_all_of_one_actor_sends_its_original_messages_with_fresh_retries(env, redis_client):
    ingest = dead_letter_of("ingest", "ingest")
    variants = dead_letter_of("make_variants", "variants")

    result = imagepipe("dead-letters", "replay", "--all", "--actor", "make_variants", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"replayed dead letter {variants.id}: make_variants of image {variants.image_id}"
    (message,) = queued_messages(redis_client, queue="encode")  # the actor's queue now, not the stored one
    assert (message.message_id, message.actor_name, message.args) == (
        variants.message_id,
        "make_variants",
        (variants.image_id,),
    )
    assert "retries" not in message.options and "traceback" not in message.options
    assert Image.get_by_id(variants.image_id).status == "queued"
    assert Step.get(Step.image == variants.image_id, Step.name == "variants").status == "queued"
    assert Image.get_by_id(ingest.image_id).status == "failed"
    assert {d.actor: d.replay_count for d in DeadLetter.select()} == {"ingest": 0, "make_variants": 1}


def test_replay_by_id(env, redis_client):
    first, second = dead_letter_of("ingest", "ingest"), dead_letter_of("ingest", "ingest")

    result = imagepipe("dead-letters", "replay", str(second.id), env=env)

    assert result.returncode == 0, result.stderr
    assert [m.message_id for m in queued_messages(redis_client)] == [second.message_id]
    assert DeadLetter.get_by_id(first.id).replayed_at is None
    assert DeadLetter.get_by_id(second.id).replayed_at is not None


@pytest.mark.parametrize(
    "args, error",
    [
        (["replay"], "replay takes dead letter ids or --all, one of the two"),
        (["replay", "7", "--all"], "replay takes dead letter ids or --all, one of the two"),
        (["replay", "98", "99"], "no dead letter with id 98, 99"),
        (["show", "99"], "no dead letter with id 99"),
        (
            ["purge", "--older-than", "3 weeks"],
            "invalid duration '3 weeks': use a number and s, m, h, d or w, such as 30d, 12h or 90m",
        ),
    ],
)
def test_errors_are_one_line(env, args, error):
    result = imagepipe("dead-letters", *args, env=env)

    assert (result.returncode, result.stderr.strip()) == (1, f"imagepipe: error: {error}")


def test_purge_deletes_what_is_older_than_asked(env):
    old = dead_letter_of("ingest", "ingest", failed_at=utcnow() - datetime.timedelta(hours=13))
    recent = dead_letter_of("ingest", "ingest", failed_at=utcnow() - datetime.timedelta(hours=11))

    result = imagepipe("dead-letters", "purge", "--older-than", "12h", env=env)

    assert (result.returncode, result.stdout.strip()) == (0, "purged 1 dead letter(s) older than 12h")
    assert [d.id for d in DeadLetter.select()] == [recent.id] and old.id < recent.id


@pytest.mark.parametrize(
    "text, expected",
    [
        ("30d", datetime.timedelta(days=30)),
        ("12h", datetime.timedelta(hours=12)),
        ("90m", datetime.timedelta(minutes=90)),
        ("45s", datetime.timedelta(seconds=45)),
        ("2w", datetime.timedelta(weeks=2)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected
