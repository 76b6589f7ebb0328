"""``imagepipe events [--image ID] [--json] [--from-start]``: follow the pipeline's events live."""

import datetime

import redis

from imagepipe.event_stream import FROM_START, encode, logfmt, read_events

NAME = "events"
HELP = "follow job and image events live (Ctrl-C stops)"
#: Shown in the readable form only: the rest of the event's fields follow as key=value.
HIDDEN_FIELDS = ("type", "ts", "queue", "job_id", "actor", "image_id")


def add_arguments(parser):
    parser.add_argument("--image", type=int, metavar="ID", help="only the events of this image")
    parser.add_argument("--json", action="store_true", help="one event per line, as stored (compact JSON)")
    parser.add_argument("--from-start", action="store_true", help="begin with the oldest event still kept")


def describe(event):
    """One readable line: time, type, image, actor, short job id, then the event's own fields."""
    clock = datetime.datetime.fromtimestamp(event["ts"]).strftime("%H:%M:%S.%f")[:-3]
    image = "-" if event.get("image_id") is None else event["image_id"]
    job = (event.get("job_id") or "-")[:8]
    extra = logfmt({key: value for key, value in event.items() if key not in HIDDEN_FIELDS})
    return f"{clock}  {event['type']:<17}  image {image:<5}  {event.get('actor') or '-':<16}  {job}  {extra}".rstrip()


def run(args, settings):
    client = redis.Redis.from_url(settings.events_redis_url)
    events = read_events(
        client,
        stream=settings.events_stream,
        last_id=FROM_START if args.from_start else None,
        image_ids=None if args.image is None else [args.image],
    )
    try:
        for _, event in events:
            print(encode(event) if args.json else describe(event), flush=True)
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how one stops following
    finally:
        client.close()
    return 0
