"""What waits where: per queue the messages ready, delayed, in flight and dead, and the workers.

One place computes these figures for ``imagepipe queues``, ``GET /api/queues`` and
``GET /api/workers``. They are read from the broker's own bookkeeping, never from a copy:

* Redis, in Dramatiq 2.2's layout (``dramatiq/brokers/redis/dispatch.lua``), namespace
  ``dramatiq``: ready is the length of the list ``dramatiq:<queue>``; delayed counts the
  messages hash ``dramatiq:<queue>.DQ.msgs`` (those still in the delay queue and those a
  worker has fetched and holds in memory until they are due); in flight is the sum of the
  ack sets ``dramatiq:__acks__.<broker id>.<queue>`` (messages a worker process fetched and
  has not acked: running, or prefetched), one per broker process id listed in
  ``dramatiq:__heartbeats__``; broker_dead is the size of the sorted set
  ``dramatiq:<queue>.XQ`` (Dramatiq drops its entries after 7 days).
* RabbitMQ: a passive declare of ``<queue>``, ``<queue>.DQ`` and ``<queue>.XQ`` gives the
  messages ready in each. AMQP does not tell the unacked ones (the management plugin's HTTP
  API would), so in flight is None, and delayed misses the delayed messages a worker holds.

The age of the oldest ready message (``oldest_ready_ages``, for the Prometheus gauge) is
read on Redis only: the message at the head of ``dramatiq:<queue>`` is the next delivered
(fetch pops the head, enqueue pushes at the tail), and its ``message_timestamp`` says when it
was sent. AMQP lets a client see a queue's head only by taking it (a ``basic.get``, which
would reorder the queue and count a delivery), so on RabbitMQ it is not measured.

``dead_letters`` is imagepipe's own store (models.DeadLetter, see ``imagepipe dead-letters``):
the messages that failed for good and were not replayed, which is what a user means by dead.
Workers are imagepipe's heartbeats (middleware/health.py), each with what it holds in flight.
"""

import contextlib
import time
from pathlib import Path

import redis
from dramatiq.common import dq_name, xq_name

from imagepipe.graph import PIPELINE
from imagepipe.webhooks import WEBHOOKS_QUEUE
from middleware.health import read_workers

#: The key prefix of Dramatiq's Redis broker (RedisBroker's default, which build_broker keeps).
REDIS_NAMESPACE = "dramatiq"
REDIS_TIMEOUT_S = 2.0
AMQP_TIMEOUT_S = 5.0
OLDEST_READY_SCRIPT = (Path(__file__).parent / "oldest_ready.lua").read_text()
#: Ids from a queue's head that oldest_ready.lua tries when one was acked between two reads.
HEAD_TRIES = 10


def pipeline_queues(settings):
    """The queues of the pipeline's steps (imagepipe.graph, with IMAGEPIPE_QUEUES applied), and
    the webhooks' when they are configured, sorted."""
    webhooks = {WEBHOOKS_QUEUE} if settings.webhooks else set()
    return sorted({settings.queues.get(step.name, step.queue) for step in PIPELINE} | webhooks)


def broker_kind(settings):
    return "rabbitmq" if settings.broker_url.startswith(("amqp://", "amqps://")) else "redis"


def connect(url):
    """A Redis client with the short timeouts of a status read."""
    return redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)


def read_queues(settings, **options):
    """The figures of each queue, as ``GET /api/queues`` returns them (the database must be
    bound, for dead_letters). Options as for ``read_all``."""
    snapshot = read_all(settings, **options)
    return {key: snapshot[key] for key in ("broker", "measured_at", "queues")}


def read_worker_list(settings, **options):
    """The workers' heartbeats as ``GET /api/workers`` returns them, each with ``in_flight``:
    the messages its broker process holds (None on RabbitMQ, which does not tell)."""
    snapshot = read_all(settings, dead_letters=False, **options)
    return {key: snapshot[key] for key in ("measured_at", "healthy", "stale", "workers")}


def read_all(settings, *, broker_client=None, health_client=None, queues=None, dead_letters=True, now=None):
    """Queues and workers at one moment, each figure read once.

    ``broker_client`` is a Redis client on ``settings.broker_url`` (a Redis broker only) and
    ``health_client`` one on ``settings.redis_url``, where the heartbeats are; each is opened
    and closed here when not given. ``queues``: the pipeline's by default.
    """
    now = now or time.time()
    queues = list(queues or pipeline_queues(settings))
    kind = broker_kind(settings)
    with client_for(health_client, settings.redis_url) as client:
        workers = read_workers(client, now)
    if kind == "redis":
        with client_for(broker_client, settings.broker_url) as client:
            timeout_s = settings.broker_heartbeat_timeout_ms / 1000
            figures = redis_figures(client, queues, heartbeat_timeout_s=timeout_s, now=now)
    else:
        figures = rabbitmq_figures(settings.broker_url, queues)
    counts = dead_letter_counts(queues) if dead_letters else {}
    names = {w["broker_id"]: w["name"] for w in workers if w["broker_id"]}
    held = None if kind == "rabbitmq" else {}
    for name, entry in figures.items():
        if dead_letters:
            entry["dead_letters"] = counts.get(name, 0)
        for holder in entry["in_flight_by_worker"] or ():
            holder["worker"] = names.get(holder["broker_id"])
            held[holder["broker_id"]] = held.get(holder["broker_id"], 0) + holder["in_flight"]
    for worker in workers:
        worker["in_flight"] = None if held is None else held.get(worker["broker_id"], 0)
    healthy = sum(not w["stale"] for w in workers)
    return {
        "broker": kind,
        "measured_at": now,
        "queues": [{"name": name, **figures[name]} for name in queues],
        "healthy": healthy,
        "stale": len(workers) - healthy,
        "workers": workers,
    }


