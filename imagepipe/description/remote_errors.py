"""What an OpenAI-compatible API's failures mean to imagepipe, with every API key taken out.

The ``openai`` client raises one exception class per HTTP outcome; ``provider_error`` turns it
into the ProviderError whose class says transient or permanent, with a message built from the
provider's own reason. Every text that leaves here went through ``redact``: OpenAI's 401 echoes
the key it got, masked ("Incorrect API key provided: sk-abc*****xyz"), and a proxy may echo an
Authorization header.
"""

import datetime
import email.utils
import math
import re

import openai

from imagepipe.errors import ProviderRefused, ProviderThrottled, ProviderUnavailable

#: The wait after a 429 that names none (no retry-after-ms, Retry-After or x-ratelimit-reset-*):
#: a per-minute budget is back within 60 s; 10 s lets a burst drain without idling for long.
DEFAULT_THROTTLE_DELAY_MS = 10_000
#: A longer wait asked by the provider (a daily quota's Retry-After) is cut to this; the message
#: is throttled again then if the budget is still spent.
MAX_THROTTLE_DELAY_MS = 3_600_000
#: The provider's reason is cut to this many characters in an error message.
MAX_REASON_CHARS = 500
REDACTED = "[redacted]"
#: Keys configured shorter than this are placeholders that local servers ignore ("ollama"),
#: not secrets; replacing them everywhere would only garble messages.
_MIN_SECRET_CHARS = 8

_TOKEN = r"[\w~+/=-]+(?:\.[\w~+/=-]+)*"  # base64url and dots (a JWT), no trailing full stop
_KEY_SHAPES = re.compile(
    rf"\bbearer\s+{_TOKEN}"  # an Authorization header's value
    r"|\b(?:sk|gsk|rk|pk)[-_][\w*~+/=-]{4,}"  # sk-..., sk-proj-..., sk-or-v1-..., their masked echoes
    r"|[\w~+/=-]*\*{3,}[\w~+/=-]*"  # any masked echo: sk-abc*****xyz, abcd****wxyz
    r"|\b[0-9a-f]{32,}\b"  # Azure's 32 hex digits
    r"|(?<=://)[^/@\s]+(?=@)",  # user:password@ in a URL
    re.IGNORECASE,
)
_LABELLED_KEY = re.compile(r"(api[-_ ]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|h|m|s)")
_DURATION_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}
_TRANSIENT_STATUSES = {408, 409}  # request timeout, conflict: the client's own retry list


def redact(text, secrets=()):
    """``text`` without the ``secrets`` (the configured keys) nor anything shaped like a key."""
    text = str(text)
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_CHARS:
            text = text.replace(secret, REDACTED)
    text = _LABELLED_KEY.sub(lambda match: match.group(1) + REDACTED, text)
    return _KEY_SHAPES.sub(REDACTED, text)


def shorten(text, limit):
    """``text`` cut to about ``limit`` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def provider_error(exc, *, secrets=(), provider="openai"):
    """The ProviderError for the ``openai`` client's exception ``exc`` (raise it outside the
    ``except`` block, so the original, with its request and headers, is not chained to it)."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderUnavailable(f"{provider} did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return ProviderUnavailable(f"cannot reach {provider}: {redact(cause, secrets)}")
    if not isinstance(exc, openai.APIStatusError):
        return ProviderUnavailable(f"{provider} failed: {type(exc).__name__}: {redact(exc, secrets)}")
    status = exc.status_code
    message = f"{provider} answered HTTP {status}: {_reason(exc, secrets)}"
    if status == 429:
        if "insufficient_quota" in (exc.code, exc.type):  # the account's credit is spent: no wait helps
            return ProviderRefused(message)
        return ProviderThrottled(message, delay_ms=throttle_delay_ms(exc.response.headers))
    if status >= 500 or status in _TRANSIENT_STATUSES:
        return ProviderUnavailable(message)
    return ProviderRefused(message)


def throttle_delay_ms(headers, *, now=None):
    """How long a 429 asks to wait, in ms: ``retry-after-ms``, else ``Retry-After`` (seconds or an
    HTTP date), else the ``x-ratelimit-reset-*`` of the exhausted budget, else the default."""
    headers = {name.lower(): value for name, value in headers.items()}
    for delay in (
        _number(headers.get("retry-after-ms")),
        _retry_after_ms(headers.get("retry-after"), now),
        _ratelimit_reset_ms(headers),
    ):
        if delay is not None:
            return min(max(0, round(delay)), MAX_THROTTLE_DELAY_MS)
    return DEFAULT_THROTTLE_DELAY_MS


def duration_ms(text):
    """OpenAI's reset durations ("20ms", "1s", "6m0s", "1h2m3.5s", a bare "2" in seconds) in ms."""
    text = (text or "").strip()
    seconds = _number(text)
    if seconds is not None:
        return seconds * 1000
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _DURATION_MS[unit] for number, unit in parts)


def _reason(exc, secrets):
    body = exc.body
    if isinstance(body, dict):
        text = str(body.get("message") or exc.message)
        code = body.get("code") or body.get("type")
        if code and str(code) not in text:
            text = f"{text} ({code})"
    elif isinstance(body, str) and body.strip():
        text = body.strip()
    else:
        text = exc.response.reason_phrase or exc.message
    return shorten(redact(text, secrets), MAX_REASON_CHARS)


def _retry_after_ms(value, now):
    if not value:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds * 1000
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    now = now or datetime.datetime.now(datetime.UTC)
    return (when - now).total_seconds() * 1000


def _ratelimit_reset_ms(headers):
    resets = {kind: duration_ms(headers.get(f"x-ratelimit-reset-{kind}")) for kind in ("requests", "tokens")}
    known = {kind: delay for kind, delay in resets.items() if delay is not None}
    exhausted = [delay for kind, delay in known.items() if headers.get(f"x-ratelimit-remaining-{kind}") == "0"]
    candidates = exhausted or list(known.values())
    return max(candidates) if candidates else None


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None
