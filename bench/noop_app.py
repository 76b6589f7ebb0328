"""The no-op actor of ``bench/noop.py``, on bare Dramatiq or on imagepipe's full middleware stack.

Each worker process of ``dramatiq bench.noop_app:setup --processes 2 --threads 8`` calls
``setup``, which reads ``IMAGEPIPE_BENCH_STACK`` (``bare``: Dramatiq's default middleware;
``full``: ``actors.broker.build_middleware(Settings.from_env())``) and ``REDIS_URL``. Importing
this module does nothing else, so the Celery and BullMQ helpers share its constants.

Every system's no-op does the same one thing: INCR ``COUNTER_KEY``, which the benchmark polls.
"""

import os

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

#: Every key of the benchmark starts with this, so one SCAN clears a run on a shared Redis.
KEY_PREFIX = "imagepipe-bench:"
COUNTER_KEY = KEY_PREFIX + "noop:done"
QUEUE = "noop"
NAMESPACE = KEY_PREFIX + "dramatiq"
STACK_ENV = "IMAGEPIPE_BENCH_STACK"
#: Comma-separated middleware class names left out of the full stack (to find what costs most).
WITHOUT_ENV = "IMAGEPIPE_BENCH_WITHOUT"
STACKS = ("bare", "full")


def middleware_for(stack, without=()):
    """The middleware list of ``stack``; None means Dramatiq's defaults."""
    if stack == "bare":
        return None
    if stack != "full":
        raise ValueError(f"{STACK_ENV} must be one of {', '.join(STACKS)}, not {stack!r}")
    from actors.broker import build_middleware
    from imagepipe.settings import Settings

    middleware = build_middleware(Settings.from_env())
    unknown = set(without) - {type(m).__name__ for m in middleware}
    if unknown:
        raise ValueError(f"not in the full stack: {', '.join(sorted(unknown))}")
    return [m for m in middleware if type(m).__name__ not in without]


def declare(stack, redis_url, without=()):
    """A Redis broker with ``stack``'s middleware and the ``noop`` actor on it: (broker, actor)."""
    broker = RedisBroker(url=redis_url, namespace=NAMESPACE, middleware=middleware_for(stack, without))
    counter = redis.Redis.from_url(redis_url)  # connects on first use, in the worker process

    def noop(n):
        counter.incr(COUNTER_KEY)

    return broker, dramatiq.actor(noop, broker=broker, actor_name="noop", queue_name=QUEUE)


def setup():
    """What ``dramatiq bench.noop_app:setup`` calls in each worker process."""
    without = [name.strip() for name in os.environ.get(WITHOUT_ENV, "").split(",") if name.strip()]
    broker, _ = declare(os.environ.get(STACK_ENV, "bare"), os.environ["REDIS_URL"], without)
    dramatiq.set_broker(broker)
