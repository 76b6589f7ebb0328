"""Building the broker with every middleware in one documented order."""

import functools

from dramatiq.middleware import AgeLimit, Callbacks, CurrentMessage, Pipelines, ShutdownNotifications, TimeLimit

from imagepipe.retention import retention_days
from imagepipe.sentry import init_sentry
from middleware import (
    DatabaseConnections,
    DeadLetters,
    EventPublisher,
    MessageSizeLimit,
    PipelineRetries,
    PollInterval,
    RateLimits,
    SentryTags,
    ShutdownTimeouts,
    StepTracking,
    StopWhenOrphaned,
    Sweeper,
    WebhookDispatch,
    WorkerHealth,
)

#: How much longer than the shutdown timeout an orphaned worker process may take to stop.
ORPHAN_EXIT_MARGIN_S = 5


def build_middleware(settings):
    """The middleware stack, in order.

    ``before_*`` hooks run top to bottom and ``after_*`` hooks bottom to top, so:

    * PollInterval only sets the worker's poll interval before it boots.
    * DatabaseConnections comes next: it opens the connection before anyone needs it and
      closes it after everyone is done. WorkerHealth counts every message that runs.
      StopWhenOrphaned only watches the main process, from a thread of its own.
      Sweeper only runs a background thread (one process at a time re-sends stuck steps and
      applies retention);
      it is after DatabaseConnections, whose after_process_boot binds the database it reads.
      So is WebhookDispatch (each process sends the webhook deliveries not sent yet), present
      only when IMAGEPIPE_WEBHOOK_URL is set.
    * CurrentMessage only tells the webhook actor which attempt it runs.
    * MessageSizeLimit refuses an oversized message before anything else looks at it.
    * Dramatiq's own middleware that may skip a message (AgeLimit) comes before ours, so a
      step is never marked as started for a message that will not run.
    * RateLimits comes before StepTracking, so a throttled message counts no attempt.
    * ShutdownTimeouts knows which jobs run, to interrupt and requeue them on shutdown. Its
      RunningActors is last of all: it tells when the actor itself runs, the only time a job
      may be interrupted.
    * DeadLetters, StepTracking, EventPublisher and everything else that reads
      ``message.failed`` come before PipelineRetries: only after Retries has run is that
      final. So a final failure reads as job-failed, then image-failed (StepTracking), then
      job-dead-lettered (DeadLetters stores the message once its image is failed).
    * EventPublisher comes after RateLimits and StepTracking, so a throttled or skipped
      message publishes no job-active.
    """
    events = EventPublisher(
        redis_url=settings.events_redis_url,
        stream=settings.events_stream,
        maxlen=settings.events_maxlen,
        timeout_ms=settings.events_timeout_ms,
        progress_interval_ms=settings.progress_interval_ms,
    )
    steps = StepTracking(events=events, max_deliveries=settings.max_deliveries)
    shutdown_timeouts = ShutdownTimeouts(
        default_timeout_ms=round(settings.shutdown_timeout_s * 1000),
        on_interrupt=functools.partial(events.publish, "job-interrupted"),
    )
    middleware = [
        PollInterval(interval_ms=settings.poll_interval_ms),
        DatabaseConnections(database_url=settings.database_url),
        WorkerHealth(redis_url=settings.redis_url, interval_s=settings.heartbeat_interval_s),
        StopWhenOrphaned(exit_after_s=settings.shutdown_timeout_s + ORPHAN_EXIT_MARGIN_S),
        Sweeper(
            redis_url=settings.redis_url,
            interval_s=settings.sweep_interval_s,
            deadline_s=settings.sweep_deadline_s,
            retention=retention_days(settings),
            retention_interval_s=settings.retention_interval_s,
        ),
        MessageSizeLimit(max_bytes=settings.max_message_bytes),
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        CurrentMessage(),
        RateLimits(
            redis_url=settings.redis_url,
            overrides=settings.rate_limits,
            on_throttle=functools.partial(_throttled, (events.throttled, steps.waiting)),
        ),
        shutdown_timeouts,
        DeadLetters(events=events, webhook_urls_for=settings.webhook_urls_for),
        steps,
        events,
        PipelineRetries(max_retries=settings.max_retries, backoff=settings.retry_backoff_ms),
        shutdown_timeouts.running,
    ]
    if settings.webhooks:
        middleware.insert(5, WebhookDispatch())
    if settings.sentry_dsn:
        middleware.insert(3, SentryTags())
    if settings.prometheus:
        from dramatiq.middleware.prometheus import Prometheus

        from middleware.metrics import ImageMetrics

        # ImageMetrics first: its after_process_boot must run after Prometheus has set up the
        # multiprocess directory, and after_* hooks run bottom to top.
        middleware[2:2] = [ImageMetrics(), Prometheus()]
    return middleware


def _throttled(observers, message, delay_ms):
    """A message put back for ``delay_ms``: its event, and its step's wait (for the sweeper)."""
    for observer in observers:
        observer(message, delay_ms)


def build_broker(settings):
    """A Redis broker for ``redis://`` URLs, RabbitMQ for ``amqp://``; connects lazily."""
    init_sentry(settings)  # before the broker: Sentry's Dramatiq integration patches Broker.__init__
    middleware = build_middleware(settings)
    if settings.broker_url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=settings.broker_url, middleware=middleware)
    from .redis_broker import ReconnectingRedisBroker

    return ReconnectingRedisBroker(
        url=settings.broker_url,
        middleware=middleware,
        heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
        maintenance_chance=settings.broker_maintenance_chance,
    )
