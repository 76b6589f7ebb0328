"""The signature header, checked by the verification code that README gives receivers."""

import inspect
import time
from pathlib import Path

from imagepipe.webhook_signing import signature_header
from tests.webhooks.receiver import verify_signature

SECRET = "whsec-test-0123456789"
BODY = b'{"id": "evt_1", "type": "image.completed"}'


def test_the_readme_shows_the_receivers_verification_code_letter_for_letter():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()

    assert inspect.getsource(verify_signature) in readme


def test_a_signed_body_verifies():
    assert verify_signature(signature_header(SECRET, BODY), BODY, SECRET)


def test_a_changed_body_or_another_secret_does_not_verify():
    header = signature_header(SECRET, BODY)

    assert not verify_signature(header, BODY.replace(b"completed", b"failed"), SECRET)
    assert not verify_signature(header, BODY, SECRET + "x")


def test_an_old_timestamp_does_not_verify_even_when_signed():
    header = signature_header(SECRET, BODY, timestamp=int(time.time()) - 301)

    assert not verify_signature(header, BODY, SECRET)
    assert verify_signature(header, BODY, SECRET, tolerance_s=400)


def test_the_timestamp_is_signed_with_the_body():
    """Moving ``t`` forward to pass the tolerance breaks the signature."""
    old = int(time.time()) - 3600
    signature = signature_header(SECRET, BODY, timestamp=old).split(",v1=")[1]

    assert not verify_signature(f"t={int(time.time())},v1={signature}", BODY, SECRET)


def test_the_header_has_the_documented_shape():
    header = signature_header(SECRET, BODY, timestamp=1700000000)

    t, v1 = header.split(",")
    assert t == "t=1700000000"
    assert v1.startswith("v1=") and len(v1) == 3 + 64 and int(v1[3:], 16) >= 0


def test_a_malformed_header_does_not_verify():
    for header in ("", "v1=abc", "t=soon,v1=abc", "garbage"):
        assert not verify_signature(header, BODY, SECRET)
