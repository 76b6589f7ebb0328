"""The events stream: its wire format, and reading it from any id on.

Each stream entry has one field, ``event``, holding the whole event as compact JSON. One field
rather than one field a key because Redis stream values are flat strings: a consumer gets back
exactly what was published, numbers, booleans and nulls included, and can pass it on as is
(``imagepipe events --json``, an SSE ``data:`` line) without knowing the schema.

The stream id of an entry is the resume point: read after the last id you saw and you miss
nothing still kept (the stream is capped at about ``IMAGEPIPE_EVENTS_MAXLEN`` entries).
"""

import json
import time

from imagepipe.settings import DEFAULT_EVENTS_STREAM

EVENT_FIELD = "event"
#: The events that end an image, one of each image's moves to Image.ENDED.
TERMINAL_EVENTS = ("image-completed", "image-failed", "image-cancelled")
#: ``last_id`` that reads every event the stream still keeps.
FROM_START = "0-0"
#: How long one XREAD waits for new events; also how often ``stop`` is asked.
DEFAULT_BLOCK_MS = 1_000
#: Entries fetched per XREAD.
BATCH_SIZE = 100


#: One encoder for every event: json.dumps with non-default options builds a new one a call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def new_event(event_type, **fields):
    """An event with every common field (README, "Events"): those not about a job are None."""
    return {
        "type": event_type,
        "ts": time.time(),
        "job_id": None,
        "actor": None,
        "image_id": None,
        "queue": None,
        **fields,
    }


def encode(event):
    """The stored form of an event: compact JSON (``decode`` gives the same dict back)."""
    return _ENCODER.encode(event)


def decode(fields):
    """The event of one stream entry, from its fields as redis-py returns them."""
    value = fields.get(EVENT_FIELD.encode(), fields.get(EVENT_FIELD))
    return json.loads(value)


def logfmt(fields):
    """``key=value`` pairs for log lines and the CLI; values with spaces or quotes are quoted."""
    return " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items() if value is not None)


def _logfmt_value(value):
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text)
    return text


def newest_id(client, stream=DEFAULT_EVENTS_STREAM):
    """The id of the newest event, or FROM_START when there is none.

    Take it *before* causing events (enqueueing, say) and read after it: nothing is missed.
    """
    newest = client.xrevrange(stream, count=1)
    return _text(newest[0][0]) if newest else FROM_START


def read_events(
    client,
    *,
    stream=DEFAULT_EVENTS_STREAM,
    last_id=None,
    image_ids=None,
    block_ms=DEFAULT_BLOCK_MS,
    timeout_s=None,
    stop=None,
):
    """Yield ``(stream_id, event)`` for each event after ``last_id``, waiting for new ones.

    Parameters:
      client: a redis-py client whose socket timeout (if any) is longer than ``block_ms``.
      last_id(str): the id of the last event seen, to resume; FROM_START for every event kept;
        None for events from now on.
      image_ids: only events of these images (ids compared as text); None for all.
      block_ms(int): how long one read waits; ``stop`` and the timeout are checked this often.
      timeout_s(float): stop after this many seconds; None to go on.
      stop(callable): stop when it returns True; None to go on.

    The caller may also simply stop iterating; the generator holds no resources of its own.
    """
    last_id = newest_id(client, stream) if last_id is None else last_id
    wanted = None if image_ids is None else {str(image_id) for image_id in image_ids}
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while not (stop and stop()):
        block = block_ms
        if deadline is not None:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return
            block = max(1, min(block_ms, remaining_ms))
        for _, entries in client.xread({stream: last_id}, count=BATCH_SIZE, block=block) or ():
            for entry_id, fields in entries:
                last_id = _text(entry_id)
                event = decode(fields)
                if wanted is None or str(event.get("image_id")) in wanted:
                    yield last_id, event


def _text(value):
    return value.decode() if isinstance(value, bytes) else value
