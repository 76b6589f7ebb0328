"""The no-op job of ``bench/noop.py`` for BullMQ's Python port: ``python -m bench.noop_bullmq``.

One asyncio process with a Worker of concurrency 8 on ``REDIS_URL``, until SIGTERM. Jobs are
added with ``removeOnComplete`` so that, like Dramatiq and Celery here, BullMQ keeps nothing
of a finished job. Every key carries ``noop_app.KEY_PREFIX``.
"""

import asyncio
import os
import signal

import redis.asyncio
from bullmq import Queue, Worker

from bench.noop_app import COUNTER_KEY, KEY_PREFIX, QUEUE

PREFIX = KEY_PREFIX + "bull"
CONCURRENCY = 8
ADD_BATCH = 1000


async def enqueue(redis_url, count):
    """Add ``count`` no-op jobs, in batches."""
    queue = Queue(QUEUE, {"connection": redis_url, "prefix": PREFIX})
    try:
        for start in range(0, count, ADD_BATCH):
            jobs = [
                {"name": "noop", "data": {"n": n}, "opts": {"removeOnComplete": True}}
                for n in range(start, min(start + ADD_BATCH, count))
            ]
            await queue.addBulk(jobs)
    finally:
        await queue.close()


async def work(redis_url):
    counter = redis.asyncio.Redis.from_url(redis_url)

    async def noop(job, token):
        await counter.incr(COUNTER_KEY)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    worker = Worker(QUEUE, noop, {"connection": redis_url, "prefix": PREFIX, "concurrency": CONCURRENCY})
    await stop.wait()
    await worker.close()
    await counter.aclose()


if __name__ == "__main__":
    asyncio.run(work(os.environ["REDIS_URL"]))
