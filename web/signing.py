"""Keys derived from the configured tokens, one per purpose."""

import hashlib
import hmac


def derive_key(secret, purpose):
    """HMAC-SHA256 of ``purpose`` under ``secret``: rotating the token rotates every key made from it."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()
