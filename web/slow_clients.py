"""uvicorn's h11 protocol with a deadline on each request's head: slow headers (slowloris) cut off.

uvicorn 0.55 arms no timer before a connection's first request head is complete, and a keep-alive
connection's idle timer is cancelled by the first byte of the next head: a client that sends
half a request line, then a byte now and then, holds a connection (a file descriptor and a
protocol object) for ever. ``HeaderTimeoutProtocol`` closes a connection whose request head is
not complete ``web_header_timeout_s`` after the connection opened, or after the first byte of
a later head. Bodies have their own deadline (web/limits.py BodyLimits); responses none (SSE).

Used as ``uvicorn web.app:app --http web.slow_clients:HeaderTimeoutProtocol`` (uvicorn's
``--http`` takes an import string of a protocol class, its Config.load); the tests' server
runs the same class (``with_header_timeout`` fixes another deadline).
"""

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from imagepipe.settings import get_settings


class HeaderTimeoutProtocol(H11Protocol):
    """H11Protocol that closes a connection whose request head is late.

    ``header_timeout_s``: the deadline in seconds; None (the default) reads
    ``IMAGEPIPE_WEB_HEADER_TIMEOUT_S`` through the process's settings on first use.
    """

    header_timeout_s: float | None = None
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self._arm()

    def data_received(self, data):
        if self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of a later head: its deadline starts now
        super().data_received(data)
        self._disarm_once_headed()

    def on_response_complete(self):
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
            self._arm()  # part of a pipelined head already buffered
        self._disarm_once_headed()

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)

    def _arm(self):
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._timeout_s(), self._head_timed_out)

    def _disarm(self):
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _disarm_once_headed(self):
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def _head_timed_out(self):
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info("Closing a connection from %s: its request head took too long.", self.client)
            self.transport.close()

    def _timeout_s(self):
        timeout_s = type(self).header_timeout_s
        return get_settings().web_header_timeout_s if timeout_s is None else timeout_s


def with_header_timeout(timeout_s):
    """A HeaderTimeoutProtocol with a deadline of ``timeout_s`` (a server of other settings)."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": timeout_s})
