"""StepTracking: the database keeps up with the messages, even when a hook cannot write."""

import time

import peewee

import middleware.steps
from imagepipe.samples import make_photo, save_jpeg
from models import DeadLetter, Image, Step, register_image, start_step
from tests.helpers import finish, submit, wait_for_dead_letter


def test_steps_of_a_failed_image_are_not_started(database_url):
    """Once one step failed for good, the others are skipped instead of run for nothing."""
    image = register_image("a.jpg")
    Image.update(status=Image.FAILED).where(Image.id == image.id).execute()

    assert start_step(image.id, "embed") is False
    assert Step.get(Step.image == image.id, Step.name == "embed").attempts == 0


def test_a_message_that_expires_before_it_runs_fails_its_image_and_is_kept(worker, storage, tmp_path):
    """AgeLimit skips an expired message: its image fails with the reason and a dead letter."""
    from actors import ingest

    source = save_jpeg(make_photo(300, 200), tmp_path / "late.jpg")
    image_id = submit(storage, source)  # sent normally: ingest runs
    late = register_image(Image.get_by_id(image_id).source, "late.jpg")
    # sent a second ago with a 1 ms limit: expired whenever the worker fetches it
    message = ingest.message_with_options(args=(late.id,), max_age=1)
    ingest.broker.enqueue(message.copy(message_timestamp=int(time.time() * 1000) - 1000))

    image = finish([late.id])[late.id]

    assert (image.status, image.error) == ("failed", middleware.steps.SKIPPED_REASON)
    wait_for_dead_letter(late.id)
    assert DeadLetter.get(DeadLetter.image_id == late.id).error_type == "MessageExpired"


def test_a_finished_step_that_cannot_be_recorded_runs_again(worker, storage, tmp_path, monkeypatch):
    """The database refusing the 'done' write must not leave the image processing for ever."""
    real_finish, calls = middleware.steps.finish_step, []

    def refuse_once(image_id, name, graph, **options):
        calls.append(name)
        if name == "embed" and calls.count("embed") == 1:
            raise peewee.OperationalError("database is locked")
        return real_finish(image_id, name, graph, **options)

    monkeypatch.setattr(middleware.steps, "finish_step", refuse_once)
    monkeypatch.setattr(middleware.steps, "RECORD_RETRY_DELAY_MS", 100)

    image_id = submit(storage, save_jpeg(make_photo(400, 300), tmp_path / "a.jpg"))
    image = finish([image_id])[image_id]

    assert image.status == "completed"
    assert calls.count("embed") == 2
    assert Step.get(Step.image == image_id, Step.name == "embed").attempts == 2


def test_a_step_whose_attempts_all_died_fails_for_good_without_running(worker, storage, tmp_path):
    """Three attempts left ``processing`` with no error (their process died): the fourth is refused."""
    from actors import ingest

    image = register_image("tests/never-read.jpg", "never-read.jpg")
    Step.update(status=Step.PROCESSING, attempts=3, unended=3).where(
        Step.image == image.id, Step.name == "ingest"
    ).execute()

    ingest.send(image.id)
    image = finish([image.id])[image.id]

    assert (image.status, image.error) == ("failed", "ingest killed its worker process 3 times")
    assert Step.get(Step.image == image.id, Step.name == "ingest").attempts == 3  # not run again
    dead_letter = DeadLetter.get(DeadLetter.image_id == image.id)
    assert (dead_letter.error_type, dead_letter.attempts) == ("StepKillsItsWorker", 3)


def test_a_step_that_failed_with_an_error_is_left_to_retries(database_url):
    """An attempt that ended with an error is not a death: only unended attempts count."""
    from models import record_step_error, unended_attempts

    image = register_image("a.jpg")
    for _ in range(3):
        start_step(image.id, "ingest")
    assert unended_attempts(image.id, "ingest") == 3
    record_step_error(image.id, "ingest", "OSError: disk busy")
    assert unended_attempts(image.id, "ingest") == 0


def test_deaths_after_an_attempt_that_recorded_an_error_still_count(database_url):
    """A step that failed once with an error and then killed its process every time is poison
    all the same: the deaths in a row count, whatever came before them."""
    from models import record_step_error, unended_attempts

    image = register_image("a.jpg")
    start_step(image.id, "ingest")
    record_step_error(image.id, "ingest", "OSError: disk busy")
    for _ in range(3):
        start_step(image.id, "ingest")  # ... and its process died

    assert unended_attempts(image.id, "ingest") == 3
