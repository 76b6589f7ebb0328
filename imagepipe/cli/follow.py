"""Following images to their end through their events: a bar each on a terminal, lines otherwise.

The events drive the display. The database is only a safety net, read every few seconds in
case events are lost (the publisher's Redis unreachable, a worker that publishes none) and
once at the end to confirm what the events said.
"""

import time

from imagepipe.event_stream import read_events
from imagepipe.graph import PIPELINE
from models import Image

#: How often the database is asked which images ended, whatever the events say.
SAFETY_CHECK_S = 5.0
BAR_WIDTH = 24
NAME_WIDTH = 24


def ended_images(image_ids):
    """``{image id: (status, error)}`` of those of ``image_ids`` that ended."""
    query = Image.select(Image.id, Image.status, Image.error).where(
        Image.id.in_(list(image_ids)), Image.status.in_(Image.ENDED)
    )
    return {image.id: (image.status, image.error) for image in query}


class ImageProgress:
    """What the events said so far about one image: percent of each step's actor, last activity."""

    def __init__(self, image_id, name):
        self.image_id = image_id
        self.name = name
        self.steps = {}
        self.status = Image.QUEUED
        self.activity = ""

    @property
    def ended(self):
        return self.status in Image.ENDED

    @property
    def percent(self):
        if self.status == Image.COMPLETED:
            return 100
        return min(100, round(sum(self.steps.values()) / len(PIPELINE.names)))

    def apply(self, event):
        kind, actor = event["type"], event.get("actor")
        if kind == "job-active":
            self.status = Image.PROCESSING
            self.steps.setdefault(actor, 0)
            self.activity = actor if event.get("attempt", 1) == 1 else f"{actor} (attempt {event['attempt']})"
        elif kind == "job-progress":
            self.steps[actor] = max(self.steps.get(actor, 0), event["percent"])
            self.activity = f"{actor}: {event['note']}" if event.get("note") else actor
        elif kind == "job-completed":
            self.steps[actor] = 100
            self.activity = f"{actor} done"
        elif kind == "job-retrying":
            self.activity = f"{actor} failed, retrying in {event['delay_ms'] / 1000:.1f}s"
        elif kind == "job-throttled":
            self.activity = f"{actor} throttled for {event['delay_ms'] / 1000:.1f}s"
        elif kind == "job-interrupted":
            self.activity = f"{actor} interrupted, queued again"
        elif kind == "image-completed":
            self.end(Image.COMPLETED)
        elif kind == "image-failed":
            self.end(Image.FAILED, event.get("error"))
        elif kind == "image-cancelled":
            self.end(Image.CANCELLED)

    def end(self, status, error=None):
        self.status = status
        self.activity = error or ""

    def line(self, bar):
        """The image's line: id, name, bar (when ``bar``), percent, status and what happens."""
        filled = self.percent * BAR_WIDTH // 100
        drawn = f" [{'#' * filled}{'.' * (BAR_WIDTH - filled)}]" if bar else ""
        if self.ended:
            state = f"{self.status}: {self.activity}" if self.activity else self.status
        else:
            state = self.activity or self.status
        return f"image {self.image_id:<5} {self.name[:NAME_WIDTH]:<{NAME_WIDTH}}{drawn} {self.percent:>3}%  {state}"


class LineView:
    """Not a terminal (a pipe, a log): one plain line whenever an image's line changes."""

    def __init__(self, out, images):
        self.out = out
        self.shown = {}

    def show(self, image):
        text = image.line(bar=False).rstrip()
        if self.shown.get(image.image_id) != text:
            self.shown[image.image_id] = text
            print(text, file=self.out, flush=True)


class BarView:
    """A terminal: one bar per image, redrawn in place."""

    def __init__(self, out, images):
        self.out = out
        self.images = images
        self._draw()

    def show(self, image):
        self.out.write(f"\x1b[{len(self.images)}F")  # back to the first bar's line
        self._draw()

    def _draw(self):
        for image in self.images:
            self.out.write(f"\x1b[2K{image.line(bar=True).rstrip()}\n")
        self.out.flush()


def follow_images(image_ids, client, *, stream, since, timeout_s, out, alive=None):
    """Show each image's progress from its events after ``since`` until all ended, the timeout
    passed, or ``alive()`` (checked every few seconds) says the worker is gone.

    True when every image ended (completed or failed), as the database confirms.
    """
    names = {image.id: image.original_name or image.source for image in Image.select().where(Image.id.in_(image_ids))}
    images = {image_id: ImageProgress(image_id, names.get(image_id, "")) for image_id in image_ids}
    view = (BarView if out.isatty() else LineView)(out, list(images.values()))
    pending = set(images)
    last_id = since
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline and (alive is None or alive()):
        window_s = min(SAFETY_CHECK_S, deadline - time.monotonic())
        events = read_events(client, stream=stream, last_id=last_id, image_ids=pending, timeout_s=window_s)
        for stream_id, event in events:
            last_id = stream_id  # the next window resumes here: nothing is read twice or missed
            image = images[int(event["image_id"])]
            image.apply(event)
            view.show(image)
            if image.ended:
                pending.discard(image.image_id)
                if not pending:
                    break
        for image_id, (status, error) in ended_images(pending).items():
            images[image_id].end(status, error)
            view.show(images[image_id])
            pending.discard(image_id)
    return len(ended_images(image_ids)) == len(set(image_ids))
