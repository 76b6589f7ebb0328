"""What a running step's thread tells its row, and learns from it (imagepipe.progress)."""

import logging
import time

import peewee

from imagepipe.errors import JobCancelled, first_line
from imagepipe.progress import clamp
from models import image_cancelled, record_progress

logger = logging.getLogger(__name__)

#: How often a running step asks whether its image was cancelled: a cancel stops it within
#: about this long after its next progress call or during an isolation wait.
CANCEL_CHECK_INTERVAL_S = 1.0
#: The shortest time between two progress reports kept on the step's row: a step that ends
#: sooner writes none (its ``done`` says it all), so short steps cost the database nothing.
RECORD_INTERVAL_S = 2.0


class StepWatch:
    """One attempt of one step: keeps its last progress report on the step's row, at most
    every RECORD_INTERVAL_S, and raises JobCancelled once its image is cancelled.

    The latest report waits in memory until it is due, and is written by the next
    ``report`` or ``tick`` (an isolation wait ticks every few hundred milliseconds), so a
    long decode still shows the "decoding" that came before it. A database that does not
    answer costs a warning, never the job.
    """

    def __init__(self, image_id, step):
        self.image_id = image_id
        self.step = step
        self._checked = self._recorded = time.monotonic()
        self._pending = None

    def report(self, percent, note=None):
        self._pending = (clamp(percent), note)
        self.tick()

    def tick(self):
        now = time.monotonic()
        try:
            if self._pending is not None and now - self._recorded >= RECORD_INTERVAL_S:
                self._recorded = now
                record_progress(self.image_id, self.step, *self._pending)
                self._pending = None
            if now - self._checked >= CANCEL_CHECK_INTERVAL_S:
                self._checked = now
                cancelled = image_cancelled(self.image_id)
            else:
                cancelled = False
        except peewee.PeeweeException as error:
            logger.warning("Could not read or record %s of image %s: %s", self.step, self.image_id, first_line(error))
            return
        if cancelled:
            raise JobCancelled(f"image {self.image_id} was cancelled")
