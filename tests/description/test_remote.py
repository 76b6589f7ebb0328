"""The remote describer and text embedder, with the real ``openai`` client, against the stand-in
server (tests/openai_standin.py): what is sent, what each answer becomes, and no key leaking."""

import base64
import datetime
import email.utils
import io
import logging

import numpy as np
import pytest
from PIL import Image

from imagepipe.description.remote import OpenAIDescriber, OpenAITextEmbedder, remote_copy
from imagepipe.description.remote_errors import DEFAULT_THROTTLE_DELAY_MS, duration_ms, redact, throttle_delay_ms
from imagepipe.errors import ProviderAnswerInvalid, ProviderRefused, ProviderThrottled, ProviderUnavailable
from imagepipe.redis_server import free_port
from imagepipe.samples import make_photo
from tests.imaging.helpers import LIMITS, assert_no_metadata
from tests.openai_standin import CHAT_PATH, EMBEDDINGS_PATH, chat_reply, error_reply, raw_reply

KEY = "sk-proj-abc123DEF456ghi789JKL012mno345PQR678stu901"
MASKED_KEY = "sk-proj-abc1" + "*" * 36 + "u901"  # how OpenAI's 401 echoes it
ANSWER = {
    "description": "A dog runs on a beach at sunset.",
    "detailed_description": "A brown dog runs along the wet sand; the sun sets over the sea.",
    "tags": ["Dog", "beach", "dog ", "Sunset"],
    "categories": ["Animals", "nature"],
    "objects": ["dog", "sea"],
    "colors": ["Orange", "blue"],
    "mood": "joyful",
    "style": "photo",
    "composition": "wide shot, low viewpoint",
    "searchable_text": "dog beach sunset sea",
}


@pytest.fixture
def describer(openai_standin):
    return OpenAIDescriber(api_key=KEY, base_url=openai_standin.base_url, timeout_s=5)


@pytest.fixture
def picture(corpus):
    """The remote copy of a small camera photo."""
    return remote_copy(corpus / "camera" / "DSCN0010.jpg", **LIMITS)


def sent_picture(request):
    """The image a recorded chat request carried, decoded from its data: URL."""
    url = request["json"]["messages"][1]["content"][1]["image_url"]["url"]
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    return base64.b64decode(url[len(prefix) :])


def test_a_valid_answer_gives_the_words_tokens_model_and_cost(openai_standin, describer, picture):
    openai_standin.script([chat_reply(ANSWER, usage={"cost": 0.00012}, model="openai/gpt-4o-mini")])

    words = describer.describe(picture)

    assert words.description == ANSWER["description"]
    assert words.tags == ["dog", "beach", "sunset"]  # lowercase, de-duplicated, in order
    assert words.categories == ["animals", "nature"] and words.colors == ["orange", "blue"]
    assert (words.mood, words.style, words.searchable_text) == ("joyful", "photo", "dog beach sunset sea")
    assert (words.provider, words.model) == ("openai", "openai/gpt-4o-mini")  # the model that answered
    assert words.prompt_tokens == 300 and words.completion_tokens > 0 and words.cost_usd == 0.00012
    (request,) = openai_standin.requests()
    assert request["path"] == CHAT_PATH
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert request["json"]["model"] == "gpt-4o-mini"
    schema = request["json"]["response_format"]["json_schema"]
    assert schema["strict"] is True and set(schema["schema"]["required"]) == set(ANSWER)


def test_the_default_answer_has_no_cost_and_caps_long_fields(openai_standin, describer, picture):
    openai_standin.script([chat_reply(ANSWER | {"description": "word " * 500, "tags": [f"t{n}" for n in range(99)]})])
    words = describer.describe(picture)
    assert len(words.description) <= 300 and len(words.tags) == 25 and words.cost_usd is None

    words = describer.describe(picture)  # nothing scripted: the stand-in's own answer
    assert words.description == "A landscape red test picture of 640x480 pixels."
    assert words.model == "gpt-4o-mini" and words.cost_usd is None


def test_the_picture_sent_is_small_upright_and_carries_no_exif_or_gps(openai_standin, describer, corpus, tmp_path):
    """A 2400x1600 photo stored sideways (orientation 6) with DSCN0010's GPS: the copy sent is
    512x768 upright, a JPEG with no metadata at all."""
    with Image.open(corpus / "camera" / "DSCN0010.jpg") as photo:
        gps_exif = photo.getexif()
    assert gps_exif.get_ifd(0x8825), "the corpus photo should carry GPS"
    gps_exif[0x0112] = 6
    source = tmp_path / "sideways.jpg"
    make_photo(2400, 1600).save(source, exif=gps_exif.tobytes())

    for path, size in ((source, (512, 768)), (corpus / "camera" / "DSCN0010.jpg", (640, 480))):
        describer.describe(remote_copy(path, **LIMITS))
        sent = sent_picture(openai_standin.requests()[-1])
        assert_no_metadata(sent)
        assert b"GPS" not in sent and b"WGS-84" not in sent
        with Image.open(io.BytesIO(sent)) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", size)


