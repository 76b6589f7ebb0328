"""Building the broker with every middleware in one documented order."""

from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, ShutdownNotifications, TimeLimit

from middleware import DatabaseConnections, PipelineRetries, StepTracking


def build_middleware(settings):
    """The middleware stack, in order.

    ``before_*`` hooks run top to bottom and ``after_*`` hooks bottom to top, so:
    DatabaseConnections is first (it opens the connection before anyone needs it and closes
    it after everyone is done); StepTracking comes before PipelineRetries so that its
    ``after_process_message`` sees whether Retries failed the message for good.
    """
    return [
        DatabaseConnections(database_url=settings.database_url),
        StepTracking(),
        AgeLimit(),
        TimeLimit(),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        PipelineRetries(max_retries=settings.max_retries, backoff=settings.retry_backoff_ms),
    ]


def build_broker(settings):
    """A Redis broker for ``redis://`` URLs, RabbitMQ for ``amqp://``; connects lazily."""
    middleware = build_middleware(settings)
    if settings.broker_url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=settings.broker_url, middleware=middleware)
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(url=settings.broker_url, middleware=middleware)
