"""imagepipe.retention: old data of each kind goes after its days, in batches; nothing else does."""

import datetime
import io

from imagepipe.retention import purge, retention_days
from imagepipe.storage import variant_prefix
from imagepipe.storage.keys import source_key
from models import DeadLetter, DeletedImage, Image, Step, Variant, register_image
from models.image import utcnow
from models.retention import delete_oldest, old_step_history
from tests.conftest import with_postgres
from tests.test_queues_view import dead_letter


def days_ago(days):
    return utcnow() - datetime.timedelta(days=days)


def stored_image(storage, status, days):
    """An image with its source and one variant in storage, ``status`` since ``days`` ago."""
    key = source_key("a.jpg")
    storage.put(key, io.BytesIO(b"source"), content_type="image/jpeg")
    image = register_image(key, "a.jpg")
    variant = f"{variant_prefix(image.id)}640.webp"
    storage.put(variant, io.BytesIO(b"variant"), content_type="image/webp")
    Variant.create(image=image.id, label="640w", format="webp", width=640, height=480, bytes=7, path=variant)
    when = days_ago(days)
    completed_at = when if status == Image.COMPLETED else None
    Image.update(status=status, updated_at=when, completed_at=completed_at).where(Image.id == image.id).execute()
    return image.id, [key, variant]


def steps_of(image_id):
    return Step.select().where(Step.image == image_id).count()


def test_every_kind_is_kept_for_ever_by_default(settings, database_url, storage):
    image_id, keys = stored_image(storage, Image.FAILED, 3650)

    assert retention_days(settings) == {}
    assert purge(retention_days(settings)) == []
    assert Image.get_by_id(image_id) and all(storage.exists(key) for key in keys)


@with_postgres
def test_failed_and_cancelled_images_go_with_their_files_and_nothing_else(database_url, storage):
    # given: given-up images 10 days old, a failed one 2 days old, and old images of other statuses
    old = [stored_image(storage, status, 10) for status in (Image.FAILED, Image.CANCELLED)]
    kept = [
        stored_image(storage, Image.FAILED, 2),
        *(stored_image(storage, status, 10) for status in (Image.COMPLETED, Image.QUEUED, Image.PROCESSING)),
    ]

    (purged,) = purge({"failed_images": 7})

    assert (purged.kind, purged.count, purged.finished) == ("failed_images", 2, True)
    for image_id, keys in old:
        assert Image.get_or_none(Image.id == image_id) is None
        assert steps_of(image_id) == 0 and not Variant.select().where(Variant.image == image_id).exists()
        assert not any(storage.exists(key) for key in keys)
        assert DeletedImage.get_or_none(DeletedImage.id == image_id)  # its late messages end quietly
    for image_id, keys in kept:
        assert steps_of(Image.get_by_id(image_id).id) == 5
        assert all(storage.exists(key) for key in keys)


@with_postgres
def test_step_history_of_old_completed_images_goes_and_the_images_stay(database_url, storage):
    old, _ = stored_image(storage, Image.COMPLETED, 10)
    young, _ = stored_image(storage, Image.COMPLETED, 2)
    failed, _ = stored_image(storage, Image.FAILED, 10)

    (purged,) = purge({"step_history": 7})

    assert purged.count == 5  # the old image's five steps
    assert (steps_of(old), steps_of(young), steps_of(failed)) == (0, 5, 5)
    assert Image.get_by_id(old).status == Image.COMPLETED
    assert Variant.select().where(Variant.image == old).count() == 1


@with_postgres
def test_dead_letters_replayed_long_ago_go_and_those_never_replayed_stay(database_url):
    long_ago, recently, never = dead_letter("images", True), dead_letter("images", True), dead_letter("images")
    DeadLetter.update(replayed_at=days_ago(40)).where(DeadLetter.id == long_ago.id).execute()
    DeadLetter.update(replayed_at=days_ago(1)).where(DeadLetter.id == recently.id).execute()
    DeadLetter.update(failed_at=days_ago(400)).where(DeadLetter.id == never.id).execute()

    (purged,) = purge({"replayed_dead_letters": 30})

    assert purged.count == 1
    assert sorted(d.id for d in DeadLetter.select()) == [recently.id, never.id]


@with_postgres
def test_a_dry_run_tells_count_oldest_and_newest_and_deletes_nothing(database_url, storage):
    first, _ = stored_image(storage, Image.FAILED, 30)
    stored_image(storage, Image.CANCELLED, 20)
    stored_image(storage, Image.COMPLETED, 9)

    report = {p.kind: p for p in purge({"failed_images": 7, "step_history": 7}, dry_run=True)}

    assert report["failed_images"].count == 2 and report["step_history"].count == 5
    assert abs(report["failed_images"].oldest - days_ago(30)) < datetime.timedelta(minutes=1)
    assert abs(report["failed_images"].newest - days_ago(20)) < datetime.timedelta(minutes=1)
    assert Image.select().count() == 3 and Step.select().count() == 15


def test_a_batch_deletes_the_oldest_rows_only_and_a_spent_budget_stops_before_one(database_url, storage):
    # given: three old completed images (15 step rows), the oldest first
    images = [stored_image(storage, Image.COMPLETED, days)[0] for days in (30, 20, 10)]

    # when: one batch of 7 rows; then: the oldest image's 5 steps and 2 of the next go
    assert delete_oldest(old_step_history(days_ago(7)), 7) == 7
    assert [steps_of(image_id) for image_id in images] == [0, 3, 5]

    # when: the pass has no time left; then: it stops with its rows left, and says so
    (purged,) = purge({"step_history": 7}, budget_s=0)
    assert (purged.count, purged.finished) == (0, False)
    assert purge({"step_history": 7}, batch=3)[0].count == 8
    assert Step.select().count() == 0
