"""Settings from the environment, read once into one immutable object (twelve-factor)."""

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "sqlite:///imagepipe.db"
DEFAULT_MEDIA_ROOT = "media"
DEFAULT_VARIANT_WIDTHS_PX = (640, 1024, 1920)
DEFAULT_VARIANT_FORMATS = ("webp", "avif")
DEFAULT_WEBP_QUALITY = 80
DEFAULT_WEBP_METHOD = 4
DEFAULT_AVIF_QUALITY = 60
#: Chosen by bench/encoders.py: speed 9 costs 2.6x less CPU than 8 for 4 % more bytes at
#: nearly the same SSIM (the README has the table).
DEFAULT_AVIF_SPEED = 9
DEFAULT_AVIF_THREADS = 1
DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_RETRIES = 3
#: What ingest does with an image whose decoder reports damage it would conceal (invented
#: pixels: grey blocks, smeared bands): "fail" it for good, or "mark" it and publish it with
#: the reason in Image.damage. Failing is the default: a gallery must not show a broken picture
#: as if it were the upload, and the uploader still has the file to send again.
ON_DAMAGE_CHOICES = ("fail", "mark")
DEFAULT_ON_DAMAGE = "fail"
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024
DEFAULT_RETRY_BACKOFF_MS = 2_000
DEFAULT_EMBEDDER = "local"
#: Who writes each image's words (imagepipe.description): "local" models, or "openai", any
#: OpenAI-compatible API (OPENAI_API_KEY, OPENAI_BASE_URL).
DESCRIBERS = ("local", "openai")
DEFAULT_DESCRIBER = "local"
#: What the local describer can run (imagepipe.description.local).
DESCRIBE_PARTS = ("facts", "places", "faces", "ocr")
#: Its parts when IMAGEPIPE_DESCRIBE_PARTS is not set, those installed of them: together
#: 0.34-0.41x the CPU of make_variants per 12 MP image (bench/describe.py). OCR costs 4.5x
#: make_variants, more than tripling a pipeline's CPU, so it is asked for.
DEFAULT_DESCRIBE_PARTS = ("facts", "places", "faces")
DEFAULT_DESCRIBE_MODEL = "gpt-4o-mini"
#: The remote describer's budget, shared by every worker (the original system's 10 a minute:
#: the calls are paid). Local describing is not limited.
DEFAULT_DESCRIBE_RATE_LIMIT = "10/m"
#: Seconds a remote call may take before it counts as a timeout (then retried: 2, 4, 8 s).
DEFAULT_DESCRIBE_TIMEOUT_S = 60
#: Text embedders of the searchable text ("" for none: search is full-text only).
TEXT_EMBEDDERS = ("", "openai")
DEFAULT_TEXT_EMBED_MODEL = "text-embedding-3-small"
DEFAULT_EVENTS_STREAM = "imagepipe:events"
DEFAULT_EVENTS_MAXLEN = 10_000
DEFAULT_EVENTS_TIMEOUT_MS = 100
DEFAULT_PROGRESS_INTERVAL_MS = 500
DEFAULT_SHUTDOWN_TIMEOUT_S = 25
DEFAULT_HEARTBEAT_INTERVAL_S = 30
#: How often a worker polls idle queues and moves due delayed messages (ms); Dramatiq's 1000
#: made a throttled message up to a second late (middleware/poll_interval.py).
DEFAULT_POLL_INTERVAL_MS = 100
#: A broker process silent this long (ms) is dead and its unacked messages are requeued.
#: Every Lua call refreshes the heartbeat and each live process polls its delay queues at
#: least every IMAGEPIPE_POLL_INTERVAL_MS (100 ms), so 10 s is 100 missed polls;
#: Dramatiq's 60 s kept a crashed worker's messages invisible for a minute or more.
DEFAULT_BROKER_HEARTBEAT_TIMEOUT_MS = 10_000
#: Broker calls out of a million that also run maintenance (requeue a dead process's messages
#: on that call's queue). An idle process polls each queue about 10 times a second, so 2 %
#: runs it every ~5 s per queue with one process, ~2.5 s with two; Dramatiq's 0.1 % waited
#: ~100 s. A run with no dead process costs two ZRANGEBYSCOREs on small sets.
DEFAULT_BROKER_MAINTENANCE_CHANCE = 20_000
#: A step started this many times that never ended (its process died each time) fails for good.
DEFAULT_MAX_DELIVERIES = 3
#: Seconds between reconciliation sweeps (one worker process sweeps at a time); 0 turns it off.
DEFAULT_SWEEP_INTERVAL_S = 60
#: Seconds without activity after which a queued or processing step is re-sent: longer than
#: any step (IMAGEPIPE_STEP_TIME_LIMIT_S) plus its retry schedule, so a live message is not doubled.
DEFAULT_SWEEP_DEADLINE_S = 600
#: Hard limit (s) on one step's decoding/encoding, run in a child process that is killed at the
#: limit. A legitimate worst case, a 48 MP PNG (no JPEG draft decoding), takes 6.4 s for all
#: four steps together on one core of the bench machine; 120 s leaves more than 10x headroom for
#: slower hosts and busy cores, while a hung decoder holds a worker thread two minutes, not forever.
DEFAULT_STEP_TIME_LIMIT_S = 120
#: Retention (imagepipe.retention): the days each kind of old data is kept; None keeps it for
#: ever, which is the default of every kind.
DEFAULT_RETAIN_DAYS = None
#: Seconds between two retention passes of the fleet (run by the sweeper's leader); a pass
#: cut short by its time budget is continued at the next sweep round instead.
DEFAULT_RETENTION_INTERVAL_S = 3600
DEFAULT_PORT = 8000
#: Largest upload the web app accepts, in bytes (0 = the same as IMAGEPIPE_MAX_FILE_BYTES).
DEFAULT_MAX_UPLOAD_BYTES = 0
#: Abuse limits of the web app (web/limits.py). Uploads (POST /images, POST /uploads) one
#: client may start in any window, as COUNT/PERIOD (middleware/rate_limit.py's parse_rate).
DEFAULT_WEB_UPLOAD_RATE = "60/m"
#: Failed authentications one address may make in any window; the one past it holds the address.
DEFAULT_WEB_AUTH_FAILURE_RATE = "20/m"
#: SSE streams one client may hold open at once.
DEFAULT_WEB_MAX_STREAMS_PER_CLIENT = 10
#: Largest body of every route but the two upload forms (JSON, mostly), in bytes.
DEFAULT_WEB_MAX_JSON_BYTES = 64 * 1024
#: The most a request's whole body may take to arrive (s); then 408 and the connection closes.
DEFAULT_WEB_BODY_TIMEOUT_S = 60
#: The most a request's head (request line and headers) may take to arrive (s); then the
#: connection closes (web/slow_clients.py).
DEFAULT_WEB_HEADER_TIMEOUT_S = 10
#: How long a presigned variant URL stays valid (s), when the bucket is not public.
DEFAULT_URL_EXPIRY_S = 3600
#: How long a direct-upload form stays valid (s): long enough for a slow phone, short enough
#: that a leaked form is soon useless.
DEFAULT_UPLOAD_EXPIRY_S = 600
#: A page's sign-in lasts a working day.
DEFAULT_SESSION_TTL_S = 12 * 3600
#: What IMAGEPIPE_WEBHOOK_URL can subscribe to (README, "Webhooks").
WEBHOOK_EVENTS = ("image.completed", "image.failed", "image.cancelled", "dead_letter.created")
#: The longest one webhook POST may take (ms), connecting included: a receiver that hangs holds
#: a worker thread this long, then the attempt counts as failed and is retried.
DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000
#: The webhook schedule (PipelineRetries' exact doubling, in ms): 30 s, 1, 2, 4 ... 128 min,
#: then every 4 h; 14 retries (15 attempts) span about 24 h 15 min before a delivery fails.
DEFAULT_WEBHOOK_MIN_BACKOFF_MS = 30_000
DEFAULT_WEBHOOK_MAX_BACKOFF_MS = 4 * 3600 * 1000
DEFAULT_WEBHOOK_MAX_RETRIES = 14


