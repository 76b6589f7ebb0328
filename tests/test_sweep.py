"""The reconciliation sweep: stuck steps are found in the database and their message re-sent."""

import datetime

import pytest

from imagepipe.samples import make_photo, save_jpeg
from imagepipe.sweep import step_actors, sweep
from models import Image, Step, finish_step, register_image, start_step, stuck_steps
from models.image import utcnow
from tests.helpers import finish, register

DEADLINE_S = 600
LONG_AGO = datetime.timedelta(hours=1)


def lost(step_name, image=None, *, status=Step.PROCESSING, ago=LONG_AGO):
    """A step left as a crashed worker leaves it, its message lost: nothing is sent."""
    image = image or register_image("tests/lost.jpg")
    Step.update(status=status, attempts=1 if status == Step.PROCESSING else 0, started_at=utcnow() - ago).where(
        Step.image == image.id, Step.name == step_name
    ).execute()
    return image


def age(image, ago=LONG_AGO):
    Image.update(created_at=utcnow() - ago).where(Image.id == image.id).execute()


def names(steps):
    return sorted((step.image_id, step.name) for step in steps)


def queued(broker):
    return broker.client.llen("dramatiq:images") + broker.client.llen("dramatiq:encode")


def test_step_actors_come_from_the_step_option(broker):
    import actors

    pipeline = {"ingest", "variants", "metadata", "embed"}
    assert {name: actor for name, actor in step_actors(broker).items() if name in pipeline} == {
        "ingest": actors.ingest,
        "variants": actors.make_variants,
        "metadata": actors.extract_metadata,
        "embed": actors.embed,
    }


def test_stuck_steps_are_old_open_steps_whose_prerequisite_is_done(database_url):
    now = utcnow()
    # a processing ingest started long ago: stuck
    crashed = lost("ingest")
    # an image registered long ago whose ingest message never arrived: stuck (queued)
    never_sent = register_image("tests/never.jpg")
    age(never_sent)
    # downstream steps queued long ago but ingest not done: waiting, not stuck
    # a fresh processing step: not stuck
    fresh = lost("ingest", ago=datetime.timedelta(seconds=5))
    # ingest done long ago, variants and describe never started: stuck; metadata done; embed
    # queued since metadata finished: stuck
    downstream = register_image("tests/down.jpg")
    age(downstream)
    for step in ("ingest", "metadata"):
        start_step(downstream.id, step)
        finish_step(downstream.id, step)
    Step.update(finished_at=now - LONG_AGO).where(Step.image == downstream.id).execute()
    # embed needs metadata: an image whose ingest is done but metadata is not has no stuck embed
    half = register_image("tests/half.jpg")
    age(half)
    start_step(half.id, "ingest")
    finish_step(half.id, "ingest")
    Step.update(finished_at=now - LONG_AGO).where(Step.image == half.id).execute()
    start_step(half.id, "metadata")  # running right now
    # a completed or failed image has nothing stuck
    done = lost("ingest")
    Image.update(status=Image.FAILED).where(Image.id == done.id).execute()

    stuck = stuck_steps(now, DEADLINE_S)

    assert names(stuck) == sorted(
        [
            (crashed.id, "ingest"),
            (never_sent.id, "ingest"),
            (downstream.id, "variants"),
            (downstream.id, "embed"),
            (downstream.id, "describe"),
            (half.id, "variants"),
            (half.id, "describe"),
        ]
    )
    assert fresh.id not in {step.image_id for step in stuck}


def test_a_downstream_step_sent_recently_is_not_stuck_though_the_image_is_old(database_url):
    # given: an old image whose metadata finished a second ago, so embed's message was just sent
    image = register_image("tests/old.jpg")
    age(image)
    for step in ("ingest", "metadata"):
        start_step(image.id, step)
        finish_step(image.id, step)
    Step.update(finished_at=utcnow() - LONG_AGO).where(Step.image == image.id, Step.name == "ingest").execute()

    assert names(stuck_steps(utcnow(), DEADLINE_S)) == [(image.id, "describe"), (image.id, "variants")]


def test_a_crashed_step_is_resent_and_the_image_completes(worker, broker, storage, tmp_path):
    # given: an image whose ingest was processing in a worker that died, its message lost
    crashed = Image.get_by_id(register(storage, save_jpeg(make_photo(400, 300, seed=5), tmp_path / "crashed.jpg")))
    image = lost("ingest", crashed)

    # when: the sweep runs
    resent = sweep(DEADLINE_S, broker=broker)

    # then: ingest is re-sent once and the pipeline runs to the end
    assert [(r.image_id, r.step, r.status, r.actor, r.sent) for r in resent] == [
        (image.id, "ingest", "processing", "ingest", True)
    ]
    assert finish([image.id])[image.id].status == Image.COMPLETED
    assert Step.get(Step.image == image.id, Step.name == "ingest").attempts == 2


def test_a_resent_step_is_left_alone_until_the_deadline_passes_again(broker):
    image = lost("ingest")

    first = sweep(DEADLINE_S, broker=broker)
    second = sweep(DEADLINE_S, broker=broker)
    later = sweep(DEADLINE_S, broker=broker, now=utcnow() + datetime.timedelta(seconds=DEADLINE_S + 1))

    assert [r.image_id for r in first] == [image.id]
    assert second == []
    assert [r.image_id for r in later] == [image.id]
    assert queued(broker) == 2


def test_a_waiting_downstream_step_and_a_fresh_step_are_not_resent(broker):
    # given: variants queued long ago, but ingest (its prerequisite) is still running
    waiting = register_image("tests/waiting.jpg")
    age(waiting)
    lost("ingest", waiting, ago=datetime.timedelta(seconds=10))
    # and an image whose ingest started a moment ago
    lost("ingest", ago=datetime.timedelta(seconds=1))

    assert sweep(DEADLINE_S, broker=broker) == []
    assert queued(broker) == 0


def test_dry_run_lists_but_sends_and_changes_nothing(broker):
    image = lost("ingest")
    before = Step.get(Step.image == image.id, Step.name == "ingest").started_at

    resent = sweep(DEADLINE_S, send=False, broker=broker)

    assert [(r.image_id, r.step, r.sent) for r in resent] == [(image.id, "ingest", False)]
    assert queued(broker) == 0
    assert Step.get(Step.image == image.id, Step.name == "ingest").started_at == before


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_stuck_steps_on_postgresql(database_url):
    image = lost("ingest")
    assert names(stuck_steps(utcnow(), DEADLINE_S)) == [(image.id, "ingest")]


def test_a_step_whose_message_waits_for_its_rate_limit_is_not_stuck(database_url):
    from models import postpone_step

    # given: an old image whose describe step has waited for its slot for an hour already
    image = register_image("tests/waits.jpg")
    age(image)
    start_step(image.id, "ingest")
    finish_step(image.id, "ingest")
    Step.update(finished_at=utcnow() - LONG_AGO).where(Step.image == image.id).execute()
    assert (image.id, "describe") in names(stuck_steps(utcnow(), DEADLINE_S))
    # when: the limiter puts its message back for 20 minutes more (a long backlog at 10/m)
    postpone_step(image.id, "describe", 20 * 60 * 1000)
    # then: it is not stuck until 20 minutes past its slot
    assert (image.id, "describe") not in names(stuck_steps(utcnow(), DEADLINE_S))
    later = utcnow() + datetime.timedelta(minutes=31)
    assert (image.id, "describe") in names(stuck_steps(later, DEADLINE_S))
