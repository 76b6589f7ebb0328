"""Progress reports from inside an actor, in one line: ``progress(50, "decoded")``.

The event publisher gives each message a ``ProgressReporter`` for the worker thread that runs
it, and StepTracking a ``watch`` of its step (middleware/step_watch.py: the report kept on the
step's row, and the image's cancellation); ``progress`` finds both there, so actors need no
argument or import beyond this function. Outside a worker (a test calling the actor's
function, a script) there are none and nothing happens.
"""

import threading
import time

#: Always reported when a job first reaches or passes one of them, whatever the interval.
MILESTONES = (0, 10, 50, 90, 100)

_current = threading.local()


def progress(percent, note=None):
    """Report that the current job is ``percent`` (0-100) done, with an optional short note.

    Throttled: at most one report a progress interval (500 ms by default), except that
    reaching a milestone (0, 10, 50, 90, 100) is always reported, once. Call it from the
    actor's own thread. Raises imagepipe.errors.JobCancelled when the job's image was
    cancelled meanwhile: the job stops there.
    """
    reporter = getattr(_current, "reporter", None)
    if reporter is not None:
        reporter.report(percent, note)
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.report(percent, note)


def stop_if_cancelled():
    """Raise JobCancelled when the current job's image was cancelled; for long waits
    (imagepipe.isolation) that call no ``progress``. Cheap: the watch asks the database at
    most every few hundred milliseconds."""
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.tick()


def set_reporter(reporter):
    """Make ``reporter`` the current thread's (None: no job is running here any more)."""
    _current.reporter = reporter


def set_watch(watch):
    """Make ``watch`` the current thread's step watch (None: no step is running here any more)."""
    _current.watch = watch


class ProgressReporter:
    """One attempt of one job: throttles its reports and passes the rest to ``publish``.

    Parameters:
      publish(callable): called as ``publish(percent=..., note=...)`` (note only when given).
      interval_ms(int): the shortest time between two reports that are not milestones.
    """

    def __init__(self, publish, interval_ms):
        self.publish = publish
        self.interval_s = interval_ms / 1000
        self.milestones = list(MILESTONES)  # the ones not reached yet
        self.last_sent = None

    def report(self, percent, note=None):
        percent = clamp(percent)
        reached = [milestone for milestone in self.milestones if milestone <= percent]
        now = time.monotonic()
        due = self.last_sent is None or now - self.last_sent >= self.interval_s
        if not (reached or due):
            return
        for milestone in reached:
            self.milestones.remove(milestone)
        self.last_sent = now
        if note is None:
            self.publish(percent=percent)
        else:
            self.publish(percent=percent, note=note)


def clamp(percent):
    """A reported percentage as it is published and kept: 0 to 100, one decimal."""
    return round(min(100, max(0, percent)), 1)
