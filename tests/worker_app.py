"""The pipeline's actors plus probes that tests run under a real `dramatiq tests.worker_app`.

The probes record what happened in Redis (the test and the workers share it), so a test can
assert on start times, interruptions and deliveries across processes.
"""

import functools
import logging
import os
import time

import dramatiq
import redis

import actors  # noqa: F401  (the real broker, middleware and pipeline actors)

STARTS_KEY = "tests:starts"
RATE_LIMIT_QUEUE = "tests"


@functools.cache
def _redis():
    """Where probes record: the test's own Redis, which stays up while the broker's restarts."""
    return redis.Redis.from_url(os.environ.get("IMAGEPIPE_TEST_PROBE_REDIS_URL") or os.environ["REDIS_URL"])


@dramatiq.actor(queue_name=RATE_LIMIT_QUEUE, rate_limit="20/s", max_retries=0)
def rate_probe(n):
    """Record when message ``n`` started (wall clock, shared by every process on the host)."""
    _redis().rpush(STARTS_KEY, f"{time.time():.6f} {n}")


SLOW_STARTS_KEY = "tests:slow-starts"
#: While this file exists, the metadata step of the pipeline takes 60 s (in Python, so it can
#: be interrupted); tests/reliability/test_sigterm.py creates and removes it.
SLOW_MARKER = os.environ.get("IMAGEPIPE_TEST_SLOW_MARKER")

if SLOW_MARKER:
    from imagepipe import imaging

    _describe = imaging.describe

    def _slow_describe(path, **limits):
        if os.path.exists(SLOW_MARKER):
            _redis().rpush(SLOW_STARTS_KEY, os.getpid())
            for _ in range(600):
                time.sleep(0.1)
        return _describe(path, **limits)

    imaging.describe = _slow_describe


POISON_DELIVERIES_KEY = "tests:poison-deliveries"
#: A step that no pipeline image has: tests/reliability/test_poison.py adds its row.
POISON_STEP = "poison"


@dramatiq.actor(step=POISON_STEP, queue_name="tests-poison")
def crashing_decode(image_id):
    """Simulates a segfaulting decoder: record the delivery (time, pid), then kill the process."""
    _redis().rpush(POISON_DELIVERIES_KEY, f"{time.time():.6f} {os.getpid()}")
    os._exit(1)


CHATTY_KEY = "tests:chatty"


@dramatiq.actor(queue_name="tests-chatty", max_retries=0)
def chatty(seconds):
    """Log about 100 KB a second for ``seconds`` (more than a pipe holds), recording the pid
    when it starts and when it is done."""
    _redis().rpush(CHATTY_KEY, f"started {os.getpid()}")
    line = "x" * 1000
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(10):
            logging.getLogger("tests.chatty").warning(line)
        time.sleep(0.1)
    _redis().rpush(CHATTY_KEY, f"done {os.getpid()}")


LONG_JOB_KEY = "tests:long-job"
#: While this file exists, long_job runs for 60 s; tests/reliability/test_sigterm.py makes it.
LONG_JOB_MARKER = os.environ.get("IMAGEPIPE_TEST_LONG_JOB_MARKER")


@dramatiq.actor(queue_name="tests-long", shutdown_timeout=3000, max_retries=0)
def long_job(n):
    """Records its start and its end; 60 s long (in Python, so it can be interrupted) while
    the marker exists. Its shutdown timeout is 3000 ms, as Dramatiq's durations are."""
    _redis().rpush(LONG_JOB_KEY, f"started {n} {os.getpid()}")
    for _ in range(600):
        if not (LONG_JOB_MARKER and os.path.exists(LONG_JOB_MARKER)):
            break
        time.sleep(0.1)
    _redis().rpush(LONG_JOB_KEY, f"done {n} {os.getpid()}")
