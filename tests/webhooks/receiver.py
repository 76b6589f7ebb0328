"""A real HTTP receiver of imagepipe's webhooks for the tests, verifying as README tells users to.

``verify_signature`` is the README's code, letter for letter (test_signing.py checks that), so
every delivery the tests accept proves the documented verification works.
"""

import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify_signature(header, body, secret, tolerance_s=300):
    """True when ``header`` (Imagepipe-Signature) signs ``body``, the request's raw bytes,
    with ``secret``, and its timestamp is within ``tolerance_s`` seconds of now."""
    try:
        fields = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False  # an old request replayed, or a clock far off
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


def free_port():
    """A port nothing listens on (until the receiver opens it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Receiver:
    """Records every POST (headers, raw body, whether its signature verified) and answers
    ``status``; started and stopped at will on one fixed port, to play a receiver that is down."""

    def __init__(self, secret, port=None, status=200):
        self.secret = secret
        self.port = port or free_port()
        self.status = status
        self.requests = []
        self._lock = threading.Lock()
        self._server = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                verified = verify_signature(self.headers.get("Imagepipe-Signature", ""), body, receiver.secret)
                with receiver._lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "verified": verified})
                self.send_response(receiver.status if verified else 400)
                self.end_headers()

            def log_message(self, format, *args):  # the test reads self.requests, not stderr
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self):
        """The JSON bodies of the requests whose signature verified, in arrival order."""
        with self._lock:
            return [json.loads(request["body"]) for request in self.requests if request["verified"]]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
