"""``imagepipe demo``: the whole pipeline on synthetic photos, with its own worker."""

import os
import sys
import time

from imagepipe.redis_server import PrivateRedis, redis_answers
from imagepipe.samples import write_demo_set
from imagepipe.settings import get_settings
from imagepipe.storage import get_storage
from imagepipe.worker_process import start_worker, stop_worker
from models import bind_database, migrate_schema

from . import process

NAME = "demo"
HELP = "make sample photos, run a worker, process them and print the results"
DEMO_FOLDER = "demo"


def add_arguments(parser):
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process (default 2)")
    parser.add_argument("--timeout", type=float, default=process.DEFAULT_WAIT_TIMEOUT_S, help="seconds to wait")


def run(args, settings):
    private_redis = None
    if not redis_answers(settings.redis_url):
        private_redis = PrivateRedis().start()
        print(f"no Redis on {settings.redis_url}: started a private one on port {private_redis.port}")
        os.environ["REDIS_URL"] = private_redis.url
        if not os.environ.get("BROKER_URL"):
            os.environ["BROKER_URL"] = private_redis.url
        get_settings.cache_clear()  # the broker and the worker must see the private Redis
        settings = get_settings()
    try:
        return _run_demo(args, settings)
    finally:
        if private_redis:
            private_redis.stop()


def _run_demo(args, settings):
    bind_database(settings.database_url)
    migrate_schema()
    paths = write_demo_set(settings.media_root / DEMO_FOLDER)
    print(f"made {len(paths)} sample photos in {settings.media_root / DEMO_FOLDER}")
    log_path = settings.media_root / DEMO_FOLDER / "worker.log"
    with open(log_path, "wb") as log:
        worker = start_worker(processes=args.processes, threads=args.threads, stdout=log, stderr=log)
    print(
        f"started worker: dramatiq actors --processes {args.processes} --threads {args.threads} "
        f"(pid {worker.pid}, log in {log_path})"
    )
    try:
        started = time.monotonic()
        ids, finished = process.process_and_follow(
            paths, settings, timeout_s=args.timeout, alive=lambda: worker.poll() is None
        )
        print(f"{len(ids)} images in {time.monotonic() - started:.1f}s")
    finally:
        code = stop_worker(worker)
        print(f"worker stopped (exit code {code})")
    if code not in (0, None) and not finished:
        print(f"imagepipe: the worker exited early (code {code}); see {log_path}", file=sys.stderr)
    status = process.outcome(ids, finished, args.timeout)
    print(f"database {settings.database_url}, files in {get_storage().address}")
    return status