def _int(environ, name, default):
    value = environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value.replace("_", ""))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None


def _float(environ, name, default):
    value = environ.get(name)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None


def _days(environ, name):
    """A positive number of days, or DEFAULT_RETAIN_DAYS when unset."""
    days = _float(environ, name, DEFAULT_RETAIN_DAYS)
    if days is not None and days <= 0:
        raise ValueError(f"{name} must be a positive number of days (unset keeps for ever), not {days:g}")
    return days


def _mapping(environ, name):
    """``"embed=10/m, make_variants=off"`` -> {"embed": "10/m", "make_variants": "off"}."""
    pairs = _list(environ, name, ())
    if any("=" not in pair for pair in pairs):
        raise ValueError(f"{name} must look like actor=value,actor=value, not {environ.get(name)!r}")
    return {key.strip(): value.strip() for key, value in (pair.split("=", 1) for pair in pairs)}


def _choice(environ, name, choices, default):
    value = (environ.get(name) or default).strip().lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(c or '(empty)' for c in choices)}, not {value!r}")
    return value


def _choices(environ, name, choices):
    values = _list(environ, name, (), str.lower)
    unknown = [value for value in values if value not in choices]
    if unknown:
        raise ValueError(f"{name} may name {', '.join(choices)}, not {', '.join(unknown)}")
    return values


