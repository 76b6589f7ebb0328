"""``imagepipe check``: can this process reach what the pipeline needs? One line each."""

import contextlib

import redis

from imagepipe.description.providers import get_describer, local_parts
from imagepipe.errors import ConfigurationError, first_line
from imagepipe.redaction import without_url_credentials
from imagepipe.storage import get_storage
from models import bind_database, database

NAME = "check"
HELP = "check that the database, Redis, the broker and the storage are reachable (and writable), and the describer"


def add_arguments(parser):
    pass


def checks(settings):
    """``(what, problem or None)`` for each service, in the order a deployment needs them."""
    yield "database", problem_of(lambda: _database(settings))
    yield "redis", problem_of(lambda: _redis(settings.redis_url))  # events, rate limits, heartbeats
    if settings.broker_url != settings.redis_url:
        yield "broker", problem_of(lambda: ping_broker(settings.broker_url))
    yield "storage", problem_of(lambda: get_storage().check())
    yield "describer", problem_of(lambda: _describer(settings))


def run(args, settings):
    failed = 0
    for what, problem in checks(settings):
        where = {"storage": get_storage().address, "describer": describer_summary(settings)}.get(what, "")
        print(f"{what}: {'ok' if problem is None else 'FAILED: ' + problem}{f' ({where})' if where else ''}")
        failed += problem is not None
    return 1 if failed else 0


def problem_of(check):
    try:
        check()
    except Exception as exc:  # the one-line diagnosis is the point: never a traceback
        return first_line(exc)
    return None


def _database(settings):
    bind_database(settings.database_url)
    with database.connection_context():
        database.execute_sql("SELECT 1")


def ping_broker(url):
    if not url.startswith(("amqp://", "amqps://")):
        return _redis(url)
    import pika

    parameters = pika.URLParameters(url)
    parameters.connection_attempts, parameters.socket_timeout = 1, 2
    pika.BlockingConnection(parameters).close()


def _redis(url):
    with contextlib.closing(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)) as client:
        client.ping()


def describer_summary(settings):
    """Who writes the words: the local parts, or the remote model and where it is."""
    if settings.describer == "local":
        return "local: " + ", ".join(local_parts())
    where = without_url_credentials(settings.openai_base_url) if settings.openai_base_url else "OpenAI's API"
    return f"{settings.describer}: {settings.describe_model} at {where}"


def _describer(settings):
    """The describer can be made: its parts installed, or an API key set (no paid call)."""
    if settings.describer != "local" and not settings.openai_api_key:
        raise ConfigurationError("IMAGEPIPE_DESCRIBER=openai needs OPENAI_API_KEY")
    get_describer(settings.describer)
