"""run_isolated: a hard time limit and crash isolation for image work, in a forkserver child."""

import os
import threading
import time

import pytest

from imagepipe import isolation
from imagepipe.errors import (
    CorruptImage,
    ImageWorkAbandoned,
    ImageWorkCrashed,
    ImageWorkTimedOut,
    PixelLimitExceeded,
)
from imagepipe.isolation import run_isolated
from tests import isolation_probes


def test_the_result_comes_back_from_another_process():
    result, pid = run_isolated(isolation_probes.add, 2, 3, times=2, timeout_s=30)

    assert result == 10
    assert pid != os.getpid()


def test_a_hung_call_is_killed_at_the_limit_and_the_thread_goes_on():
    """A function that never returns fails with ImageWorkTimedOut within limit + 1 s."""
    started = time.monotonic()

    with pytest.raises(ImageWorkTimedOut, match="longer than 1 s") as raised:
        run_isolated(isolation_probes.hang, timeout_s=1)

    assert time.monotonic() - started < 2
    assert raised.value.permanent and raised.value.timeout_s == 1
    assert run_isolated(isolation_probes.add, 1, 1, timeout_s=30)[0] == 2  # the caller is free


def test_a_hung_call_does_not_block_other_threads():
    """Two threads: one waits on a hung child, the other's work completes meanwhile."""
    outcome = {}

    def hung():
        try:
            run_isolated(isolation_probes.hang, timeout_s=3)
        except ImageWorkTimedOut as exc:
            outcome["hung"] = exc

    thread = threading.Thread(target=hung)
    thread.start()
    outcome["other"] = run_isolated(isolation_probes.add, 4, 5, timeout_s=30)[0]
    assert "hung" not in outcome
    thread.join(timeout=10)

    assert outcome["other"] == 9
    assert isinstance(outcome["hung"], ImageWorkTimedOut)


def test_a_segfault_fails_the_call_not_the_process():
    with pytest.raises(ImageWorkCrashed, match=r"the decoder crashed \(signal 11, SIGSEGV\)") as raised:
        run_isolated(isolation_probes.segfault, timeout_s=30)

    assert raised.value.permanent and raised.value.exitcode == -11


def test_an_exit_without_an_answer_is_a_crash():
    with pytest.raises(ImageWorkCrashed, match="exited with code 3"):
        run_isolated(isolation_probes.exit_at_once, timeout_s=30)


def test_an_error_raised_in_the_child_arrives_as_the_same_class_and_message():
    with pytest.raises(CorruptImage) as raised:
        run_isolated(isolation_probes.corrupt, timeout_s=30)

    assert type(raised.value) is CorruptImage
    assert str(raised.value) == "image file is truncated (0 bytes not processed)"
    assert "isolation_probes.py" in raised.value.__notes__[0]  # the child's traceback


def test_keyword_only_error_attributes_survive_the_trip():
    with pytest.raises(PixelLimitExceeded) as raised:
        run_isolated(isolation_probes.too_many_pixels, timeout_s=30)

    assert (str(raised.value), raised.value.pixels, raised.value.limit) == ("too many pixels", 10, 5)


def test_disabled_isolation_calls_in_this_process():
    assert run_isolated(isolation_probes.add, 1, 2, timeout_s=0, enabled=False) == (3, os.getpid())


def test_a_child_killed_by_the_exiting_worker_is_no_verdict_on_its_image(monkeypatch):
    """At exit the worker process kills children still at work; their threads must not read
    that as a decoder crash, which would fail the image for good."""
    monkeypatch.setattr(isolation, "_exiting", threading.Event())
    outcome = []

    def call():
        try:
            run_isolated(isolation_probes.hang, timeout_s=30)
        except Exception as error:
            outcome.append(error)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(1)  # the child is at work

    isolation._kill_children()
    thread.join(timeout=10)

    assert len(outcome) == 1 and isinstance(outcome[0], ImageWorkAbandoned), outcome
    assert not outcome[0].permanent
