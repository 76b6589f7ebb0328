"""Image metrics for Prometheus, beside Dramatiq's own queue metrics."""

import time

import dramatiq
from dramatiq.logging import get_logger

from imagepipe.errors import JobStopped
from imagepipe.graph import VARIANTS
from models import Image, Variant

#: Step durations from a thumbnail's metadata (~50 ms) to a 48 MP photo's variants (~seconds).
DURATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ImageMetrics(dramatiq.Middleware):
    """Exports per-step durations, failures by reason and the bytes the variants saved.

    Must come before Dramatiq's ``Prometheus`` middleware in the list (``after_*`` hooks run
    bottom to top): that one points prometheus_client at its multiprocess directory in
    ``after_process_boot``, and metrics created before then would not be collected by its
    exporter (port ``dramatiq_prom_port``, default 9191).
    """

    def __init__(self):
        self.logger = get_logger(__name__, type(self))
        self._started = {}

    def after_process_boot(self, broker):
        import prometheus_client as prom  # only now: see the class docstring

        self.durations = prom.Histogram(
            "imagepipe_step_duration_seconds",
            "Time a pipeline step took",
            ["step", "outcome"],
            buckets=DURATION_BUCKETS_S,
        )
        self.failures = prom.Counter(
            "imagepipe_step_failures_total", "Failed step attempts by reason", ["step", "reason"]
        )
        self.bytes_in = prom.Counter("imagepipe_source_bytes_total", "Bytes of sources that got variants")
        self.bytes_out = prom.Counter("imagepipe_variant_bytes_total", "Bytes of variants written")

    def before_process_message(self, broker, message):
        self._started[message.message_id] = time.perf_counter()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        started = self._started.pop(message.message_id, None)
        step = broker.get_actor(message.actor_name).options.get("step")
        if step is None or started is None or isinstance(exception, JobStopped):
            return  # a throttled or cancelled attempt did not run its step: neither a duration nor a failure
        outcome = "ok" if exception is None else "error"
        self.durations.labels(step, outcome).observe(time.perf_counter() - started)
        if exception is not None:
            self.failures.labels(step, type(exception).__name__).inc()
        elif step == VARIANTS:
            self._count_bytes(message.args[0])

    def after_skip_message(self, broker, message):
        self._started.pop(message.message_id, None)

    def _count_bytes(self, image_id):
        source = Image.select(Image.bytes).where(Image.id == image_id).scalar() or 0
        written = sum(v.bytes for v in Variant.select(Variant.bytes).where(Variant.image == image_id))
        self.bytes_in.inc(source)
        self.bytes_out.inc(written)
