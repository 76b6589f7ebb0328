"""Words and text embeddings from an OpenAI-compatible API (OpenAI, OpenRouter, Azure, vLLM, Ollama).

The official ``openai`` client is used with its own retries off: the pipeline decides when to
try again (remote_errors maps each failure to a transient or permanent ProviderError). Only a
small copy of the picture leaves the host: ``remote_copy`` makes it upright, at most 768 px and
a JPEG without EXIF, ICC or XMP, so no GPS position goes with it. No connection is made before
the first call.
"""

import base64
import io
import json
import logging
import threading

import numpy as np
import openai

from imagepipe.description.record import Words
from imagepipe.description.remote_errors import provider_error, redact, shorten
from imagepipe.errors import ProviderAnswerInvalid, ProviderRefused
from imagepipe.imaging.colors import flatten
from imagepipe.imaging.opening import load_upright
from imagepipe.settings import DEFAULT_DESCRIBE_MODEL, DEFAULT_DESCRIBE_TIMEOUT_S, DEFAULT_TEXT_EMBED_MODEL

logger = logging.getLogger(__name__)

REMOTE_COPY_MAX_SIDE = 768
_JPEG_QUALITY = 85
#: A malformed answer is asked for again once; the second is final.
_ANSWERS = 2
_RAW_ANSWER_CHARS = 2_000
#: The text fields asked for, with their cap in characters and what the schema tells the model.
_TEXT_FIELDS = {
    "description": (300, "one sentence saying what the image shows"),
    "detailed_description": (2_000, "a paragraph: subjects, setting, actions, visible text"),
    "mood": (100, "the mood or atmosphere, in a few words"),
    "style": (100, "photo, illustration, screenshot, diagram... and its look"),
    "composition": (300, "framing, viewpoint, lighting"),
    "searchable_text": (2_000, "the words a person would search to find this image"),
}
_LIST_FIELDS = {
    "tags": "short lowercase keywords",
    "categories": "broad categories (nature, food, people, document...)",
    "objects": "the visible objects",
    "colors": "the dominant colours, by name (not hex)",
}
_MAX_ITEMS, _MAX_ITEM_CHARS = 25, 60
_SYSTEM_PROMPT = (
    "You describe images for a search index. Say only what is visible; do not guess names, "
    "places or dates that the image does not show. Answer with JSON matching the schema."
)
_SCHEMA = {
    "type": "object",
    "properties": {
        **{name: {"type": "string", "description": what} for name, (_cap, what) in _TEXT_FIELDS.items()},
        **{
            name: {"type": "array", "items": {"type": "string"}, "description": what}
            for name, what in _LIST_FIELDS.items()
        },
    },
    "required": [*_TEXT_FIELDS, *_LIST_FIELDS],
    "additionalProperties": False,
}


def remote_copy(path, *, max_pixels, max_file_bytes, max_side=REMOTE_COPY_MAX_SIDE):
    """The JPEG bytes sent to the provider: ``path`` upright, in sRGB RGB (transparency over
    white), its long side at most ``max_side``, and no metadata at all (load_upright empties it;
    nothing is passed to the encoder). Module-level: run_isolated calls it in a child process."""
    picture = load_upright(path, max_pixels=max_pixels, max_file_bytes=max_file_bytes, max_width=max_side)
    picture.thumbnail((max_side, max_side))
    output = io.BytesIO()
    flatten(picture).save(output, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    return output.getvalue()


class _RemoteModel:
    """One model behind an OpenAI-compatible API; the client is built at the first call.

    Parameters (keyword-only): ``api_key`` (None: the client reads OPENAI_API_KEY), ``base_url``
    (None: OPENAI_BASE_URL, else OpenAI's), ``model``, ``timeout_s`` (per request, default 60 s),
    ``provider`` (the name recorded with the answer and shown in errors, default "openai").
    """

    def __init__(self, *, model, api_key=None, base_url=None, timeout_s=DEFAULT_DESCRIBE_TIMEOUT_S, provider="openai"):
        self.model = model
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.provider = provider
        self._api_key = api_key
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self):
        where = f", base_url={redact(self.base_url)!r}" if self.base_url else ""
        return f"{type(self).__name__}(provider={self.provider!r}, model={self.model!r}{where})"

    def _call(self, send):
        """``send(client)``, its failures as ProviderErrors carrying no key and no chained cause."""
        try:
            return send(self._connect())
        except openai.OpenAIError as exc:
            error = provider_error(exc, secrets=self._secrets(), provider=self.provider)
        raise error

    def _connect(self):
        with self._lock:
            if self._client is None:
                try:
                    self._client = openai.OpenAI(
                        api_key=self._api_key, base_url=self.base_url, timeout=self.timeout_s, max_retries=0
                    )
                except openai.OpenAIError:  # no key given nor in OPENAI_API_KEY
                    raise ProviderRefused(f"{self.provider}: no API key (set OPENAI_API_KEY)") from None
            return self._client

    def _secrets(self):
        return [key for key in (self._api_key, getattr(self._client, "api_key", None)) if isinstance(key, str)]


