"""The pipeline end to end: real Redis broker, real in-process worker, real database, and
both storage backends (the local disk, a real S3 server)."""

import io
from pathlib import Path

import pytest
from PIL import Image as PILImage

from imagepipe.event_stream import decode
from imagepipe.samples import make_photo, save_jpeg
from middleware import EventPublisher
from models import Description, Embedding, Image, Metadata, Step, Variant
from tests.conftest import with_postgres
from tests.helpers import (
    finish,
    join_pipeline,
    stored_bytes,
    submit,
    unfinished_steps,
    wait_for_dead_letter,
    wait_until,
)


def photo(tmp_path, name="photo.jpg", size=(2400, 1600), **options):
    return save_jpeg(make_photo(*size, seed=7), tmp_path / name, **options)


@with_postgres
def test_an_image_goes_through_every_step(worker, storage, tmp_path):
    """One photo ends completed with 3 widths x 2 formats, metadata and an embedding."""
    image_id = submit(storage, photo(tmp_path))

    image = finish([image_id])[image_id]

    assert image.status == "completed", image.error
    assert (image.format, image.width, image.height) == ("JPEG", 2400, 1600)
    assert len(image.sha256) == 64
    variants = sorted((v.width, v.format) for v in image.variants)
    assert variants == sorted((w, f) for w in (640, 1024, 1920) for f in ("avif", "webp"))
    for variant in image.variants:
        data = stored_bytes(storage, variant.path)
        with PILImage.open(io.BytesIO(data)) as out:
            assert out.size == (variant.width, variant.height)
            assert out.format.lower() == variant.format
        assert len(data) == variant.bytes
    assert Metadata.get(Metadata.image == image_id).phash
    assert Embedding.get(Embedding.image == image_id).dims > 0
    assert {s.status for s in Step.select().where(Step.image == image_id)} == {"done"}


def test_a_rotated_phone_photo_comes_out_upright(worker, storage, tmp_path):
    """EXIF orientation 6 on a 1800x1200 stored image gives a 1200-wide portrait set."""
    image_id = submit(storage, photo(tmp_path, size=(1800, 1200), orientation=6))

    image = finish([image_id])[image_id]

    assert image.status == "completed", image.error
    assert (image.width, image.height) == (1200, 1800)
    assert sorted({(v.width, v.height) for v in image.variants}) == [(640, 960), (1024, 1536)]


def test_a_small_image_is_never_upscaled(worker, storage, tmp_path):
    image_id = submit(storage, photo(tmp_path, size=(500, 300)))

    image = finish([image_id])[image_id]

    assert sorted((v.width, v.format) for v in image.variants) == [(500, "avif"), (500, "webp")]


@with_postgres
def test_a_corrupt_file_fails_at_once_with_its_reason(worker, storage, corpus):
    """A truncated JPEG fails permanently on its first attempt; nothing downstream runs."""
    image_id = submit(storage, corpus / "bad" / "truncated_Canon_40D.jpg")

    image = finish([image_id])[image_id]

    assert image.status == "failed"
    assert "truncated" in image.error
    ingest = Step.get(Step.image == image_id, Step.name == "ingest")
    assert (ingest.status, ingest.attempts) == ("failed", 1)
    assert not Variant.select().where(Variant.image == image_id).exists()


@pytest.mark.parametrize("storage", ["local"], indirect=True)
def test_a_source_outside_media_root_is_refused(worker, media_root, tmp_path):
    """A symlink inside MEDIA_ROOT that points out of it is not followed."""
    from actors import ingest
    from models import register_image

    outside = photo(tmp_path, name="secret.jpg", size=(100, 100))
    link = media_root / "tests" / "link.jpg"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(outside)
    image = register_image("tests/link.jpg")
    ingest.send(image.id)

    image = finish([image.id])[image.id]

    assert image.status == "failed"
    assert "outside MEDIA_ROOT" in image.error


def completion_events(broker, redis_client):
    """The image ids of every image-completed event published so far."""
    events = next(m for m in broker.middleware if isinstance(m, EventPublisher))
    assert events.flush()
    stored = (decode(fields) for _, fields in redis_client.xrange(events.writer.stream))
    return [event["image_id"] for event in stored if event["type"] == "image-completed"]


