"""The describe step under real `dramatiq` workers with the remote provider: the OpenAI
stand-in (tests/openai_standin.py) plays the paid API, scripted per test."""

import base64
import io
import json
import subprocess
import sys

import pytest
from PIL import Image as PILImage

from imagepipe.event_stream import decode
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from models import DeadLetter, Description, Embedding, Image, Step
from tests.helpers import finish, submit
from tests.openai_standin import CHAT_PATH, chat_reply, error_reply

API_KEY = "sk-test-0123456789abcdefSECRET"
local_storage = pytest.mark.parametrize("storage", ["local"], indirect=True)
#: One image each: what the API answers to its describe calls.
FAILURE_SCRIPTS = {
    "server-error": [error_reply(500, "The server had an error", type="server_error", path=CHAT_PATH)],
    "timeout": [chat_reply({"description": "late"}, delay_s=3)],
    "malformed": [chat_reply("this is not JSON {"), chat_reply("still not JSON, SECOND")],
    "refused": [
        error_reply(400, "Your request was rejected by the safety system", code="content_policy_violation",
                    path=CHAT_PATH)
    ],
}  # fmt: skip


@pytest.fixture
def remote_env(worker_env, openai_standin):
    return {
        **worker_env,
        "IMAGEPIPE_DESCRIBER": "openai",
        "OPENAI_BASE_URL": openai_standin.base_url,
        "OPENAI_API_KEY": API_KEY,
        # Room for the tests' bursts; the 10/m default is the README's.
        "IMAGEPIPE_DESCRIBE_RATE_LIMIT": "100/m",
    }


def run_worker(env, log_path, **options):
    with open(log_path, "ab") as log:
        return start_worker(env, cwd=".", stdout=log, stderr=log, **options)


def describe_step(image_id):
    return Step.get(Step.image == image_id, Step.name == "describe")


def sent_pictures(standin):
    """The pictures the worker sent to the API, decoded from their data: URLs."""
    pictures = []
    for request in standin.requests(CHAT_PATH):
        for message in request["json"]["messages"]:
            for part in message["content"] if isinstance(message["content"], list) else []:
                if part.get("type") == "image_url":
                    data = part["image_url"]["url"].split(",", 1)[1]
                    pictures.append(PILImage.open(io.BytesIO(base64.b64decode(data))))
    return pictures


