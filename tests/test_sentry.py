"""Sentry with the real SDK and a capturing transport: tags per message, nothing private sent."""

import dataclasses
import json

import dramatiq
import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from imagepipe.errors import CorruptImage
from imagepipe.sentry import init_sentry, scrub
from models import DeadLetter, register_image
from tests.conftest import WORKER_TIMEOUT_MS
from tests.helpers import middleware_broker

QUEUE = "sentry-tests"
DSN = "https://public@o0.ingest.sentry.io/1"
#: Kept away from the actor, so that Sentry's source context (lines around the raise) is code only.
PRIVATE_ERROR = (
    "cannot decode '{media_root}/uploads/ab12/Jane Doe.jpg' (cache redis://:hunter2@cache.internal:6379/0,"
    " config /home/alice/imagepipe.env)"
)


class CapturingTransport(Transport):
    """Keeps what the SDK would send; nothing goes over the network."""

    def __init__(self):
        super().__init__()
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def events(self):
        return [item.payload.json for envelope in self.envelopes for item in envelope.items if item.type == "event"]


@pytest.fixture
def transport(settings):
    transport = CapturingTransport()
    assert init_sentry(dataclasses.replace(settings, sentry_dsn=DSN), transport=transport)
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def sentry_broker(transport, redis_client, redis_url, database_url, settings):
    """Made after init_sentry, as the pipeline's broker is: the integration adds its middleware."""
    broker = middleware_broker(redis_url, database_url, max_retries=0)

    @dramatiq.actor(broker=broker, queue_name=QUEUE, step="ingest")
    def check(image_id):
        database = "postgres://bob:s3cret@db.internal/imagepipe"  # noqa: F841 (a local variable Sentry sends)
        raise CorruptImage(PRIVATE_ERROR.format(media_root=settings.media_root))

    @dramatiq.actor(broker=broker, queue_name=QUEUE)
    def cleanup():
        raise RuntimeError("cleanup failed")

    worker = dramatiq.Worker(broker, worker_timeout=WORKER_TIMEOUT_MS)
    worker.start()
    yield broker, check, cleanup
    worker.stop()
    broker.close()


def test_a_failed_message_is_reported_with_its_tags_and_nothing_private(sentry_broker, transport, settings):
    broker, check, cleanup = sentry_broker
    image = register_image("uploads/ab12/Jane Doe.jpg")

    check.send(image.id)
    broker.join(QUEUE, timeout=30_000)

    (event,) = transport.events()
    assert (event["tags"]["actor"], str(event["tags"]["image_id"])) == ("check", str(image.id))
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "CorruptImage"  # permanent errors are reported too
    assert exception["value"] == (
        "cannot decode '[media path]' (cache redis://[Filtered]@cache.internal:6379/0, config ~/imagepipe.env)"
    )
    sent = json.dumps(event)
    for private in ("hunter2", "bob:s3cret", "Jane Doe", str(settings.media_root), "/home/alice"):
        assert private not in sent
    assert "postgres://[Filtered]@db.internal/imagepipe" in sent  # the frame's local, scrubbed
    assert "ip_address" not in sent and "user" not in event
    assert sentry_sdk.get_client().options["data_collection"]["user_info"] is False
    assert DeadLetter.get().error_type == "CorruptImage"


def test_tags_belong_to_one_message(sentry_broker, transport):
    """A message of an actor without a step, after one with an image, carries no image_id."""
    broker, check, cleanup = sentry_broker

    check.send(register_image("a.jpg").id)
    broker.join(QUEUE, timeout=30_000)
    cleanup.send()
    broker.join(QUEUE, timeout=30_000)

    first, second = transport.events()
    assert set(first["tags"]) >= {"actor", "image_id"}
    assert second["tags"] == {"actor": "cleanup"}


def test_without_a_dsn_nothing_starts(settings):
    assert init_sentry(dataclasses.replace(settings, sentry_dsn="")) is False
    assert not sentry_sdk.get_client().is_active()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("amqp://guest:guest@rabbit:5672/%2F", "amqp://[Filtered]@rabbit:5672/%2F"),
        ("postgres://u:p@ss@db/x", "postgres://[Filtered]@db/x"),
        ("https://example.com/a@b?to=x@y", "https://example.com/a@b?to=x@y"),
        ("/srv/media/x.jpg; /srv/media2/y.jpg", "[media path] /srv/media2/y.jpg"),
        ("\"/srv/media/My Photo.jpg\" and '/srv/media'", "\"[media path]\" and '[media path]'"),
        ("/Users/bob/x.py /root/.cache /home/carol", "~/x.py ~/.cache ~"),
        ("source not found in s3://photos/app/sources/ab/Jane.jpg", "source not found in [media path]"),
        ("cannot read /tmp/imagepipe-k2j4/Jane Doe.jpg", "cannot read [media path] Doe.jpg"),
        ("'/tmp/imagepipe-k2j4/Jane Doe.jpg'", "'[media path]'"),
    ],
)
def test_scrub_strings(text, expected):
    assert scrub({"message": text}, {}, media_root="/srv/media") == {"message": expected}


def test_scrub_walks_the_whole_event():
    event = {"breadcrumbs": {"values": [{"message": "open /srv/media/a.jpg", "level": 20}]}, "extra": ("/home/x/y",)}

    assert scrub(event, {}, media_root="/srv/media") == {
        "breadcrumbs": {"values": [{"message": "open [media path]", "level": 20}]},
        "extra": ("~/y",),
    }


def test_a_throttled_message_is_no_error_and_the_api_key_never_leaves():
    from imagepipe.errors import ProviderThrottled

    throttled = ProviderThrottled("openai answered HTTP 429", delay_ms=2000)
    assert scrub({"message": "x"}, {"exc_info": (type(throttled), throttled, None)}, media_root="/srv/media") is None
    key = "sk-live-0123456789abcdef"
    event = {"exception": {"values": [{"value": f"refused with {key}"}]}, "extra": {"headers": {"auth": key}}}
    scrubbed = scrub(event, {}, media_root="/srv/media", secrets=(key, ""))
    assert key not in str(scrubbed) and "refused with [Filtered]" in str(scrubbed)


def test_a_web_requests_credentials_are_scrubbed_from_its_error_report():
    """What sentry-sdk's Starlette integration attaches of a request (the web app imports the
    actors, whose broker starts Sentry): its URL, query, headers and cookies."""
    event = {
        "request": {
            "url": "http://app/media/variants/1/640.webp",
            "query_string": "signature=ab12&expires=9",
            "headers": {"Authorization": "Bearer adm1n", "Cookie": "imagepipe_session=v1.admin.9.sig"},
        },
        "message": "GET /images?token=adm1n failed",
    }
    scrubbed = scrub(event, {}, media_root="/srv/media", secrets=("adm1n",))
    assert "adm1n" not in repr(scrubbed) and "ab12" not in repr(scrubbed) and "v1.admin" not in repr(scrubbed)