def _webhooks(environ, name):
    """``"URL image.failed,dead_letter.created=URL"`` -> ((URL, all events), (URL, those two)).

    Entries are separated by whitespace (a URL has none); an entry is a URL, for every event,
    or event names joined by commas, ``=``, and a URL.
    """
    targets = []
    for entry in (environ.get(name) or "").split():
        events, url = (entry.split("=", 1)) if WEBHOOK_SUBSCRIPTION.match(entry) else ("", entry)
        chosen = tuple(event for event in events.split(",") if event) or WEBHOOK_EVENTS
        unknown = [event for event in chosen if event not in WEBHOOK_EVENTS]
        if unknown:
            raise ValueError(f"{name} may subscribe to {', '.join(WEBHOOK_EVENTS)}, not {', '.join(unknown)}")
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"{name} takes http:// or https:// URLs, optionally after event=, not {url[:40]!r}")
        targets.append((url, frozenset(chosen)))
    return tuple(targets)


#: An entry of IMAGEPIPE_WEBHOOK_URL that starts with event names: ``image.failed,...=``.
WEBHOOK_SUBSCRIPTION = re.compile(r"[a-z_.]+(,[a-z_.]+)*=")


def _flag(environ, name):
    """An off-by-default switch: on for 1, true, yes or on."""
    return environ.get(name, "").lower() in ("1", "true", "yes", "on")


def _tokens(environ):
    """The admin and read tokens, checked: a read token alone would leave nobody to administer."""
    admin, read = environ.get("IMAGEPIPE_API_TOKEN", ""), environ.get("IMAGEPIPE_READ_TOKEN", "")
    if read and not admin:
        raise ValueError("IMAGEPIPE_READ_TOKEN needs IMAGEPIPE_API_TOKEN (the admin token) set too")
    if read and read == admin:
        raise ValueError("IMAGEPIPE_READ_TOKEN must differ from IMAGEPIPE_API_TOKEN")
    return {"api_token": admin, "read_token": read}


def _list(environ, name, default, convert=str):
    value = environ.get(name)
    if value in (None, ""):
        return default
    try:
        return tuple(convert(item.strip()) for item in value.split(",") if item.strip())
    except ValueError:
        raise ValueError(f"{name} must be a comma-separated list, not {value!r}") from None


