"""MessageSizeLimit: ids travel in messages, never payloads; a 1 MB message is refused."""

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from imagepipe.samples import make_photo, save_jpeg
from middleware.message_size import MessageTooLarge
from models import DeadLetter, Image, Step
from tests.helpers import finish, submit

MEGABYTE = "x" * 1_000_000


def test_sending_a_1_mb_message_fails_in_the_sender(broker):
    from actors import ingest

    with pytest.raises(MessageTooLarge, match="over the 65,536 byte limit"):
        ingest.send(1, note=MEGABYTE)


def test_a_1_mb_message_from_elsewhere_is_dead_lettered_and_the_worker_goes_on(
    worker, broker, redis_url, storage, tmp_path
):
    """Sent by code without the limit: it fails on its first delivery without running."""
    from actors import ingest

    image_id = submit(storage, save_jpeg(make_photo(400, 300), tmp_path / "a.jpg"))
    finish([image_id])
    oversized = dramatiq.Message(
        queue_name=ingest.queue_name,
        actor_name=ingest.actor_name,
        args=(image_id,),
        kwargs={"note": MEGABYTE},
        options={},
    )
    foreign = RedisBroker(url=redis_url, middleware=[])
    foreign.enqueue(oversized)
    foreign.close()
    broker.join(ingest.queue_name, timeout=30_000)
    worker.join()

    letter = DeadLetter.get(DeadLetter.message_id == oversized.message_id)
    assert (letter.error_type, letter.attempts) == ("MessageTooLarge", 1)
    assert Step.get(Step.image == image_id, Step.name == "ingest").attempts == 1  # it never ran
    good = submit(storage, save_jpeg(make_photo(400, 300, seed=3), tmp_path / "b.jpg"))
    assert finish([good])[good].status == Image.COMPLETED
