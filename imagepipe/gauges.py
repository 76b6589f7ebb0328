"""Prometheus gauges of the whole deployment, computed when scraped: per queue the messages
ready, delayed, in flight and dead, the age of the oldest ready message, images by status and
workers by health.

They describe shared state (the broker, the database, the heartbeats), not one process, so
exactly one place exports them: ``GET /metrics`` of the web app (web/operations.py). Exported
by every worker process, or by every host's worker exporter, each figure would be repeated
once per exporter and summed wrongly. Needs ``prometheus-client`` (``imagepipe[prometheus]``).
"""

import time

from peewee import fn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from imagepipe.queues import broker_kind, client_for, oldest_ready_ages, read_all
from models import Image

#: Every status an image can have: each is exported, 0 included, so an alert on one never
#: sees a missing series.
IMAGE_STATUSES = (Image.QUEUED, Image.PROCESSING, *Image.ENDED)
#: Gauge name suffix -> (figure of imagepipe.queues, help).
QUEUE_GAUGES = {
    "ready_messages": ("ready", "Messages ready to be delivered"),
    "delayed_messages": ("delayed", "Messages waiting until they are due (retries, throttled, delayed)"),
    "in_flight_messages": ("in_flight", "Messages fetched by a worker and not acked yet (Redis broker only)"),
    "dead_messages": ("dead_letters", "Messages that failed for good and were not replayed (imagepipe's dead letters)"),
    "broker_dead_messages": ("broker_dead", "Messages in the broker's own dead-letter queue"),
}
CONTENT_TYPE = CONTENT_TYPE_LATEST


class DeploymentCollector:
    """A prometheus_client collector whose every ``collect()`` (every scrape) reads the figures
    anew through imagepipe.queues; the database must be bound and connected by the caller.

    Parameters:
      settings(Settings): which broker, Redis and queues.
      broker_client, health_client: Redis clients as for ``imagepipe.queues.read_all``; each
        opened and closed around a scrape when not given.
    """

    def __init__(self, settings, *, broker_client=None, health_client=None):
        self.settings = settings
        self.broker_client = broker_client
        self.health_client = health_client

    def collect(self):
        now = time.time()
        snapshot = read_all(self.settings, broker_client=self.broker_client, health_client=self.health_client, now=now)
        queues = [entry["name"] for entry in snapshot["queues"]]
        for suffix, (figure, help_text) in QUEUE_GAUGES.items():
            gauge = GaugeMetricFamily(f"imagepipe_queue_{suffix}", help_text, labels=["queue"])
            for entry in snapshot["queues"]:
                if entry[figure] is not None:
                    gauge.add_metric([entry["name"]], entry[figure])
            yield gauge
        if broker_kind(self.settings) == "redis":
            yield self._oldest_ready(queues, now)
        yield _labelled("imagepipe_images", "Images by status", "status", images_by_status(), IMAGE_STATUSES)
        workers = {"healthy": snapshot["healthy"], "stale": snapshot["stale"]}
        yield _labelled("imagepipe_workers", "Worker processes by heartbeat", "state", workers, workers)

    def _oldest_ready(self, queues, now):
        gauge = GaugeMetricFamily(
            "imagepipe_queue_oldest_ready_age_seconds",
            "Seconds since the oldest ready message of the queue was sent; 0 when none is ready",
            labels=["queue"],
        )
        with client_for(self.broker_client, self.settings.broker_url) as client:
            ages = oldest_ready_ages(client, queues, now=now)
        for queue in queues:
            gauge.add_metric([queue], ages[queue] or 0.0)
        return gauge


def images_by_status():
    """``{status: n}`` in one GROUP BY."""
    return dict(Image.select(Image.status, fn.COUNT(Image.id)).group_by(Image.status).tuples())


def render(settings, **clients):
    """The exposition text of one scrape (the database must be bound and connected)."""
    registry = CollectorRegistry()
    registry.register(DeploymentCollector(settings, **clients))
    return generate_latest(registry)


def _labelled(name, help_text, label, counts, always):
    """A gauge with one series per value of ``label``: those of ``always`` (0 when absent) and any other counted."""
    gauge = GaugeMetricFamily(name, help_text, labels=[label])
    for value in dict.fromkeys([*always, *counts]):
        gauge.add_metric([value], counts.get(value, 0))
    return gauge
