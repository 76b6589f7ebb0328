"""Progress reports from inside an actor, in one line: ``progress(50, "decoded")``.

The event publisher gives each message a ``ProgressReporter`` for the worker thread that runs
it; ``progress`` finds it there, so actors need no argument or import beyond this function.
Outside a worker (a test calling the actor's function, a script) there is none and nothing
happens.
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
    actor's own thread.
    """
    reporter = getattr(_current, "reporter", None)
    if reporter is not None:
        reporter.report(percent, note)


def set_reporter(reporter):
    """Make ``reporter`` the current thread's (None: no job is running here any more)."""
    _current.reporter = reporter


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
        percent = round(min(100, max(0, percent)), 1)
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
