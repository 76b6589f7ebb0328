"""Dramatiq's Redis broker, with delayed messages that survive a lost Redis connection."""

import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import ConnectionClosed


class ReconnectingRedisBroker(RedisBroker):
    """A RedisBroker whose delay-queue consumers give back what they held when they reconnect.

    When its connection to Redis fails, Dramatiq's consumer thread throws away the delayed
    messages (retries, throttled messages) it was holding in memory until they were due, but
    they stay in its process's ack set in Redis, and the broker hands such messages back only
    when the process dies. Measured with Redis restarted under a running worker: they stayed
    there for good. So when a delay queue's consumer is created again in this process, every
    message of that ack set goes back to the delay queue first; nothing else in this process
    holds them, as delayed messages only ever wait in that consumer's memory.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._delay_queues_consumed = set()

    def consume(self, queue_name, prefetch=1, timeout=5000):
        if queue_name in self._delay_queues_consumed:
            self._give_back_held(queue_name)
        elif queue_name.endswith(".DQ"):
            self._delay_queues_consumed.add(queue_name)
        return super().consume(queue_name, prefetch, timeout)

    def _give_back_held(self, queue_name):
        acks = f"{self.namespace}:__acks__.{self.broker_id}.{queue_name}"
        try:
            held = [message_id.decode() for message_id in self.client.smembers(acks)]
            if held:
                self.logger.warning("Requeueing %d delayed message(s) held before the connection broke.", len(held))
                self.do_requeue(queue_name, *held)
        except redis.ConnectionError as error:
            raise ConnectionClosed(error) from None  # Dramatiq's consumer thread retries in a second