@local_storage
@pytest.mark.timeout(120)
def test_remote_words_are_stored_embedded_and_found_without_the_key_or_gps_leaving(
    remote_env, openai_standin, storage, corpus, redis_client, tmp_path
):
    # given: a worker on the stand-in with text embeddings on; a GPS photo among the images
    env = {**remote_env, "IMAGEPIPE_TEXT_EMBEDDER": "openai"}
    log_path = tmp_path / "worker.log"
    worker = run_worker(env, log_path)
    try:
        ids = [submit(storage, corpus / "camera" / "DSCN0010.jpg")]
        ids += [submit(storage, save_jpeg(make_photo(900, 600, seed=n), tmp_path / f"p{n}.jpg")) for n in range(2)]
        images = finish(ids)
    finally:
        assert stop_worker(worker) == 0

    # then: each image has the provider's words, with model and tokens, and a text vector
    assert {images[i].status for i in ids} == {Image.COMPLETED}, [images[i].error for i in ids]
    words = {row.image_id: row for row in Description.select()}
    assert sorted(words) == sorted(ids)
    assert {(w.provider, w.model, w.prompt_tokens) for w in words.values()} == {("openai", "gpt-4o-mini", 300)}
    assert all(w.description and w.tags and w.searchable_text for w in words.values())
    text_vectors = Embedding.select().where(Embedding.model == "openai:text-embedding-3-small")
    assert sorted(v.image_id for v in text_vectors) == sorted(ids)
    assert Embedding.select().where(Embedding.model == "local-v1").count() == len(ids)  # the pixel vector stays
    # and: what was sent is a small JPEG without EXIF (no GPS), and carried the key only as auth
    pictures = sent_pictures(openai_standin)
    assert len(pictures) == len(ids)
    assert all(p.format == "JPEG" and max(p.size) <= 768 and not p.getexif() for p in pictures)
    assert {r["headers"]["authorization"] for r in openai_standin.requests()} == {f"Bearer {API_KEY}"}
    # and: the key never reached a log line or an event
    events = json.dumps([decode(fields) for _, fields in redis_client.xrange("imagepipe:events")])
    assert API_KEY not in events and API_KEY not in log_path.read_text()
    assert API_KEY[-12:] not in events and API_KEY[-12:] not in log_path.read_text()

    # when: searched from the CLI with the same embedder
    found = subprocess.run(
        [sys.executable, "-m", "imagepipe.cli", "search", "standin landscape", "--json"],
        env={**subprocess.os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # then: every image is found, by its text and its meaning
    assert found.returncode == 0, found.stderr
    hits = [json.loads(line) for line in found.stdout.splitlines()]
    assert sorted(hit["id"] for hit in hits) == sorted(ids)
    assert {hit["found_by"] for hit in hits} == {"text+meaning"}


@local_storage
@pytest.mark.timeout(120)
def test_a_429_throttles_the_message_without_an_attempt_and_holds_every_worker_off(
    remote_env, openai_standin, storage, redis_client, tmp_path
):
    # given: the API answers the first call 429 with Retry-After: 2, and two worker processes
    openai_standin.script([error_reply(429, "Rate limit reached", code="rate_limit_exceeded",
                                       headers={"Retry-After": "2"}, path=CHAT_PATH)])  # fmt: skip
    worker = run_worker(remote_env, tmp_path / "worker.log", processes=2, threads=1)
    try:
        ids = [submit(storage, save_jpeg(make_photo(640, 480, seed=n), tmp_path / f"p{n}.jpg")) for n in range(4)]
        images = finish(ids)
    finally:
        assert stop_worker(worker) == 0

    # then: every image completed, and no describe step counts more than one attempt
    assert {images[i].status for i in ids} == {Image.COMPLETED}, [images[i].error for i in ids]
    assert [describe_step(i).attempts for i in ids] == [1] * len(ids)
    events = [
        (int(stream_id.split(b"-")[0]), decode(fields)) for stream_id, fields in redis_client.xrange("imagepipe:events")
    ]
    describes = [(ms, e) for ms, e in events if e.get("actor") == "describe"]
    throttled = [(ms, e) for ms, e in describes if e["type"] == "job-throttled"]
    # (the 429's message waits its 2 s; those that came meanwhile wait for slots after the hold)
    held_at, first = throttled[0]
    assert first["delay_ms"] == 2000 and len(throttled) >= 2
    assert not [e for _, e in describes if e["type"] in ("job-failed", "job-retrying")]
    # and: no describe started in any process until the wait was over
    started = [ms - held_at for ms, e in describes if e["type"] == "job-active" and ms > held_at]
    assert started and min(started) >= 2000 - 50, started
    # so the API saw no call in the wait but the one already under way in the other process
    calls = [r["received_at"] for r in openai_standin.requests(CHAT_PATH)]
    assert len(calls) == len(ids) + 1
    assert sum(calls[0] < t < calls[0] + 1.95 for t in calls[1:]) <= 1, [round(t - calls[0], 2) for t in calls]


@local_storage
@pytest.mark.timeout(180)
def test_transient_failures_are_retried_and_permanent_ones_dead_lettered_once(
    remote_env, openai_standin, storage, tmp_path
):
    env = {**remote_env, "IMAGEPIPE_DESCRIBE_TIMEOUT_S": "1"}
    worker = run_worker(env, tmp_path / "worker.log", processes=1, threads=1)
    outcomes = {}
    try:
        for name, script in FAILURE_SCRIPTS.items():
            openai_standin.reset()
            openai_standin.script(script)
            photo = save_jpeg(make_photo(640, 480, seed=len(outcomes)), tmp_path / f"{name}.jpg")
            image_id = submit(storage, photo, name=f"{name}.jpg")
            outcomes[name] = finish([image_id])[image_id]
    finally:
        assert stop_worker(worker) == 0

    # then: a 5xx and a timeout were retried once each and the images completed
    for name in ("server-error", "timeout"):
        assert outcomes[name].status == Image.COMPLETED, outcomes[name].error
        assert describe_step(outcomes[name].id).attempts == 2
    # and: a malformed answer was asked again once, then failed for good with the raw text
    malformed = outcomes["malformed"]
    assert malformed.status == Image.FAILED
    assert describe_step(malformed.id).attempts == 1
    assert "still not JSON, SECOND" in malformed.error
    # and: a content refusal is permanent, with the provider's reason
    refused = outcomes["refused"]
    assert refused.status == Image.FAILED and describe_step(refused.id).attempts == 1
    assert "rejected by the safety system" in refused.error
    letters = {(d.image_id, d.error_type) for d in DeadLetter.select()}
    assert letters == {(malformed.id, "ProviderAnswerInvalid"), (refused.id, "ProviderRefused")}
    assert "still not JSON, SECOND" in DeadLetter.get(DeadLetter.image_id == malformed.id).error
    # and: the key is in no dead letter (message, error or traceback)
    assert not [d for d in DeadLetter.select() if API_KEY in d.message + d.error + d.traceback]