def test_redelivered_messages_leave_one_set_of_rows_and_files(worker, broker, storage, tmp_path):
    """Re-running every step of a completed image changes no rows, adds no files, completes once."""
    from actors import describe, embed, extract_metadata, make_variants

    image_id = submit(storage, photo(tmp_path))
    first = finish([image_id])[image_id]
    words_before = Description.get(Description.image == image_id).described_at
    files_before = storage.keys(f"variants/{image_id}/")
    rows_before = [(v.id, v.width, v.format, v.bytes) for v in first.variants.order_by(Variant.id)]

    # given: the worker died after the work but before the ack, so the steps look unfinished
    Step.update(status=Step.PROCESSING).where(Step.image == image_id, Step.name != "ingest").execute()
    Image.update(status=Image.PROCESSING).where(Image.id == image_id).execute()
    # when: the same messages are delivered again
    for actor in (make_variants, extract_metadata, embed, describe):
        actor.send(image_id)
    join_pipeline(broker)
    worker.join()

    again = Image.get_by_id(image_id)
    assert again.status == "completed"
    assert storage.keys(f"variants/{image_id}/") == files_before
    assert [(v.id, v.width, v.format, v.bytes) for v in again.variants.order_by(Variant.id)] == rows_before
    assert Metadata.select().where(Metadata.image == image_id).count() == 1
    assert Embedding.select().where(Embedding.image == image_id).count() == 1
    assert [d.described_at for d in Description.select().where(Description.image == image_id)] == [words_before]


def test_a_done_step_is_skipped_when_its_message_comes_again(worker, broker, storage, tmp_path):
    """Redelivering ingest of a completed image repeats no work (its step is done)."""
    from actors import ingest

    image_id = submit(storage, photo(tmp_path, size=(800, 600)))
    finish([image_id])
    completed_at = Image.get_by_id(image_id).completed_at

    ingest.send(image_id)
    join_pipeline(broker)
    worker.join()

    steps = {s.name: s.attempts for s in Step.select().where(Step.image == image_id)}
    assert steps == {"ingest": 1, "variants": 1, "metadata": 1, "embed": 1, "describe": 1}
    assert Image.get_by_id(image_id).completed_at == completed_at


def test_many_images_complete_exactly_once(worker, broker, storage, tmp_path, redis_client):
    """Steps finishing in any order across threads complete each image once: one
    image-completed event an image, never two."""
    paths = [save_jpeg(make_photo(900, 600, seed=i), Path(tmp_path) / f"p{i}.jpg") for i in range(8)]
    ids = [submit(storage, path) for path in paths]

    images = finish(ids)
    events = next(m for m in broker.middleware if isinstance(m, EventPublisher))

    def completions():
        return [
            decode(fields)["image_id"]
            for _, fields in redis_client.xrange(events.writer.stream)
            if decode(fields)["type"] == "image-completed"
        ]

    # The event follows the commit that the database shows first: the last may be on its way.
    wait_until(lambda: len(completions()) >= len(ids), 10, lambda: f"every image-completed: {completions()}")
    worker.join()
    assert events.flush()
    assert {image.status for image in images.values()} == {"completed"}
    assert sorted(completions()) == sorted(ids)


def test_a_hung_decoder_fails_its_image_and_the_next_one_completes(worker, storage, tmp_path, monkeypatch):
    """The metadata step hangs in its child: killed at the 2 s limit, the image fails for good
    with the reason and one dead letter, and the next image goes through the same worker."""
    import dataclasses

    import actors.pipeline
    from imagepipe import imaging
    from imagepipe.settings import get_settings
    from models import DeadLetter
    from tests import isolation_probes

    # Given: the child runs what the actor names, found by module and name, so a module-level
    # hanging function replaces imaging.describe for this process's calls only.
    hung_settings = dataclasses.replace(get_settings(), step_time_limit_s=2)
    monkeypatch.setattr(actors.pipeline, "get_settings", lambda: hung_settings)
    monkeypatch.setattr(imaging, "describe", isolation_probes.hang)
    hung = submit(storage, photo(tmp_path, "hung.jpg", size=(800, 600)))

    image = finish([hung])[hung]

    assert image.status == "failed"
    assert "decoding/encoding took longer than 2 s" in image.error
    metadata = Step.get(Step.image == hung, Step.name == "metadata")
    assert (metadata.status, metadata.attempts) == ("failed", 1)
    wait_for_dead_letter(hung)
    letters = list(DeadLetter.select().where(DeadLetter.image_id == hung))
    assert [(d.actor, d.error_type) for d in letters] == [("extract_metadata", "ImageWorkTimedOut")]

    monkeypatch.undo()
    good = submit(storage, photo(tmp_path, "good.jpg", size=(800, 600)))
    assert finish([good])[good].status == "completed"


