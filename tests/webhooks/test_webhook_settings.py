"""IMAGEPIPE_WEBHOOK_URL's syntax: URLs for every event, or event names and ``=`` first."""

import pytest

from imagepipe.settings import WEBHOOK_EVENTS, Settings

SECRET = {"IMAGEPIPE_WEBHOOK_SECRET": "s"}


def test_a_bare_url_gets_every_event():
    settings = Settings.from_env({"IMAGEPIPE_WEBHOOK_URL": "https://app.example/hooks", **SECRET})

    for event in WEBHOOK_EVENTS:
        assert settings.webhook_urls_for(event) == ("https://app.example/hooks",)


def test_urls_per_event_type_separated_by_whitespace():
    value = """https://app.example/hooks?a=1&b=2
               image.failed,dead_letter.created=https://user:pw@ops.example/alerts"""
    settings = Settings.from_env({"IMAGEPIPE_WEBHOOK_URL": value, **SECRET})

    assert settings.webhook_urls_for("image.completed") == ("https://app.example/hooks?a=1&b=2",)
    assert settings.webhook_urls_for("dead_letter.created") == (
        "https://app.example/hooks?a=1&b=2",
        "https://user:pw@ops.example/alerts",
    )


def test_no_url_means_no_webhooks_and_no_secret_needed():
    assert Settings.from_env({}).webhooks == ()


def test_the_secret_and_urls_stay_out_of_the_settings_repr():
    settings = Settings.from_env({"IMAGEPIPE_WEBHOOK_URL": "https://u:hunter2@a.example/h", **SECRET})

    assert "hunter2" not in repr(settings)
    assert "webhook_secret" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"IMAGEPIPE_WEBHOOK_URL": "https://a.example/h"}, "needs IMAGEPIPE_WEBHOOK_SECRET"),
        ({"IMAGEPIPE_WEBHOOK_URL": "image.done=https://a.example/h", **SECRET}, "not image.done"),
        ({"IMAGEPIPE_WEBHOOK_URL": "ftp://a.example/h", **SECRET}, "http:// or https://"),
        ({"IMAGEPIPE_WEBHOOK_URL": "image.failed=", **SECRET}, "http:// or https://"),
        ({"IMAGEPIPE_WEBHOOK_TIMEOUT_MS": "5s"}, "IMAGEPIPE_WEBHOOK_TIMEOUT_MS must be a whole number"),
    ],
)
def test_a_bad_value_names_its_variable(environ, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(environ)
