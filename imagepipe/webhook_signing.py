"""The signature header of a webhook, as payment providers sign theirs (README, "Webhooks").

``Imagepipe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, keyed with
IMAGEPIPE_WEBHOOK_SECRET. The timestamp is signed with the body, so a receiver that rejects an
old ``t`` cannot be replayed an intercepted request later; ``v1`` names the scheme, so a
second one can be added beside it without breaking receivers.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Imagepipe-Signature"


def signature(secret, timestamp, body):
    """The hex HMAC-SHA256 of ``b"<timestamp>.<body>"`` keyed with ``secret``."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret, body, timestamp=None):
    """The value of the Imagepipe-Signature header for ``body`` (bytes), signed now."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"
