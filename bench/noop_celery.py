"""The no-op task of ``bench/noop.py`` for Celery: ``celery -A bench.noop_celery worker``.

Redis broker from ``REDIS_URL``, no result backend, Celery's defaults otherwise (acks on
receipt, prefetch multiplier 4). Every key carries ``noop_app.KEY_PREFIX``.
"""

import os

import redis
from celery import Celery

from bench.noop_app import COUNTER_KEY, KEY_PREFIX, QUEUE

app = Celery("imagepipe-bench", broker=os.environ["REDIS_URL"])
app.conf.update(
    broker_transport_options={"global_keyprefix": KEY_PREFIX + "celery:"},
    broker_connection_retry_on_startup=True,
    task_default_queue=QUEUE,
    task_ignore_result=True,
)
counter = redis.Redis.from_url(os.environ["REDIS_URL"])  # connects on first use, in the pool process


@app.task(name="noop")
def noop(n):
    counter.incr(COUNTER_KEY)
