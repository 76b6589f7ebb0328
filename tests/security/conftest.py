"""The web tests' real server and browser (tests/web/conftest.py); a page that records what
a security test must see none of; raw HTTP/1.1 connections that can come from another loopback
address, open hundreds of streams, pipeline, or send slowly."""

import asyncio
import io
from urllib.parse import urlsplit

import httpx
import pytest

from imagepipe.samples import make_photo
from tests.web.conftest import api, chromium, open_page, serve, sign_in  # noqa: F401

# Before the page's own script: every CSP violation, recorded in the page.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
"""


@pytest.fixture
def watched(open_page):  # noqa: F811
    """``watched(url, token=None)`` -> a page at ``url`` (signed in with ``token`` first, when
    given) recording CSP violations (``window.__violations``), dialogs, script errors, console
    errors and failed loads in ``watched.seen``."""
    seen = {"dialogs": [], "errors": []}

    def open_(url, token=None):
        page = open_page(viewport={"width": 1280, "height": 900})
        if token:
            origin = urlsplit(url)
            sign_in(page, f"{origin.scheme}://{origin.netloc}", token)
        page.add_init_script(LISTEN)
        page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: seen["errors"].append(str(error)))
        page.on("console", lambda message: message.type == "error" and seen["errors"].append(message.text))
        page.on("response", lambda r: r.status >= 400 and seen["errors"].append(f"{r.status} {r.url}"))
        page.goto(url)
        return page

    open_.seen = seen
    return open_


def assert_clean(page, seen):
    """No CSP violation, dialog, script or console error on ``page`` so far."""
    assert page.evaluate("window.__violations") == []
    assert seen == {"dialogs": [], "errors": []}


#: Linux routes all of 127.0.0.0/8 to loopback: a client bound here is another address to a
#: server on 127.0.0.1.
OTHER_ADDRESS = "127.0.0.2"


@pytest.fixture
def small_jpeg():
    """A valid JPEG of a few KB."""
    out = io.BytesIO()
    make_photo(64, 48).save(out, "JPEG", quality=80)
    return out.getvalue()


def client_from(client, address, **kwargs):
    """An httpx client of ``client``'s server whose connections come from ``address``."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=client.base_url, transport=transport, timeout=30, **kwargs)


def port_of(client):
    return client.base_url.port


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
