"""A real uvicorn server on a free port, serving the web app against the test Redis and database."""

import contextlib
import dataclasses
import json
import os
import queue
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from imagepipe.redis_server import free_port
from tests.conftest import need
from web.app import create_app
from web.slow_clients import HeaderTimeoutProtocol, with_header_timeout

START_TIMEOUT_S = 10
SSE_TIMEOUT_S = 30
CHROMIUM_PATH = os.environ.get("IMAGEPIPE_CHROMIUM", "/usr/bin/chromium")  # Debian's package
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# closed network refuses; Playwright adds --headless and a fresh --user-data-dir itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def running_server(app, *, header_timeout_s=None, log_level="warning"):
    """``app`` served by uvicorn in a thread on a free port; yields its base URL, stops after.

    Its protocol is the Procfile's (web.slow_clients), with ``header_timeout_s`` when given;
    ``log_level="info"`` writes uvicorn's access log (logger ``uvicorn.access``).
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        loop="asyncio",
        http=HeaderTimeoutProtocol if header_timeout_s is None else with_header_timeout(header_timeout_s),
        ws="none",
        log_level=log_level,
        timeout_graceful_shutdown=1,  # open SSE responses never end by themselves
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)


@pytest.fixture
def serve(settings, database_url, redis_client, storage):
    """``serve(**settings_overrides)`` -> an httpx.Client on a fresh server; stopped after the test.

    ``serve(log_level="info", ...)`` writes the server's access log."""
    with contextlib.ExitStack() as running:

        def start(log_level="warning", **overrides):
            app_settings = dataclasses.replace(settings, database_url=database_url, **overrides)
            # The database and the storage are bound by their fixtures, shared with the in-process worker.
            app = create_app(app_settings, bind=False)
            timeout_s = app_settings.web_header_timeout_s
            base_url = running.enter_context(running_server(app, header_timeout_s=timeout_s, log_level=log_level))
            return running.enter_context(httpx.Client(base_url=base_url, timeout=30))

        yield start


@pytest.fixture
def api(serve, worker):
    """A client of a server whose uploads a real in-process worker processes."""
    return serve()


class SseClient:
    """An open SSE response read by a thread: ``next_event()`` returns (id, type, data) dicts."""

    def __init__(self, client, url, headers=None):
        # A client of its own, so that close() drops this connection like a closed tab.
        self.client = httpx.Client(base_url=client.base_url, headers=client.headers, cookies=client.cookies)
        self.events = queue.Queue()
        self.comments = queue.Queue()
        self.status = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(self.client, url, headers or {}), daemon=True)
        self._thread.start()
        status, content_type = self.status.get(timeout=SSE_TIMEOUT_S)
        assert status == 200 and content_type.startswith("text/event-stream"), (status, content_type)
        self.comments.get(timeout=SSE_TIMEOUT_S)  # ": connected": the server is reading

    def _read(self, client, url, headers):
        try:
            self._read_lines(client, url, headers)
        except (httpx.HTTPError, RuntimeError):
            pass  # closed by close(), or the server stopped

    def _read_lines(self, client, url, headers):
        with client.stream("GET", url, headers=headers, timeout=httpx.Timeout(30, read=None)) as response:
            self.socket = response.extensions["network_stream"].get_extra_info("socket")
            self.status.put((response.status_code, response.headers.get("content-type", "")))
            fields = {}
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith(":"):
                    self.comments.put(line)
                elif line == "":
                    if "data" in fields:
                        self.events.put({**fields, "data": json.loads(fields["data"])})
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")

    def next_event(self, timeout=SSE_TIMEOUT_S):
        return self.events.get(timeout=timeout)

    def until(self, event_type, timeout=SSE_TIMEOUT_S):
        """Every event up to and including the first of ``event_type``."""
        seen = []
        deadline = time.monotonic() + timeout
        while not seen or seen[-1]["event"] != event_type:
            seen.append(self.next_event(timeout=max(0.1, deadline - time.monotonic())))
        return seen

    def close(self):
        """Drop the connection at once, as a browser does when its tab closes."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes the reading thread's recv()
        self._thread.join(timeout=SSE_TIMEOUT_S)
        self.client.close()


@pytest.fixture(scope="module")
def chromium():
    """Debian's headless Chromium driven by Playwright (its own browser downloads are impossible here)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("playwright is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM_PATH, os.X_OK):
        need(f"no Chromium at {CHROMIUM_PATH} (apt-get install chromium, or set IMAGEPIPE_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def sign_in(page, base_url, token):
    """Open ``page``'s session with ``token`` (POST /session from its browser context, whose
    cookie jar keeps the session cookie for every later request of the page)."""
    response = page.context.request.post(f"{base_url}/session", headers={"Authorization": f"Bearer {token}"})
    assert response.ok, response.text()


@pytest.fixture
def open_page(chromium):
    """``open_page(**context_options)`` -> a Playwright page in a fresh context; closed after the test.

    Request it after ``serve``/``api`` so the tab closes (and its EventSource with it) before
    the server stops.
    """
    contexts = []

    def open_(**options):
        context = chromium.new_context(**options)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()
