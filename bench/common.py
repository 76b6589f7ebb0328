"""What the benchmarks share: inputs, CPU timing, tables, a private Redis."""

import contextlib
import os
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imagepipe.cli.table import render_table  # noqa: E402
from imagepipe.redis_server import PrivateRedis, redis_answers  # noqa: E402
from imagepipe.samples import make_photo, save_jpeg  # noqa: E402
from imagepipe.worker_process import stop_worker  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: How long a server or worker of a benchmark may take to come up, and to stop.
BOOT_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10
CORPUS = Path(os.environ.get("IMAGEPIPE_CORPUS") or Path(__file__).resolve().parents[1] / "tests" / "corpus")


def cpu_seconds():
    """CPU time of this process and its finished children, user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextlib.contextmanager
def measured():
    """Yields a dict that holds ``cpu`` and ``wall`` seconds once the block ends."""
    result = {}
    cpu, wall = cpu_seconds(), time.perf_counter()
    yield result
    result["cpu"] = cpu_seconds() - cpu
    result["wall"] = time.perf_counter() - wall


def photo_file(folder, megapixels, seed=0, name=None):
    """A synthetic camera-like JPEG of about ``megapixels`` MP at 3:2, cached in ``folder``."""
    width = int((megapixels * 1_000_000 * 1.5) ** 0.5)
    height = int(width / 1.5)
    path = Path(folder) / (name or f"photo-{megapixels}mp-{seed}.jpg")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        save_jpeg(make_photo(width, height, seed=seed), path)
    return path


@contextlib.contextmanager
def redis_for_bench():
    """REDIS_URL when it answers, else a private redis-server for the run."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_answers(url):
        yield url
        return
    with PrivateRedis() as server:
        yield server.url


def print_table(title, headers, rows):
    print(f"\n## {title}\n")
    print(render_table(headers, rows))


@contextlib.contextmanager
def pipeline_worker(folder, redis_url, *, processes, threads, database_url=None, storage_url=None):
    """``pipeline_environment`` and one `dramatiq actors` worker in it; yields the worker's Popen."""
    from imagepipe.worker_process import start_worker, stop_worker

    pipeline_environment(folder, redis_url, database_url=database_url, storage_url=storage_url)
    worker = start_worker(processes=processes, threads=threads)
    try:
        yield worker
    finally:
        stop_worker(worker)


def pipeline_environment(folder, redis_url, *, database_url=None, storage_url=None):
    """A migrated database (SQLite in ``folder`` unless ``database_url``), a media folder in
    ``folder`` (or the storage of ``storage_url``, AWS_* from the environment), in the
    environment that workers started next inherit.

    Sets the environment before ``actors`` is first imported, so this process's broker and the
    workers' agree; the broker is declared once per process, so keep ``redis_url`` the same
    across calls.
    """
    from imagepipe.settings import get_settings
    from imagepipe.storage import bind_storage

    Path(folder).mkdir(parents=True, exist_ok=True)
    os.environ.update(
        REDIS_URL=redis_url,
        BROKER_URL=redis_url,
        MEDIA_ROOT=str(Path(folder) / "media"),
        DATABASE_URL=database_url or f"sqlite:///{Path(folder) / 'bench.db'}",
        IMAGEPIPE_STORAGE_URL=storage_url or (Path(folder) / "media").resolve().as_uri(),
    )
    get_settings.cache_clear()
    bind_storage(None)
    from models import bind_database, migrate_schema

    bind_database(os.environ["DATABASE_URL"])
    migrate_schema()


def submit_and_wait(paths, timeout_s=1800):
    """Queue ``paths`` through the real CLI code path and wait until all have ended; wall seconds."""
    from imagepipe.cli.process import enqueue, wait_for

    started = time.perf_counter()
    ids = enqueue(paths)
    if not wait_for(ids, timeout_s, report=lambda line: None):
        raise RuntimeError("pipeline did not finish in time")
    return time.perf_counter() - started, ids


@contextlib.contextmanager
def web_server(port, log, *, http=None):
    """``uvicorn web.app:app`` on ``port`` in its own session, up once /livez answers;
    ``http``: uvicorn's ``--http`` (the Procfile's is ``web.slow_clients:HeaderTimeoutProtocol``)."""
    command = [sys.executable, "-m", "uvicorn", "web.app:app", "--port", str(port), "--log-level", "warning"]
    command += ["--no-access-log", "--timeout-graceful-shutdown", "3"] + (["--http", http] if http else [])
    server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=1) as answer:
                    if answer.status == 200:
                        break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not come up (exit code {server.poll()}); see {log.name}")
            time.sleep(0.05)
        yield server
    finally:
        stop_worker(server, timeout_s=STOP_TIMEOUT_S)  # SIGTERM, then SIGKILL of the group
