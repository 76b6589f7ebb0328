"""Choosing who writes an image's words, from the settings: one place for the choice."""

import functools

from imagepipe.errors import ConfigurationError
from imagepipe.settings import DEFAULT_DESCRIBE_PARTS, get_settings

#: The rate limiter's budget that every remote call shares (imagepipe describe, the describe
#: step, text embeddings): one API key, one budget, whichever actor spends it.
REMOTE_BUDGET = "describe-api"


def is_remote(provider):
    return provider != "local"


def remote_rate_limit(provider=None, settings=None):
    """The describe actor's ``rate_limit`` for ``provider`` (the configured one by default):
    the remote budget when it calls an API (a remote describer, or a text embedder), else None
    (local describing is not limited). ``settings``: the process's by default."""
    settings = settings or get_settings()
    calls_api = is_remote(provider or settings.describer) or bool(settings.text_embedder)
    return settings.describe_rate_limit if calls_api else None


@functools.cache
def get_describer(provider):
    """The describer called ``provider`` ("local" or "openai"), made once per process: a remote
    one holds its HTTP connections. Its ``describe_file(path, isolated)`` returns Words."""
    settings = get_settings()
    if provider == "local":
        from . import local

        parts = local_parts()
        local.check_parts(parts)
        return LocalDescriber(parts)
    remote = _remote_module(f"IMAGEPIPE_DESCRIBER={provider}")
    return RemoteDescriber(
        remote.OpenAIDescriber(
            api_key=settings.openai_api_key or None,
            base_url=settings.openai_base_url or None,
            model=settings.describe_model,
            timeout_s=settings.describe_timeout_s,
            provider=provider,
        )
    )


def local_parts():
    """The local describer's parts: IMAGEPIPE_DESCRIBE_PARTS, else the default ones installed."""
    from .local import available_parts

    installed = available_parts()
    return get_settings().describe_parts or tuple(part for part in DEFAULT_DESCRIBE_PARTS if part in installed)


@functools.cache
def get_text_embedder():
    """The embedder of searchable texts (IMAGEPIPE_TEXT_EMBEDDER), or None: search is then
    full-text only."""
    settings = get_settings()
    if not settings.text_embedder:
        return None
    return _remote_module(f"IMAGEPIPE_TEXT_EMBEDDER={settings.text_embedder}").OpenAITextEmbedder(
        api_key=settings.openai_api_key or None,
        base_url=settings.openai_base_url or None,
        model=settings.text_embed_model,
        timeout_s=settings.describe_timeout_s,
    )


def _remote_module(setting):
    """imagepipe.description.remote, or ConfigurationError when its ``openai`` package is missing."""
    try:
        from . import remote
    except ImportError as error:
        raise ConfigurationError(f"{setting} needs {error.name}: pip install 'imagepipe[openai]'") from None
    return remote


class LocalDescriber:
    """The local models (imagepipe.description.local), all of their work in the isolated child."""

    provider = "local"

    def __init__(self, parts):
        self.parts = tuple(parts)

    def describe_file(self, path, isolated):
        from .local import describe_locally

        return isolated(describe_locally, path, parts=self.parts)


class RemoteDescriber:
    """An OpenAI-compatible API: the isolated child makes the small copy that is sent (no
    EXIF, so no GPS leaves the host); the call itself runs here, where its client lives."""

    def __init__(self, api):
        self.api = api
        self.provider = api.provider

    def describe_file(self, path, isolated):
        from .remote import remote_copy

        return self.api.describe(isolated(remote_copy, path))
