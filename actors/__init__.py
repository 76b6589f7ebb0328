"""The pipeline's broker and actors: ``dramatiq actors`` needs nothing else.

Importing this package declares the broker from the environment (the one import-time side
effect, and it opens no connection) and then the actors, which validate their options
against the middleware the broker already has.
"""

import dramatiq

from imagepipe.settings import get_settings

from .broker import build_broker

broker = build_broker(get_settings())
dramatiq.set_broker(broker)

from .pipeline import describe, embed, extract_metadata, ingest, make_variants  # noqa: E402
from .webhooks import deliver_webhook  # noqa: E402

__all__ = ["broker", "deliver_webhook", "describe", "embed", "extract_metadata", "ingest", "make_variants"]
