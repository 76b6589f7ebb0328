"""Telling a process of the `dramatiq` runner from a Worker embedded in another program."""

import signal
import threading


def in_runner_process():
    """True in a worker process of the `dramatiq` command, which installs its SIGTERM handler
    before the worker boots; False for an embedded Worker, whose signals are its host's."""
    return threading.current_thread() is threading.main_thread() and callable(signal.getsignal(signal.SIGTERM))
