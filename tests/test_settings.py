"""Settings from the environment: defaults, parsing, and errors that name the variable."""

from pathlib import Path

import pytest

from imagepipe.settings import Settings


def test_defaults_are_the_embedded_ones():
    settings = Settings.from_env({})

    assert settings.broker_url == settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.database_url == "sqlite:///imagepipe.db"
    assert settings.media_root == Path("media").resolve()
    assert (settings.variant_widths, settings.variant_formats) == ((640, 1024, 1920), ("webp", "avif"))
    assert (settings.shutdown_timeout_s, settings.rate_limits) == (25, {})


def test_the_broker_follows_redis_unless_told_otherwise():
    assert Settings.from_env({"REDIS_URL": "redis://r:1/2"}).broker_url == "redis://r:1/2"
    assert Settings.from_env({"REDIS_URL": "redis://r", "BROKER_URL": "amqp://q"}).broker_url == "amqp://q"


def test_events_follow_redis_unless_told_otherwise():
    assert Settings.from_env({"REDIS_URL": "redis://r:1/2"}).events_redis_url == "redis://r:1/2"
    environ = {"REDIS_URL": "redis://r", "IMAGEPIPE_EVENTS_REDIS_URL": "redis://e:3/4"}
    assert Settings.from_env(environ).events_redis_url == "redis://e:3/4"


def test_lists_and_mappings_are_parsed():
    settings = Settings.from_env({"IMAGEPIPE_WIDTHS": "1024, 640", "IMAGEPIPE_RATE_LIMITS": "embed=10/m, ingest=off"})

    assert settings.variant_widths == (640, 1024)
    assert settings.rate_limits == {"embed": "10/m", "ingest": "off"}


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("IMAGEPIPE_WIDTHS", "a", "IMAGEPIPE_WIDTHS must be a comma-separated list"),
        ("IMAGEPIPE_WIDTHS", "0,640", "IMAGEPIPE_WIDTHS must list positive pixel widths"),
        ("IMAGEPIPE_FORMATS", "webp,jpeg", "IMAGEPIPE_FORMATS may name webp and avif, not jpeg"),
        ("IMAGEPIPE_MAX_PIXELS", "lots", "IMAGEPIPE_MAX_PIXELS must be a whole number"),
        ("IMAGEPIPE_SHUTDOWN_TIMEOUT_S", "soon", "IMAGEPIPE_SHUTDOWN_TIMEOUT_S must be a number"),
        ("IMAGEPIPE_RATE_LIMITS", "embed", "IMAGEPIPE_RATE_LIMITS must look like actor=value"),
    ],
)
def test_a_bad_value_names_its_variable(name, value, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env({name: value})


def test_retention_is_off_unless_a_positive_number_of_days_is_set():
    assert Settings.from_env({}).retain_failed_images_days is None
    settings = Settings.from_env({"IMAGEPIPE_RETAIN_STEP_HISTORY_DAYS": "30", "IMAGEPIPE_RETENTION_INTERVAL_S": "60"})
    assert (settings.retain_step_history_days, settings.retention_interval_s) == (30.0, 60.0)
    with pytest.raises(ValueError, match="IMAGEPIPE_RETAIN_FAILED_IMAGES_DAYS must be a positive number"):
        Settings.from_env({"IMAGEPIPE_RETAIN_FAILED_IMAGES_DAYS": "0"})


def test_the_web_abuse_limits_have_defaults_and_are_read():
    defaults = Settings.from_env({})
    assert (defaults.web_upload_rate, defaults.web_auth_failure_rate) == ("60/m", "20/m")
    assert (defaults.web_max_streams_per_client, defaults.web_max_json_bytes) == (10, 65536)
    assert (defaults.web_body_timeout_s, defaults.web_header_timeout_s) == (60, 10)
    environ = {
        "IMAGEPIPE_WEB_UPLOAD_RATE": "5/30s",
        "IMAGEPIPE_WEB_AUTH_FAILURE_RATE": "off",
        "IMAGEPIPE_WEB_MAX_STREAMS_PER_CLIENT": "3",
        "IMAGEPIPE_WEB_MAX_JSON_BYTES": "1_024",
        "IMAGEPIPE_WEB_BODY_TIMEOUT_S": "2.5",
        "IMAGEPIPE_WEB_HEADER_TIMEOUT_S": "1",
    }
    settings = Settings.from_env(environ)
    assert (settings.web_upload_rate, settings.web_auth_failure_rate) == ("5/30s", "off")
    assert (settings.web_max_streams_per_client, settings.web_max_json_bytes) == (3, 1024)
    assert (settings.web_body_timeout_s, settings.web_header_timeout_s) == (2.5, 1.0)


def test_a_malformed_web_rate_fails_when_the_app_starts():
    from middleware.rate_limit import InvalidRateLimit
    from web.limits import Limiter

    with pytest.raises(InvalidRateLimit, match="COUNT/PERIOD"):
        Limiter(Settings.from_env({"IMAGEPIPE_WEB_UPLOAD_RATE": "lots"}))
