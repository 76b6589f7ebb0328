"""``imagepipe events`` and ``imagepipe process --wait`` fed by the events stream."""

import io
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from imagepipe.cli.follow import follow_images
from imagepipe.event_stream import newest_id
from imagepipe.graph import PIPELINE
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from middleware import EventPublisher
from models import Image, register_image
from tests.cli.test_cli import imagepipe

LINE_TIMEOUT_S = 10


class Tail:
    """A running ``imagepipe events ...`` whose output lines can be awaited one by one."""

    def __init__(self, *args, env=None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "imagepipe.cli", "events", *args],
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_until_reading(self, redis_client):
        """Until the process is blocked in XREAD: what is published from then on, it sees."""
        deadline = time.monotonic() + LINE_TIMEOUT_S
        while not any(client.get("cmd") == "xread" for client in redis_client.client_list()):
            assert time.monotonic() < deadline, "imagepipe events never started reading"
            time.sleep(0.02)

    def next_lines(self, count):
        return [self.lines.get(timeout=LINE_TIMEOUT_S) for _ in range(count)]

    def interrupt(self):
        """Ctrl-C; returns the exit code and stderr."""
        self.process.send_signal(signal.SIGINT)
        _, stderr = self.process.communicate(timeout=LINE_TIMEOUT_S)
        return self.process.returncode, stderr


@pytest.fixture
def publisher(redis_client, redis_url):
    return EventPublisher(redis_url=redis_url)


def test_events_json_prints_each_new_event_exactly_as_stored(publisher, redis_client):
    publisher.publish("job-progress", None, image_id=1, percent=5)  # before: not shown
    assert publisher.flush()
    tail = Tail("--json")
    tail.wait_until_reading(redis_client)

    for percent in (10, 50, 90):
        publisher.publish("job-progress", None, image_id=1, percent=percent, note="né à Zürich")
    lines = tail.next_lines(3)
    code, stderr = tail.interrupt()

    stored = [fields[b"event"].decode() for _, fields in redis_client.xrange("imagepipe:events")]
    assert lines == stored[1:]
    assert (code, stderr) == (0, "")


def test_events_for_one_image_from_the_start_as_readable_lines(publisher, redis_client):
    for image_id in (1, 2, 1):
        publisher.publish("job-completed", None, image_id=image_id, attempt=1, duration_ms=12)
    assert publisher.flush()
    tail = Tail("--image", "1", "--from-start")

    lines = tail.next_lines(2)
    code, _ = tail.interrupt()

    assert all(re.search(r"job-completed\s+image 1\s.*attempt=1 duration_ms=12$", line) for line in lines), lines
    assert tail.lines.empty() and code == 0


def test_follow_shows_a_line_per_change_of_each_image_when_not_a_terminal(publisher, redis_client, database_url):
    """The non-TTY display of ``process --wait``: events drive it, the database confirms."""
    good, bad = (register_image(f"tests/{name}.jpg", f"{name}.jpg").id for name in ("good", "bad"))
    since = newest_id(redis_client)
    for image_id, events in (
        (good, [("job-active", {"attempt": 1}), ("job-progress", {"percent": 50, "note": "decoded"})]),
        (bad, [("job-active", {"attempt": 1}), ("job-retrying", {"delay_ms": 2000})]),
        (good, [("job-completed", {"attempt": 1}), ("image-completed", {})]),
        (bad, [("image-failed", {"error": "image file is truncated"})]),
    ):
        for event_type, fields in events:
            publisher.publish(event_type, None, image_id=image_id, actor="ingest", **fields)
    Image.update(status=Image.COMPLETED).where(Image.id == good).execute()
    Image.update(status=Image.FAILED).where(Image.id == bad).execute()
    out = io.StringIO()

    started = time.monotonic()
    finished = follow_images([good, bad], redis_client, stream="imagepipe:events", since=since, timeout_s=30, out=out)

    assert finished and time.monotonic() - started < 2  # from the events, not the 5 s safety net
    lines = [re.sub(r"\s+", " ", line) for line in out.getvalue().splitlines()]
    half, whole = round(50 / len(PIPELINE.names)), round(100 / len(PIPELINE.names))  # of ingest's share
    assert lines == [
        f"image {good} good.jpg 0% ingest",
        f"image {good} good.jpg {half}% ingest: decoded",
        f"image {bad} bad.jpg 0% ingest",
        f"image {bad} bad.jpg 0% ingest failed, retrying in 2.0s",
        f"image {good} good.jpg {whole}% ingest done",
        f"image {good} good.jpg 100% completed",
        f"image {bad} bad.jpg 0% failed: image file is truncated",
    ]


def test_follow_draws_bars_in_place_on_a_terminal(publisher, redis_client, database_url):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    image_id = register_image("tests/one.jpg", "one.jpg").id
    since = newest_id(redis_client)
    publisher.publish("image-completed", None, image_id=image_id, actor="embed")
    Image.update(status=Image.COMPLETED).where(Image.id == image_id).execute()
    out = Terminal()

    assert follow_images([image_id], redis_client, stream="imagepipe:events", since=since, timeout_s=30, out=out)
    assert out.getvalue().count("\x1b[1F") == 1
    assert "[" + "#" * 24 + "] 100%  completed" in out.getvalue()


def test_process_wait_shows_progress_per_image_from_the_events(tmp_path, redis_client, redis_url):
    """End to end with ``dramatiq actors``: needs EventPublisher in ``actors.broker``."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "REDIS_URL": redis_url,
        "BROKER_URL": redis_url,
    }
    photos = [save_jpeg(make_photo(1300, 900, seed=seed), tmp_path / f"photo{seed}.jpg") for seed in (1, 2)]
    assert imagepipe("migrate", env=env).returncode == 0
    worker = start_worker(env, processes=1, threads=2, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        done = imagepipe("process", *map(str, photos), "--wait", "--timeout", "90", env=env)
    finally:
        assert stop_worker(worker) == 0

    assert done.returncode == 0, done.stdout + done.stderr
    ids = re.search(r"queued 2 image\(s\): (\d+), (\d+)", done.stdout).groups()
    for image_id in ids:
        mine = [line for line in done.stdout.splitlines() if re.match(rf"image {image_id}\s", line)]
        assert any("variants" in line for line in mine), done.stdout  # only events name the steps
        assert re.search(r"100%\s+completed$", mine[-1]), mine
    assert re.search(r"^id\s+name\s+status", done.stdout, re.M)  # the final table
    assert done.stdout.count("\x1b[") == 0  # not a terminal: no redrawing