def test_the_copy_shows_transparency_over_white(tmp_path):
    source = tmp_path / "clear.png"
    Image.new("RGBA", (1000, 10), (255, 0, 0, 0)).save(source)
    with Image.open(io.BytesIO(remote_copy(source, **LIMITS))) as image:
        assert image.size == (768, 8) and image.mode == "RGB"
        assert min(image.getpixel((100, 4))) > 245  # white, not black or red


@pytest.mark.parametrize(
    ("headers", "delay_ms"),
    [({"Retry-After": "2"}, 2000), ({"x-ratelimit-reset-requests": "1s"}, 1000)],
)
def test_a_429_is_a_throttle_for_as_long_as_the_provider_says(openai_standin, describer, picture, headers, delay_ms):
    openai_standin.script(
        [error_reply(429, "Rate limit reached for requests", code="rate_limit_exceeded", headers=headers)]
    )
    with pytest.raises(ProviderThrottled) as caught:
        describer.describe(picture)
    assert caught.value.delay_ms == delay_ms and not caught.value.permanent
    assert "Rate limit reached" in str(caught.value)


def test_throttle_delays_follow_every_header_openai_sends():
    now = datetime.datetime(2025, 1, 1, 12, 0, tzinfo=datetime.UTC)
    in_90_s = email.utils.format_datetime(now + datetime.timedelta(seconds=90), usegmt=True)
    assert throttle_delay_ms({"retry-after-ms": "1500", "Retry-After": "9"}) == 1500
    assert throttle_delay_ms({"Retry-After": in_90_s}, now=now) == 90_000
    assert throttle_delay_ms({"Retry-After": "soon", "x-ratelimit-reset-tokens": "20ms"}) == 20
    # the budget that is spent decides; without remaining-* the longer wait does
    spent_tokens = {"x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "1.5s"}
    assert throttle_delay_ms(spent_tokens | {"x-ratelimit-remaining-tokens": "0"}) == 1500
    assert throttle_delay_ms(spent_tokens) == 360_000
    assert throttle_delay_ms({}) == DEFAULT_THROTTLE_DELAY_MS == 10_000
    assert throttle_delay_ms({"Retry-After": "86400"}) == 3_600_000  # capped at an hour
    assert [duration_ms(text) for text in ("1h2m3.5s", "250us", "2", "1x", "")] == [3_723_500, 0.25, 2000, None, None]


def test_5xx_timeouts_and_refused_connections_are_transient(openai_standin, describer, picture):
    openai_standin.script([error_reply(500, "The server had an error", type="server_error")])
    with pytest.raises(ProviderUnavailable, match="HTTP 500: The server had an error"):
        describer.describe(picture)

    openai_standin.script([chat_reply(ANSWER, delay_s=3)])
    hasty = OpenAIDescriber(api_key=KEY, base_url=openai_standin.base_url, timeout_s=0.5)
    with pytest.raises(ProviderUnavailable, match="did not answer in time"):
        hasty.describe(picture)

    nowhere = OpenAIDescriber(api_key=KEY, base_url=f"http://127.0.0.1:{free_port()}/v1", timeout_s=2)
    with pytest.raises(ProviderUnavailable, match="cannot reach openai"):
        nowhere.describe(picture)


def test_a_malformed_answer_is_asked_again_once(openai_standin, describer, picture):
    openai_standin.script([chat_reply("{not json"), chat_reply(ANSWER)])
    assert describer.describe(picture).description == ANSWER["description"]
    assert len(openai_standin.requests(CHAT_PATH)) == 2


@pytest.mark.parametrize(
    ("reply", "raw"),
    [
        (chat_reply('{"description": "A dog on a beach", "tags": '), '{"description": "A dog on a beach", "tags": '),
        (chat_reply(ANSWER | {"tags": "dog"}), '"tags": "dog"'),  # the right JSON, the wrong shape
        (chat_reply('{"description": "A dog', finish_reason="length"), '{"description": "A dog'),
        (raw_reply("<html>Bad gateway page</html>", content_type="text/html"), "Bad gateway page"),
        ({"json": {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": []}}, "choices"),
    ],
)
def test_a_malformed_answer_twice_is_invalid_with_the_raw_text(openai_standin, describer, picture, reply, raw):
    openai_standin.script([reply, reply])
    with pytest.raises(ProviderAnswerInvalid) as caught:
        describer.describe(picture)
    assert raw in str(caught.value) and caught.value.permanent
    assert len(openai_standin.requests(CHAT_PATH)) == 2


def test_content_refusals_are_permanent_with_the_providers_reason(openai_standin, describer, picture):
    reason = "Your request was rejected as a result of our safety system."
    openai_standin.script([error_reply(400, reason, code="content_policy_violation")])
    with pytest.raises(ProviderRefused, match="HTTP 400: Your request was rejected .*content_policy_violation"):
        describer.describe(picture)

    openai_standin.script([chat_reply(None, refusal="I can't help with describing this image.")])
    with pytest.raises(ProviderRefused, match="refused: I can't help"):
        describer.describe(picture)
    assert len(openai_standin.requests()) == 2  # neither was asked again


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (429, "insufficient_quota", "You exceeded your current quota, please check your plan and billing details."),
        (404, "model_not_found", "The model `gpt-9` does not exist or you do not have access to it."),
        (403, "unsupported_country_region_territory", "Country, region, or territory not supported"),
        (422, None, "Unprocessable entity"),
    ],
)
def test_other_refusals_are_permanent(openai_standin, describer, picture, status, code, message):
    openai_standin.script([error_reply(status, message, code=code, type=code or "invalid_request_error")])
    with pytest.raises(ProviderRefused, match=f"HTTP {status}: ") as caught:
        describer.describe(picture)
    assert message in str(caught.value) and caught.value.permanent


def test_the_api_key_never_leaves_in_an_error_log_or_repr(openai_standin, describer, picture, caplog):
    """OpenAI's 401 echoes the masked key; neither it nor the key reaches the error, the logs
    (the client's and httpx's debug lines included) or the describer's repr."""
    caplog.set_level(logging.DEBUG)
    message = (
        f"Incorrect API key provided: {MASKED_KEY}. You can find your API key at https://platform.openai.com/account/api-keys."
        f" (a proxy adds: Authorization: Bearer {KEY})"
    )
    openai_standin.script([error_reply(401, message, code="invalid_api_key")])

    with pytest.raises(ProviderRefused) as caught:
        describer.describe(picture)

    error = caught.value
    texts = [str(error), repr(error), *map(str, error.args), caplog.text, repr(describer)]
    for fragment in (KEY, MASKED_KEY, "sk-proj-abc1", "****", "u901"):
        assert not any(fragment in text for text in texts), fragment
    assert "HTTP 401: Incorrect API key provided: [redacted]. You can find" in str(error)
    assert (
        error.__cause__ is None and error.__context__ is None
    )  # the client's exception, with its headers, stays behind


def test_redact_removes_keys_of_every_shape():
    text = (
        "key sk-or-v1-0123456789abcdef, header Bearer abc.def-ghi, echo abcd****wxyz, "
        "azure 0123456789abcdef0123456789abcdef, api_key=hunter22, url http://user:pw@proxy:8080/v1, "
        "configured mykey12345"
    )
    redacted = redact(text, secrets=["mykey12345"])
    for secret in ("sk-or-v1", "abc.def-ghi", "****", "0123456789abcdef", "hunter22", "user:pw", "mykey12345"):
        assert secret not in redacted, secret
    assert redacted.startswith("key [redacted], header [redacted], echo [redacted]")


def test_nothing_connects_before_the_first_call():
    describer = OpenAIDescriber(api_key=KEY, base_url=f"http://127.0.0.1:{free_port()}/v1")
    assert describer._client is None
    assert repr(describer).startswith("OpenAIDescriber(provider='openai', model='gpt-4o-mini'")


def test_no_key_anywhere_is_a_refusal(monkeypatch, picture):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ProviderRefused, match="no API key"):
        OpenAIDescriber(base_url=f"http://127.0.0.1:{free_port()}/v1").describe(picture)


def test_embeddings_are_unit_vectors_one_call_for_several_texts(openai_standin):
    embedder = OpenAITextEmbedder(api_key=KEY, base_url=openai_standin.base_url)
    assert embedder.name == "openai:text-embedding-3-small" and embedder.dims is None

    vectors = embedder.embed_texts(["a dog on a beach at sunset", "sunset over the beach", "an invoice from ACME"])

    assert embedder.dims == 256 and len(vectors) == 3
    for vector in vectors:
        assert vector.dtype == np.float32 and vector.shape == (256,)
        assert np.linalg.norm(vector) == pytest.approx(1, abs=1e-6)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # the stand-in's vectors share words
    (request,) = openai_standin.requests(EMBEDDINGS_PATH)
    assert request["json"]["input"] == ["a dog on a beach at sunset", "sunset over the beach", "an invoice from ACME"]
    assert request["json"]["model"] == "text-embedding-3-small"
    assert embedder.embed_texts([]) == [] and len(openai_standin.requests()) == 1


def test_embedding_failures_map_like_the_describers(openai_standin):
    embedder = OpenAITextEmbedder(api_key=KEY, base_url=openai_standin.base_url, model="text-embedding-3-large")
    assert embedder.name == "openai:text-embedding-3-large"
    openai_standin.script(
        [
            error_reply(429, "slow down", headers={"retry-after-ms": "250"}, path=EMBEDDINGS_PATH),
            error_reply(503, "overloaded", path=EMBEDDINGS_PATH),
            {"json": {"object": "list", "data": [], "model": "m", "usage": {}}, "path": EMBEDDINGS_PATH},
        ]
    )
    with pytest.raises(ProviderThrottled) as caught:
        embedder.embed_texts(["x"])
    assert caught.value.delay_ms == 250
    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        embedder.embed_texts(["x"])
    with pytest.raises(ProviderAnswerInvalid, match="no usable vector"):
        embedder.embed_texts(["x"])