@dataclass(frozen=True)
class Settings:
    """Everything imagepipe reads from its environment; see the README's configuration table."""

    redis_url: str = DEFAULT_REDIS_URL
    broker_url: str = DEFAULT_REDIS_URL
    database_url: str = DEFAULT_DATABASE_URL
    media_root: Path = Path(DEFAULT_MEDIA_ROOT)
    #: ``file:///absolute/path`` or ``s3://bucket/prefix`` (imagepipe.storage); MEDIA_ROOT's by default.
    storage_url: str = ""
    #: Where the bucket (or a CDN) serves objects publicly; empty: presigned URLs.
    public_url: str = ""
    url_expiry_s: float = DEFAULT_URL_EXPIRY_S
    upload_expiry_s: float = DEFAULT_UPLOAD_EXPIRY_S
    sentry_dsn: str = ""
    port: int = DEFAULT_PORT
    variant_widths: tuple = DEFAULT_VARIANT_WIDTHS_PX
    variant_formats: tuple = DEFAULT_VARIANT_FORMATS
    webp_quality: int = DEFAULT_WEBP_QUALITY
    webp_method: int = DEFAULT_WEBP_METHOD
    avif_quality: int = DEFAULT_AVIF_QUALITY
    avif_speed: int = DEFAULT_AVIF_SPEED
    avif_threads: int = DEFAULT_AVIF_THREADS
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_retries: int = DEFAULT_MAX_RETRIES
    on_damage: str = DEFAULT_ON_DAMAGE
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    retry_backoff_ms: int = DEFAULT_RETRY_BACKOFF_MS
    embedder: str = DEFAULT_EMBEDDER
    describer: str = DEFAULT_DESCRIBER
    #: The local describer's parts (imagepipe.description.local); empty: DEFAULT_DESCRIBE_PARTS.
    describe_parts: tuple = ()
    describe_model: str = DEFAULT_DESCRIBE_MODEL
    describe_rate_limit: str = DEFAULT_DESCRIBE_RATE_LIMIT
    describe_timeout_s: float = DEFAULT_DESCRIBE_TIMEOUT_S
    text_embedder: str = ""
    text_embed_model: str = DEFAULT_TEXT_EMBED_MODEL
    #: The OpenAI-compatible API's key and address (the ecosystem's own variables).
    openai_api_key: str = field(default="", repr=False)
    openai_base_url: str = ""
    rate_limits: dict = field(default_factory=dict)
    #: Queue of a step instead of the graph's (imagepipe.graph), e.g. {"variants": "gpu"}.
    queues: dict = field(default_factory=dict)
    #: The Redis of the events stream (written by workers, read by the CLI and the web app);
    #: REDIS_URL unless set. Apart, the events' traffic and outages stay away from the broker.
    events_redis_url: str = DEFAULT_REDIS_URL
    events_stream: str = DEFAULT_EVENTS_STREAM
    events_maxlen: int = DEFAULT_EVENTS_MAXLEN
    events_timeout_ms: int = DEFAULT_EVENTS_TIMEOUT_MS
    progress_interval_ms: int = DEFAULT_PROGRESS_INTERVAL_MS
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    poll_interval_ms: int = DEFAULT_POLL_INTERVAL_MS
    broker_heartbeat_timeout_ms: int = DEFAULT_BROKER_HEARTBEAT_TIMEOUT_MS
    broker_maintenance_chance: int = DEFAULT_BROKER_MAINTENANCE_CHANCE
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    sweep_interval_s: float = DEFAULT_SWEEP_INTERVAL_S
    sweep_deadline_s: float = DEFAULT_SWEEP_DEADLINE_S
    step_time_limit_s: float = DEFAULT_STEP_TIME_LIMIT_S
    #: Days kept of completed images' step rows, of replayed dead letters, and of failed and
    #: cancelled images with their files; None: for ever (imagepipe.retention).
    retain_step_history_days: float | None = DEFAULT_RETAIN_DAYS
    retain_replayed_dead_letters_days: float | None = DEFAULT_RETAIN_DAYS
    retain_failed_images_days: float | None = DEFAULT_RETAIN_DAYS
    retention_interval_s: float = DEFAULT_RETENTION_INTERVAL_S
    #: Run image work in a killable child process (imagepipe.isolation); off runs it in-process.
    isolate: bool = True
    prometheus: bool = False
    #: The web app's tokens: the admin one may do everything, the read one only look; both
    #: empty means no authentication (README, "Web app").
    api_token: str = field(default="", repr=False)
    read_token: str = field(default="", repr=False)
    #: How long a session cookie of the page lasts after its sign-in.
    session_ttl_s: float = DEFAULT_SESSION_TTL_S
    #: Browsers reach the app over HTTPS whatever the request's scheme says: Secure cookies, HSTS.
    https: bool = False
    max_upload_bytes: int = DEFAULT_MAX_FILE_BYTES
    #: Abuse limits of the web app (web/limits.py); rates are COUNT/PERIOD or "off", checked
    #: when the app starts.
    web_upload_rate: str = DEFAULT_WEB_UPLOAD_RATE
    web_auth_failure_rate: str = DEFAULT_WEB_AUTH_FAILURE_RATE
    web_max_streams_per_client: int = DEFAULT_WEB_MAX_STREAMS_PER_CLIENT
    web_max_json_bytes: int = DEFAULT_WEB_MAX_JSON_BYTES
    web_body_timeout_s: float = DEFAULT_WEB_BODY_TIMEOUT_S
    web_header_timeout_s: float = DEFAULT_WEB_HEADER_TIMEOUT_S
    #: ``(url, frozenset of WEBHOOK_EVENTS)`` pairs; a URL may carry a password (never logged).
    webhooks: tuple = field(default=(), repr=False)
    webhook_secret: str = field(default="", repr=False)
    webhook_timeout_ms: int = DEFAULT_WEBHOOK_TIMEOUT_MS
    webhook_min_backoff_ms: int = DEFAULT_WEBHOOK_MIN_BACKOFF_MS
    webhook_max_backoff_ms: int = DEFAULT_WEBHOOK_MAX_BACKOFF_MS
    webhook_max_retries: int = DEFAULT_WEBHOOK_MAX_RETRIES

    def webhook_urls_for(self, event_type):
        """The URLs subscribed to ``event_type`` (one of WEBHOOK_EVENTS), in the order set."""
        return tuple(url for url, events in self.webhooks if event_type in events)

    @classmethod
    def from_env(cls, environ=None):
        """Build settings from ``environ`` (``os.environ`` by default); bad values raise ValueError."""
        environ = os.environ if environ is None else environ
        redis_url = environ.get("REDIS_URL") or DEFAULT_REDIS_URL
        media_root = Path(environ.get("MEDIA_ROOT") or DEFAULT_MEDIA_ROOT).resolve()
        formats = _list(environ, "IMAGEPIPE_FORMATS", DEFAULT_VARIANT_FORMATS, str.lower)
        widths = tuple(sorted(_list(environ, "IMAGEPIPE_WIDTHS", DEFAULT_VARIANT_WIDTHS_PX, int)))
        if not widths or widths[0] <= 0:
            raise ValueError(
                f"IMAGEPIPE_WIDTHS must list positive pixel widths, not {environ.get('IMAGEPIPE_WIDTHS')!r}"
            )
        unknown = set(formats) - set(DEFAULT_VARIANT_FORMATS)
        if unknown:
            raise ValueError(f"IMAGEPIPE_FORMATS may name webp and avif, not {', '.join(sorted(unknown))}")
        on_damage = _choice(environ, "IMAGEPIPE_ON_DAMAGE", ON_DAMAGE_CHOICES, DEFAULT_ON_DAMAGE)
        describer = _choice(environ, "IMAGEPIPE_DESCRIBER", DESCRIBERS, DEFAULT_DESCRIBER)
        text_embedder = _choice(environ, "IMAGEPIPE_TEXT_EMBEDDER", TEXT_EMBEDDERS, "")
        webhooks = _webhooks(environ, "IMAGEPIPE_WEBHOOK_URL")
        if webhooks and not environ.get("IMAGEPIPE_WEBHOOK_SECRET"):
            raise ValueError("IMAGEPIPE_WEBHOOK_URL needs IMAGEPIPE_WEBHOOK_SECRET to sign what it sends")
        return cls(
            redis_url=redis_url,
            broker_url=environ.get("BROKER_URL") or redis_url,
            database_url=environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            media_root=media_root,
            storage_url=environ.get("IMAGEPIPE_STORAGE_URL") or media_root.as_uri(),
            public_url=environ.get("IMAGEPIPE_PUBLIC_URL", "").rstrip("/"),
            url_expiry_s=_float(environ, "IMAGEPIPE_URL_EXPIRY_S", DEFAULT_URL_EXPIRY_S),
            upload_expiry_s=_float(environ, "IMAGEPIPE_UPLOAD_EXPIRY_S", DEFAULT_UPLOAD_EXPIRY_S),
            sentry_dsn=environ.get("SENTRY_DSN", ""),
            port=_int(environ, "PORT", DEFAULT_PORT),
            variant_widths=widths,
            variant_formats=formats,
            webp_quality=_int(environ, "IMAGEPIPE_WEBP_QUALITY", DEFAULT_WEBP_QUALITY),
            webp_method=_int(environ, "IMAGEPIPE_WEBP_METHOD", DEFAULT_WEBP_METHOD),
            avif_quality=_int(environ, "IMAGEPIPE_AVIF_QUALITY", DEFAULT_AVIF_QUALITY),
            avif_speed=_int(environ, "IMAGEPIPE_AVIF_SPEED", DEFAULT_AVIF_SPEED),
            avif_threads=_int(environ, "IMAGEPIPE_AVIF_THREADS", DEFAULT_AVIF_THREADS),
            max_pixels=_int(environ, "IMAGEPIPE_MAX_PIXELS", DEFAULT_MAX_PIXELS),
            max_file_bytes=_int(environ, "IMAGEPIPE_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES),
            max_retries=_int(environ, "IMAGEPIPE_MAX_RETRIES", DEFAULT_MAX_RETRIES),
            on_damage=on_damage,
            max_message_bytes=_int(environ, "IMAGEPIPE_MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES),
            retry_backoff_ms=_int(environ, "IMAGEPIPE_RETRY_BACKOFF_MS", DEFAULT_RETRY_BACKOFF_MS),
            embedder=environ.get("IMAGEPIPE_EMBEDDER") or DEFAULT_EMBEDDER,
            describer=describer,
            describe_parts=_choices(environ, "IMAGEPIPE_DESCRIBE_PARTS", DESCRIBE_PARTS),
            describe_model=environ.get("IMAGEPIPE_DESCRIBE_MODEL") or DEFAULT_DESCRIBE_MODEL,
            describe_rate_limit=environ.get("IMAGEPIPE_DESCRIBE_RATE_LIMIT") or DEFAULT_DESCRIBE_RATE_LIMIT,
            describe_timeout_s=_float(environ, "IMAGEPIPE_DESCRIBE_TIMEOUT_S", DEFAULT_DESCRIBE_TIMEOUT_S),
            text_embedder=text_embedder,
            text_embed_model=environ.get("IMAGEPIPE_TEXT_EMBED_MODEL") or DEFAULT_TEXT_EMBED_MODEL,
            openai_api_key=environ.get("OPENAI_API_KEY", ""),
            openai_base_url=environ.get("OPENAI_BASE_URL", ""),
            rate_limits=_mapping(environ, "IMAGEPIPE_RATE_LIMITS"),
            queues=_mapping(environ, "IMAGEPIPE_QUEUES"),
            events_redis_url=environ.get("IMAGEPIPE_EVENTS_REDIS_URL") or redis_url,
            events_stream=environ.get("IMAGEPIPE_EVENTS_STREAM") or DEFAULT_EVENTS_STREAM,
            events_maxlen=_int(environ, "IMAGEPIPE_EVENTS_MAXLEN", DEFAULT_EVENTS_MAXLEN),
            events_timeout_ms=_int(environ, "IMAGEPIPE_EVENTS_TIMEOUT_MS", DEFAULT_EVENTS_TIMEOUT_MS),
            progress_interval_ms=_int(environ, "IMAGEPIPE_PROGRESS_INTERVAL_MS", DEFAULT_PROGRESS_INTERVAL_MS),
            shutdown_timeout_s=_float(environ, "IMAGEPIPE_SHUTDOWN_TIMEOUT_S", DEFAULT_SHUTDOWN_TIMEOUT_S),
            heartbeat_interval_s=_float(environ, "IMAGEPIPE_HEARTBEAT_INTERVAL_S", DEFAULT_HEARTBEAT_INTERVAL_S),
            poll_interval_ms=_int(environ, "IMAGEPIPE_POLL_INTERVAL_MS", DEFAULT_POLL_INTERVAL_MS),
            broker_heartbeat_timeout_ms=_int(
                environ, "IMAGEPIPE_BROKER_HEARTBEAT_TIMEOUT_MS", DEFAULT_BROKER_HEARTBEAT_TIMEOUT_MS
            ),
            broker_maintenance_chance=_int(
                environ, "IMAGEPIPE_BROKER_MAINTENANCE_CHANCE", DEFAULT_BROKER_MAINTENANCE_CHANCE
            ),
            max_deliveries=_int(environ, "IMAGEPIPE_MAX_DELIVERIES", DEFAULT_MAX_DELIVERIES),
            sweep_interval_s=_float(environ, "IMAGEPIPE_SWEEP_INTERVAL_S", DEFAULT_SWEEP_INTERVAL_S),
            sweep_deadline_s=_float(environ, "IMAGEPIPE_SWEEP_DEADLINE_S", DEFAULT_SWEEP_DEADLINE_S),
            step_time_limit_s=_float(environ, "IMAGEPIPE_STEP_TIME_LIMIT_S", DEFAULT_STEP_TIME_LIMIT_S),
            retain_step_history_days=_days(environ, "IMAGEPIPE_RETAIN_STEP_HISTORY_DAYS"),
            retain_replayed_dead_letters_days=_days(environ, "IMAGEPIPE_RETAIN_REPLAYED_DEAD_LETTERS_DAYS"),
            retain_failed_images_days=_days(environ, "IMAGEPIPE_RETAIN_FAILED_IMAGES_DAYS"),
            retention_interval_s=_float(environ, "IMAGEPIPE_RETENTION_INTERVAL_S", DEFAULT_RETENTION_INTERVAL_S),
            isolate=environ.get("IMAGEPIPE_ISOLATE", "1").lower() not in ("0", "false", "no", "off"),
            prometheus=_flag(environ, "IMAGEPIPE_PROMETHEUS"),
            **_tokens(environ),
            session_ttl_s=_float(environ, "IMAGEPIPE_SESSION_TTL_S", DEFAULT_SESSION_TTL_S),
            https=_flag(environ, "IMAGEPIPE_HTTPS"),
            max_upload_bytes=_int(environ, "IMAGEPIPE_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES)
            or _int(environ, "IMAGEPIPE_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES),
            web_upload_rate=environ.get("IMAGEPIPE_WEB_UPLOAD_RATE") or DEFAULT_WEB_UPLOAD_RATE,
            web_auth_failure_rate=environ.get("IMAGEPIPE_WEB_AUTH_FAILURE_RATE") or DEFAULT_WEB_AUTH_FAILURE_RATE,
            web_max_streams_per_client=_int(
                environ, "IMAGEPIPE_WEB_MAX_STREAMS_PER_CLIENT", DEFAULT_WEB_MAX_STREAMS_PER_CLIENT
            ),
            web_max_json_bytes=_int(environ, "IMAGEPIPE_WEB_MAX_JSON_BYTES", DEFAULT_WEB_MAX_JSON_BYTES),
            web_body_timeout_s=_float(environ, "IMAGEPIPE_WEB_BODY_TIMEOUT_S", DEFAULT_WEB_BODY_TIMEOUT_S),
            web_header_timeout_s=_float(environ, "IMAGEPIPE_WEB_HEADER_TIMEOUT_S", DEFAULT_WEB_HEADER_TIMEOUT_S),
            webhooks=webhooks,
            webhook_secret=environ.get("IMAGEPIPE_WEBHOOK_SECRET", ""),
            webhook_timeout_ms=_int(environ, "IMAGEPIPE_WEBHOOK_TIMEOUT_MS", DEFAULT_WEBHOOK_TIMEOUT_MS),
            webhook_min_backoff_ms=_int(environ, "IMAGEPIPE_WEBHOOK_MIN_BACKOFF_MS", DEFAULT_WEBHOOK_MIN_BACKOFF_MS),
            webhook_max_backoff_ms=_int(environ, "IMAGEPIPE_WEBHOOK_MAX_BACKOFF_MS", DEFAULT_WEBHOOK_MAX_BACKOFF_MS),
            webhook_max_retries=_int(environ, "IMAGEPIPE_WEBHOOK_MAX_RETRIES", DEFAULT_WEBHOOK_MAX_RETRIES),
        )


@functools.cache
def get_settings():
    """The process's settings, read from ``os.environ`` on first use."""
    return Settings.from_env()
