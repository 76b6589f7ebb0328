"""Dramatiq's Redis broker, with delayed messages that survive a lost Redis connection."""

import threading
import weakref

import redis
from dramatiq.broker import Consumer
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import ConnectionClosed


class ReconnectingRedisBroker(RedisBroker):
    """A RedisBroker whose delay-queue consumers give back what they held when they reconnect.

    When its connection to Redis fails, Dramatiq's consumer thread throws away the delayed
    messages (retries, throttled messages) it was holding in memory until they were due, but
    they stay in its process's ack set in Redis, and the broker hands such messages back only
    when the process dies. Measured with Redis restarted under a running worker: they stayed
    there for good. So each delay-queue consumer notes the messages it handed out and not yet
    acked, and when its consumer thread consumes that queue again (after an error), those the
    thread no longer holds in memory go back to the delay queue first.

    What a consumer held is kept by thread, not by broker: a second Worker on the same broker
    (tests, embedded workers) has threads of its own, and its first consume gives back nothing
    of the first Worker's.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._delay_consumers = weakref.WeakKeyDictionary()  # consumer thread -> {queue: consumer}

    def consume(self, queue_name, prefetch=1, timeout=5000):
        if not queue_name.endswith(".DQ"):
            return super().consume(queue_name, prefetch, timeout)
        thread = threading.current_thread()
        consumers = self._delay_consumers.setdefault(thread, {})
        previous = consumers.get(queue_name)
        if previous is not None:
            self._give_back(queue_name, previous.held - _held_in_memory(thread))
        consumers[queue_name] = consumer = _DelayQueueConsumer(super().consume(queue_name, prefetch, timeout))
        return consumer

    def _give_back(self, queue_name, message_ids):
        if not message_ids:
            return
        try:
            self.logger.warning("Requeueing %d delayed message(s) held before the connection broke.", len(message_ids))
            self.do_requeue(queue_name, *message_ids)
        except redis.ConnectionError as error:
            raise ConnectionClosed(error) from None  # Dramatiq's consumer thread retries in a second


def _held_in_memory(thread):
    """The Redis ids of the delayed messages a Dramatiq consumer thread still holds."""
    items = getattr(thread, "delay_queue", None)
    return {item.message.options["redis_message_id"] for item in (items.queue if items else ())}


class _DelayQueueConsumer(Consumer):
    """A delay queue's consumer that keeps the Redis ids of the messages it handed out and
    that were neither acked nor nacked: they wait in its thread's memory until they are due."""

    def __init__(self, consumer):
        self._consumer = consumer
        self.held = set()

    def __next__(self):
        message = next(self._consumer)
        if message is not None:
            self.held.add(message.options["redis_message_id"])
        return message

    def ack(self, message):
        self._consumer.ack(message)
        self.held.discard(message.options["redis_message_id"])

    def nack(self, message):
        self._consumer.nack(message)
        self.held.discard(message.options["redis_message_id"])

    def requeue(self, messages):
        messages = list(messages)  # what its thread gives back itself, when it pauses or stops
        self._consumer.requeue(messages)
        self.held.difference_update(message.options["redis_message_id"] for message in messages)

    def close(self):
        self._consumer.close()
