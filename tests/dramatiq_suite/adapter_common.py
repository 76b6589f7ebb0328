"""What the Dramatiq test modules that tests.dramatiq_suite.run takes import from their
``tests/common.py``, which is not in Dramatiq's sdist."""

import contextlib
import platform

import pika
import pytest
from dramatiq import Worker


@contextlib.contextmanager
def worker(*args, **kwargs):
    worker = Worker(*args, **kwargs)
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()


skip_on_windows = pytest.mark.skipif(platform.system() == "Windows", reason="test skipped on Windows")
skip_on_pypy = pytest.mark.skipif(platform.python_implementation() == "PyPy", reason="no time limits on PyPy")
RABBITMQ_CREDENTIALS = pika.credentials.PlainCredentials("guest", "guest")
