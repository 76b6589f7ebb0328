"""progress(): one call in an actor; throttled to one report an interval, milestones always once."""

import threading
import time

import pytest

from imagepipe.progress import MILESTONES, ProgressReporter, progress, set_reporter


class Reports(list):
    def __call__(self, **fields):
        self.append(fields)


@pytest.fixture
def reports():
    reports = Reports()
    set_reporter(ProgressReporter(reports, interval_ms=50))
    yield reports
    set_reporter(None)


def test_a_tight_loop_reports_only_the_milestones(reports):
    for step in range(1_001):
        progress(step / 10)

    assert [r["percent"] for r in reports] == list(MILESTONES)


def test_between_milestones_at_most_one_report_an_interval(reports):
    started = time.monotonic()
    for step in range(11, 50):  # no milestone in range
        progress(step)
        time.sleep(0.005)
    elapsed = time.monotonic() - started

    assert 2 <= len(reports) <= 1 + elapsed / 0.05
    assert reports[0] == {"percent": 11}  # the first report is never held back


def test_a_milestone_passed_over_is_reported_and_each_milestone_once(reports):
    progress(55, "decoded")  # passes 0, 10 and 50 at once
    progress(60)  # within the interval, no new milestone: dropped
    progress(100)
    progress(100)

    assert reports == [{"percent": 55, "note": "decoded"}, {"percent": 100}]


def test_percent_is_clamped_to_0_100(reports):
    progress(-5)
    progress(250)

    assert [r["percent"] for r in reports] == [0, 100]


def test_outside_a_job_progress_does_nothing():
    result = []
    thread = threading.Thread(target=lambda: result.append(progress(50)))
    thread.start()
    thread.join()

    assert result == [None]  # and no error: there is no reporter in this thread