def damaged_photo(tmp_path):
    """A JPEG with 4 KB of its entropy data lost: libjpeg would fill the rest with grey."""
    data = photo(tmp_path, "whole.jpg", size=(1200, 800)).read_bytes()
    middle = len(data) // 2
    path = tmp_path / "damaged.jpg"
    path.write_bytes(data[:middle] + data[middle + 4096 :])
    return path


def test_a_damaged_photo_fails_with_the_decoders_report(worker, storage, tmp_path):
    image_id = submit(storage, damaged_photo(tmp_path))

    image = finish([image_id])[image_id]

    assert image.status == "failed"
    assert "corrupt JPEG data: " in image.error and image.error.endswith("(libjpeg-turbo)")
    assert not Variant.select().where(Variant.image == image_id).exists()


def test_with_on_damage_mark_a_damaged_photo_is_published_and_marked(worker, storage, tmp_path, monkeypatch):
    import dataclasses

    import actors.pipeline
    from imagepipe.settings import get_settings

    marking = dataclasses.replace(get_settings(), on_damage="mark")
    monkeypatch.setattr(actors.pipeline, "get_settings", lambda: marking)
    image_id = submit(storage, damaged_photo(tmp_path))

    image = finish([image_id])[image_id]

    assert image.status == "completed", image.error
    assert image.damage.startswith("corrupt JPEG data: ") and image.damage.endswith("(libjpeg-turbo)")
    assert image.state()["damage"] == image.damage
    assert len(image.variants) == 4


def test_a_strip_too_tall_for_its_variants_fails_at_ingest_with_the_reason(worker, storage, tmp_path):
    """A 700 x 20000 picture is 18286 px tall at 640 wide: over libwebp's limit, refused for good."""
    path = tmp_path / "strip.png"
    PILImage.new("RGB", (700, 20000), (90, 120, 200)).save(path)
    image_id = submit(storage, path)

    image = finish([image_id])[image_id]

    assert image.status == "failed"
    assert image.error == (
        "image is 700x20000: its 640 px wide variant would be 18286 px tall, over WEBP's 16383 px limit"
    )
    ingest = Step.get(Step.image == image_id, Step.name == "ingest")
    assert (ingest.status, ingest.attempts) == ("failed", 1)


def test_steps_a_killed_finisher_did_not_send_go_out_when_its_message_comes_again(worker, broker, storage, tmp_path):
    """The process that finished ingest died after the commit, before sending the two steps it
    made ready (and so before its ack): the redelivered ingest, skipped as done, sends them."""
    from actors import ingest
    from models import finish_step, register_image, start_step

    path = photo(tmp_path, size=(800, 600))
    key = f"tests/{path.name}"
    with open(path, "rb") as body:
        storage.put(key, body, content_type="image/jpeg")
    image_id = register_image(key, path.name).id
    # given: ingest's work done and recorded, the steps it made ready never sent
    start_step(image_id, "ingest")
    assert set(finish_step(image_id, "ingest").ready) == {"variants", "metadata", "describe"}
    # when: the broker hands its unacked message out again
    ingest.send(image_id)

    image = finish([image_id])[image_id]

    assert image.status == "completed", unfinished_steps([image_id])
    steps = {s.name: s.attempts for s in Step.select().where(Step.image == image_id)}
    assert steps == {"ingest": 1, "variants": 1, "metadata": 1, "embed": 1, "describe": 1}