def redis_figures(client, queues, *, namespace=REDIS_NAMESPACE, heartbeat_timeout_s=10.0, now=None):
    """``{queue: {ready, delayed, in_flight, in_flight_by_worker, broker_dead}}`` from Dramatiq's
    keys, in two round trips. ``in_flight_by_worker`` lists each broker process id holding
    messages of the queue, with ``alive`` False once its broker heartbeat is older than
    ``heartbeat_timeout_s`` (the broker then gives its messages back to the queue)."""
    now = now or time.time()
    with client.pipeline(transaction=False) as pipe:
        pipe.zrange(f"{namespace}:__heartbeats__", 0, -1, withscores=True)
        for queue in queues:
            pipe.llen(f"{namespace}:{queue}")
            pipe.hlen(f"{namespace}:{dq_name(queue)}.msgs")
            pipe.zcard(f"{namespace}:{xq_name(queue)}")
        heartbeats, *counts = pipe.execute()
    # Every process that ever talked to the broker has a heartbeat (senders too); only those
    # with an ack set hold messages. Dramatiq forgets a process once its ack sets are gone.
    seen = {broker_id.decode(): score / 1000 for broker_id, score in heartbeats}
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for broker_id in seen:
                pipe.scard(f"{namespace}:__acks__.{broker_id}.{queue}")
        held = iter(pipe.execute())
    figures = {}
    for index, queue in enumerate(queues):
        ready, delayed, dead = counts[3 * index : 3 * index + 3]
        holders = [
            {"broker_id": broker_id, "in_flight": count, "alive": now - beat <= heartbeat_timeout_s}
            for broker_id, beat in seen.items()
            if (count := next(held))
        ]
        figures[queue] = {
            "ready": ready,
            "delayed": delayed,
            "in_flight": sum(holder["in_flight"] for holder in holders),
            "in_flight_by_worker": sorted(holders, key=lambda holder: -holder["in_flight"]),
            "broker_dead": dead,
        }
    return figures


def oldest_ready_ages(client, queues, *, namespace=REDIS_NAMESPACE, now=None):
    """``{queue: seconds or None}``: how long ago the message at the head of each Redis queue,
    the oldest ready one, was sent; None when the queue is empty. One round trip.

    The age counts from ``message_timestamp``, when the message was first sent: a retried or
    delayed message that has just become ready also counts the time it waited to be due
    (Dramatiq records no moment of becoming ready). Messages that a stopping worker gave back
    go to the tail; they wait behind the head and are not seen until they reach it.
    """
    now = now or time.time()
    keys = [key for queue in queues for key in (f"{namespace}:{queue}", f"{namespace}:{queue}.msgs")]
    sent = client.register_script(OLDEST_READY_SCRIPT)(keys=keys, args=[HEAD_TRIES])
    return {queue: max(0.0, now - ms / 1000) if ms else None for queue, ms in zip(queues, sent, strict=True)}


def rabbitmq_figures(url, queues):
    """The same figures from RabbitMQ: ready counts only (see the module's docstring); a queue
    not declared yet counts 0."""
    import pika

    parameters = pika.URLParameters(url)
    parameters.socket_timeout = parameters.blocked_connection_timeout = AMQP_TIMEOUT_S
    connection = pika.BlockingConnection(parameters)
    try:
        channel = connection.channel()

        def ready(name):
            nonlocal channel
            try:
                return channel.queue_declare(name, passive=True).method.message_count
            except pika.exceptions.ChannelClosedByBroker as error:
                if error.reply_code != 404:
                    raise
                channel = connection.channel()  # a failed passive declare closes the channel
                return 0

        return {
            queue: {
                "ready": ready(queue),
                "delayed": ready(dq_name(queue)),
                "in_flight": None,
                "in_flight_by_worker": None,
                "broker_dead": ready(xq_name(queue)),
            }
            for queue in queues
        }
    finally:
        connection.close()


def dead_letter_counts(queues):
    """``{queue: n}``: imagepipe's dead letters not replayed, per queue (the database must be bound)."""
    from peewee import fn

    from models import DeadLetter

    query = (
        DeadLetter.select(DeadLetter.queue, fn.COUNT(DeadLetter.id))
        .where(DeadLetter.queue.in_(queues), DeadLetter.replayed_at.is_null())
        .group_by(DeadLetter.queue)
    )
    return dict(query.tuples())


@contextlib.contextmanager
def client_for(client, url):
    """``client`` as given, or one on ``url`` opened and closed around the block."""
    if client is not None:
        yield client
        return
    client = connect(url)
    try:
        yield client
    finally:
        client.close()
