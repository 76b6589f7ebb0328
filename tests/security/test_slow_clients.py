"""Slow clients cut off: a body past its deadline (web/limits.py BodyLimits) and a request head
past its deadline (web/slow_clients.py), on a real uvicorn server run as the Procfile runs it."""

import asyncio
import time

import pytest

from tests.security.conftest import RawConnection, get, port_of

pytestmark = pytest.mark.parametrize("storage", ["local"], indirect=True)


def test_a_body_that_arrives_too_slowly_gets_408_and_a_closed_connection(serve):
    api = serve(web_body_timeout_s=1)

    async def slow_post():
        connection = await RawConnection.open(port_of(api))
        head = "POST /uploads HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        await connection.send(head.encode() + b'{"name": ')  # then nothing more
        started = time.monotonic()
        status, headers, body = await connection.response(timeout=5)
        answered_s = time.monotonic() - started
        closed = await connection.closed_by_server(timeout=2)
        connection.close()
        return status, headers, body, answered_s, closed

    status, headers, body, answered_s, closed = asyncio.run(slow_post())
    print(f"408 after {answered_s:.2f} s")
    assert status == 408 and b"did not arrive in time" in body
    assert 0.9 <= answered_s < 2.0
    assert headers["connection"] == "close" and closed


def test_a_request_head_that_arrives_too_slowly_is_cut_off(serve):
    api = serve(web_header_timeout_s=1)

    async def slowloris():
        # half a request line on a fresh connection, then nothing
        fresh_started = time.monotonic()
        fresh = await RawConnection.open(port_of(api))
        await fresh.send(b"GET /ima")
        # and on a kept-alive connection: one whole request, then half of the next head,
        # a byte now and then (each would cancel uvicorn's own keep-alive timer)
        kept = await RawConnection.open(port_of(api))
        await kept.send(get("/livez"))
        status, _, _ = await kept.response()
        await kept.send(b"GET /livez HTTP/1.1\r\n")
        started = time.monotonic()
        trickle = asyncio.ensure_future(_trickle(kept, b"X-Slow: 1\r\n"))
        fresh_closed, kept_closed = await asyncio.gather(
            _closed_after(fresh, fresh_started, timeout=3), _closed_after(kept, started, timeout=3)
        )
        trickle.cancel()
        # a prompt client on a new connection is served as ever
        prompt = await RawConnection.open(port_of(api))
        await prompt.send(get("/livez"))
        prompt_status, _, _ = await prompt.response()
        for connection in (fresh, kept, prompt):
            connection.close()
        return status, fresh_closed, kept_closed, prompt_status

    status, fresh_closed, kept_closed, prompt_status = asyncio.run(slowloris())
    print(f"closed after {fresh_closed:.2f} s (fresh) and {kept_closed:.2f} s (kept alive)")
    assert status == 200 and prompt_status == 200
    assert 0.9 <= fresh_closed < 1.6 and 0.9 <= kept_closed < 1.6


async def _trickle(connection, data):
    for byte in data:
        await asyncio.sleep(0.2)
        try:
            await connection.send(bytes([byte]))
        except ConnectionError:
            return


async def _closed_after(connection, started, timeout):
    """Seconds from ``started`` until the server closed ``connection`` (inf: it did not)."""
    if not await connection.closed_by_server(timeout):
        return float("inf")
    return time.monotonic() - started
