"""The web tests' real server (tests/web/conftest.py), plus raw HTTP/1.1 connections that can
come from another loopback address, open hundreds of streams, pipeline, or send slowly."""

import asyncio
import io

import httpx
import pytest

from imagepipe.samples import make_photo
from tests.web.conftest import serve  # noqa: F401  (the fixture, shared)

#: Linux routes all of 127.0.0.0/8 to loopback: a client bound here is another address to a
#: server on 127.0.0.1.
OTHER_ADDRESS = "127.0.0.2"


@pytest.fixture
def small_jpeg():
    """A valid JPEG of a few KB."""
    out = io.BytesIO()
    make_photo(64, 48).save(out, "JPEG", quality=80)
    return out.getvalue()


def client_from(api, address, **kwargs):
    """An httpx client of ``api``'s server whose connections come from ``address``."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=api.base_url, transport=transport, timeout=30, **kwargs)


def port_of(api):
    return api.base_url.port


class RawConnection:
    """One HTTP/1.1 connection on asyncio streams: write bytes, read responses as they come."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port, address="127.0.0.1"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
        return cls(reader, writer)

    async def send(self, data):
        self.writer.write(data)
        await self.writer.drain()

    async def head(self, timeout=10):
        """(status, headers with lower-case names) of the next response."""
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        headers = dict(
            (name.lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines if line)
        )
        return int(status_line.split()[1]), headers

    async def response(self, timeout=10):
        """(status, headers, body) of the next response, which has a Content-Length."""
        status, headers = await self.head(timeout)
        body = await asyncio.wait_for(self.reader.readexactly(int(headers["content-length"])), timeout)
        return status, headers, body

    async def closed_by_server(self, timeout):
        """True when the server closes the connection (EOF) within ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(self.reader.read(), timeout) is not None
        except TimeoutError:
            return False

    def close(self):
        self.writer.close()


def get(path, headers=""):
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode()