class OpenAIDescriber(_RemoteModel):
    """Writes an image's Words with a vision model (``model`` default "gpt-4o-mini"); see
    _RemoteModel for the parameters."""

    def __init__(self, *, model=DEFAULT_DESCRIBE_MODEL, **options):
        super().__init__(model=model, **options)

    def describe(self, jpeg_bytes):
        """The Words of the picture ``jpeg_bytes`` (from remote_copy): one request, or two when the
        first answer is malformed. Raises ProviderThrottled, ProviderUnavailable, ProviderRefused
        or ProviderAnswerInvalid (with the raw answer)."""
        url = "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes).decode("ascii")
        request = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": _SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Describe this image."},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                },
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "image_description", "strict": True, "schema": _SCHEMA},
            },
        }
        for attempt in range(1, _ANSWERS + 1):
            response = self._call(lambda client: client.chat.completions.create(**request))
            fields, raw, problem = self._read(response)
            if fields is not None:
                return self._words(fields, response)
            logger.warning("%s: malformed answer %d of %d: %s", self.provider, attempt, _ANSWERS, problem)
        raw = shorten(redact(raw, self._secrets()), _RAW_ANSWER_CHARS)
        raise ProviderAnswerInvalid(f"{self.provider} answered twice with {problem}: {raw!r}")

    def _read(self, response):
        """(fields, raw text, None) for a usable answer, else (None, raw text, what is wrong)."""
        if isinstance(response, str):  # a 200 whose body is not JSON: the client hands its text over
            return None, response, "a body that is not JSON"
        if not response.choices:
            return None, response.model_dump_json(), "no choices"
        choice = response.choices[0]
        if choice.message.refusal:
            raise ProviderRefused(
                f"{self.provider} refused: {shorten(redact(choice.message.refusal, self._secrets()), 500)}"
            )
        if choice.finish_reason == "content_filter":
            raise ProviderRefused(f"{self.provider} refused: its content filter stopped the answer")
        raw = choice.message.content or ""
        if choice.finish_reason == "length":
            return None, raw, "an answer cut off at the token limit"
        try:
            fields = _fields(json.loads(raw))
        except (ValueError, TypeError) as exc:
            return None, raw, f"an answer that is not the JSON asked for ({exc})"
        return fields, raw, None

    def _words(self, fields, response):
        usage = response.usage
        cost = getattr(usage, "cost", None)  # OpenRouter's; OpenAI reports none
        if not fields["searchable_text"]:
            fields["searchable_text"] = " ".join([fields["description"], *fields["tags"]]).strip()
        return Words(
            **fields,
            provider=self.provider,
            model=response.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            cost_usd=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
        )


class OpenAITextEmbedder(_RemoteModel):
    """Embeds texts with an embeddings model (``model`` default "text-embedding-3-small"); see
    _RemoteModel for the parameters. ``dims`` is known after the first answer."""

    def __init__(self, *, model=DEFAULT_TEXT_EMBED_MODEL, **options):
        super().__init__(model=model, **options)
        self.name = f"{self.provider}:{model}"
        self.dims = None

    def embed_texts(self, texts):
        """One float32, L2-normalised vector per text, in order, from one request."""
        texts = list(texts)
        if not texts:
            return []
        response = self._call(
            lambda client: client.embeddings.create(model=self.model, input=texts, encoding_format="float")
        )
        data = [] if isinstance(response, str) else sorted(response.data, key=lambda item: item.index)
        vectors = [np.asarray(item.embedding, dtype=np.float32) for item in data]
        norms = [float(np.linalg.norm(vector)) for vector in vectors]
        dims = {vector.shape for vector in vectors} | ({(self.dims,)} if self.dims else set())
        if len(vectors) != len(texts) or len(dims) != 1 or not all(norm > 0 for norm in norms):
            raw = response if isinstance(response, str) else response.model_dump_json()
            raw = shorten(redact(raw, self._secrets()), 500)
            raise ProviderAnswerInvalid(f"{self.provider} gave no usable vector per text: {raw}")
        self.dims = len(vectors[0])
        return [vector / norm for vector, norm in zip(vectors, norms, strict=True)]


def _fields(answer):
    """The Words fields of a decoded answer, capped and cleaned; ValueError for a wrong shape.

    Lenient where a smaller model may slip (a missing field is empty), strict on types, and
    the description must be there: an answer without one describes nothing."""
    if not isinstance(answer, dict):
        raise ValueError(f"a JSON {type(answer).__name__}, not an object")
    fields = {}
    for name, (cap, _what) in _TEXT_FIELDS.items():
        value = answer.get(name, "")
        if not isinstance(value, str):
            raise ValueError(f"{name} is not a string")
        fields[name] = " ".join(value.split())[:cap] if name != "detailed_description" else value.strip()[:cap]
    for name in _LIST_FIELDS:
        value = answer.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{name} is not a list of strings")
        items = (" ".join(item.split()).lower()[:_MAX_ITEM_CHARS] for item in value)
        fields[name] = list(dict.fromkeys(item for item in items if item))[:_MAX_ITEMS]
    if not fields["description"]:
        raise ValueError("no description")
    return fields
