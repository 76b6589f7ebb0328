"""imagepipe.gauges: the Prometheus gauges of a real Redis broker and database, as scraped."""

import dataclasses
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from imagepipe.gauges import render
from models import Image
from tests.conftest import sending_to_rabbitmq
from tests.helpers import wait_until
from tests.test_queues_view import dead_letter


def scrape(settings):
    """``{(metric, label value): value}`` from the exposition text that a scrape returns."""
    text = render(settings).decode()
    return {
        (sample.name, *sample.labels.values()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def send_sent_ago(actor, image_id, seconds):
    """Send a message whose message_timestamp says it was sent ``seconds`` ago."""
    message = actor.message(image_id)
    actor.broker.enqueue(message.copy(message_timestamp=int((time.time() - seconds) * 1000)))


def test_queue_gauges_count_what_the_redis_broker_holds(broker, settings):
    from actors import ingest, make_variants

    # given: images with 3 ready sent 300, 60 and 5 s ago, 1 delayed; encode with 1 ready
    # sent 30 s ago; 2 dead letters of images not replayed and 1 replayed
    for seconds in (300, 60, 5):
        send_sent_ago(ingest, 1, seconds)
    ingest.send_with_options(args=(2,), delay=60_000)
    send_sent_ago(make_variants, 3, 30)
    for replayed in (False, False, True):
        dead_letter("images", replayed)

    figures = scrape(settings)

    assert figures["imagepipe_queue_ready_messages", "images"] == 3
    assert figures["imagepipe_queue_ready_messages", "encode"] == 1
    assert figures["imagepipe_queue_delayed_messages", "images"] == 1
    assert figures["imagepipe_queue_in_flight_messages", "images"] == 0
    assert figures["imagepipe_queue_dead_messages", "images"] == 2
    assert figures["imagepipe_queue_dead_messages", "encode"] == 0
    assert 300 <= figures["imagepipe_queue_oldest_ready_age_seconds", "images"] < 310
    assert 30 <= figures["imagepipe_queue_oldest_ready_age_seconds", "encode"] < 40


def test_the_oldest_age_follows_the_head_and_is_0_for_an_empty_queue(broker, settings):
    from actors import ingest

    send_sent_ago(ingest, 1, 600)
    send_sent_ago(ingest, 2, 20)
    consumer = broker.consume("images", prefetch=1)

    # when: a worker fetches the oldest message, the next one is the oldest ready
    assert next(consumer).args == (1,)
    figures = scrape(settings)

    assert 20 <= figures["imagepipe_queue_oldest_ready_age_seconds", "images"] < 30
    assert figures["imagepipe_queue_in_flight_messages", "images"] == 1
    assert figures["imagepipe_queue_oldest_ready_age_seconds", "encode"] == 0
    consumer.close()


def test_images_by_status_has_every_status_zeros_included(redis_client, settings):
    for status in (Image.COMPLETED, Image.COMPLETED, Image.FAILED, Image.CANCELLED, Image.QUEUED):
        Image.create(source="sources/x.jpg", status=status)

    figures = scrape(settings)

    images = {status: figures["imagepipe_images", status] for status in Image.ENDED + (Image.QUEUED, Image.PROCESSING)}
    assert images == {"completed": 2, "failed": 1, "cancelled": 1, "queued": 1, "processing": 0}
    assert (figures["imagepipe_workers", "healthy"], figures["imagepipe_workers", "stale"]) == (0, 0)


@pytest.mark.timeout(120)
def test_on_rabbitmq_ready_is_counted_and_the_unmeasured_figures_are_left_out(
    rabbitmq_url, redis_client, database_url, settings
):
    from actors import ingest

    with sending_to_rabbitmq(rabbitmq_url):
        for image_id in (1, 2):
            ingest.send(image_id)
        rabbitmq = dataclasses.replace(settings, broker_url=rabbitmq_url)
        wait_until(lambda: scrape(rabbitmq)["imagepipe_queue_ready_messages", "images"] == 2, 10, "the count")
        names = {key[0] for key in scrape(rabbitmq)}

    assert "imagepipe_queue_oldest_ready_age_seconds" not in names
    assert "imagepipe_queue_in_flight_messages" not in names
    assert "imagepipe_images" in names
