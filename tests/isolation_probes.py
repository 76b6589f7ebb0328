"""Module-level functions for tests/test_isolation.py and the pipeline tests: a forkserver child
finds a function by module and name, so probes cannot be lambdas or test-local functions."""

import os
import signal
import time

from imagepipe.errors import CorruptImage, PixelLimitExceeded


def hang(*args, **kwargs):
    """A decoder that never returns."""
    while True:
        time.sleep(60)


def segfault(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGSEGV)


def exit_at_once(*args, **kwargs):
    os._exit(3)


def corrupt(*args, **kwargs):
    raise CorruptImage("image file is truncated (0 bytes not processed)")


def too_many_pixels(*args, **kwargs):
    raise PixelLimitExceeded("too many pixels", pixels=10, limit=5)


def add(a, b, *, times=1):
    return (a + b) * times, os.getpid()
