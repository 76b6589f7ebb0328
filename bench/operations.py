"""Time to answer of the operations API with a full queue and a large database, and what the
operations page's polling costs Redis.

Set-up, once per database (SQLite in a temporary file; PostgreSQL a fresh database on
IMAGEPIPE_BENCH_POSTGRES_URL's server, dropped after):

* ``--images`` rows bulk-inserted with peewee's ``insert_many`` (statuses 90 % completed, 5 %
  failed, 3 % queued, 2 % processing) and ``--dead-letters`` dead letters;
* on a private redis-server (this run's alone, so its CPU counters measure only this run):
  ``--messages`` ingest messages enqueued by Dramatiq itself (``ingest.send``) and left ready;
  an hour of activity (``--events`` job-completed/job-failed events spread over the last hour,
  published through the EventPublisher of the pipeline's broker, so counted as a worker counts
  them); the rate-limit budgets of ``IMAGEPIPE_RATE_LIMITS=ingest=50/s,embed=10/m`` with 50
  slots reserved by the limiter's own Lua script;
* one real ``dramatiq actors --queues encode`` worker (1 process, 2 threads): its heartbeat is
  what ``/api/workers`` lists, and its polling of the (empty) encode queue is the steady
  background load on Redis. The 10k ingest messages stay ready: it does not consume ``images``.

Then ``uvicorn web.app:app`` (its own process) is asked each route ``--requests`` times in turn
over HTTP by one keep-alive httpx client: p50, p99 and the slowest, in ms. Goal of the issue:
p99 < 50 ms.

Redis's cost of the page (SQLite run), beside a steady background load: the idle worker above
and a full-stack ``dramatiq bench.noop_app:setup`` worker (1 process, 2 threads) running
``--load-rate`` no-op messages a second, sent on a fixed schedule from this process. Redis's
own ``used_cpu_user + used_cpu_sys`` (INFO cpu) over ``--cpu-seconds`` with only the
background load, then as long with the page's poll every
``--poll-s`` (GET /api/queues, /api/workers, /api/activity, /api/rate-limits) besides, in
``--rounds`` alternating rounds; and, for a figure above the noise, the Redis CPU of 200
requests of each route back to back, less the background's share of that time, divided by 200
(the cost of one request); one cycle of the four every ``--poll-s``, as a share of one core
and of the background load's Redis CPU. Goal: under 1 %.
"""

import argparse
import contextlib
import datetime
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import redis
from common import ROOT, STOP_TIMEOUT_S, pipeline_environment, print_table, web_server
from search import postgres_database
from sse_latency import noop_worker

from bench import noop_app
from imagepipe.redis_server import PrivateRedis, free_port
from imagepipe.worker_process import start_worker, stop_worker

ROUTES = (
    "/api/queues",
    "/api/workers",
    "/api/activity",
    "/api/rate-limits",
    "/images?page=1&per_page=24",
    "/images?status=failed",
    "/dead-letters?limit=20",
)
POLLED = ROUTES[:4]
STATUSES = (("completed", 90), ("failed", 5), ("queued", 3), ("processing", 2))
RATE_LIMITS = "ingest=50/s,embed=10/m"
INSERT_BATCH = 1000
EVENTS_BATCH = 5000
BURST_CYCLES = 200
WARMUP = 10


def fill_database(images, dead_letters):
    """Bulk-insert the images and dead letters; seconds it took."""
    from models import DeadLetter, Image, database

    started = time.perf_counter()
    statuses = [status for status, share in STATUSES for _ in range(share)]
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    rows = (
        {
            "source": f"sources/{n:032x}/photo-{n}.jpg",
            "original_name": f"photo-{n}.jpg",
            "status": statuses[n % len(statuses)],
            "created_at": now - datetime.timedelta(seconds=images - n),
            "updated_at": now,
        }
        for n in range(images)
    )
    _insert(Image, rows, database)
    letters = (
        {
            "message_id": f"m{n}",
            "actor": "make_variants",
            "queue": "encode",
            "image_id": n + 1,
            "message": "{}",
            "error_type": "EncodeError",
            "error": "the encoder gave up",
            "traceback": "Traceback ...",
            "attempts": 4,
        }
        for n in range(dead_letters)
    )
    _insert(DeadLetter, letters, database)
    if database.__class__.__name__.startswith("Postgres"):
        database.execute_sql("VACUUM ANALYZE")  # statistics, as autovacuum leaves a table
    return time.perf_counter() - started


def _insert(model, rows, database):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == INSERT_BATCH:
            with database.atomic():
                model.insert_many(batch).execute()
            batch = []
    if batch:
        with database.atomic():
            model.insert_many(batch).execute()


def fill_redis(client, messages, events):
    """The queue, an hour of activity and some reserved rate-limit slots, as described above."""
    import actors
    from middleware import EventPublisher
    from middleware.rate_limit import KEY_PREFIX, SCRIPT

    for n in range(messages):
        actors.ingest.send(n + 1)
    publisher = next(m for m in actors.broker.middleware if isinstance(m, EventPublisher))
    steps = ("ingest", "make_variants", "extract_metadata", "embed", "describe")
    now, generator = time.time(), random.Random(0)
    assert publisher.flush(30), "the job-queued events were not written"
    for n in range(events):
        outcome = "job-failed" if n % 50 == 0 else "job-completed"
        ts = now - generator.uniform(0, 3600)
        publisher.publish(outcome, None, actor=steps[n % 5], ts=ts, duration_ms=generator.randint(5, 5000))
        if n % EVENTS_BATCH == 0:  # the writer keeps at most DEFAULT_MAX_PENDING waiting
            assert publisher.flush(30), "the events were not written"
    assert publisher.flush(30), "the events were not written"
    reserve = client.register_script(SCRIPT)
    for n in range(50):
        reserve(keys=[KEY_PREFIX + "ingest", KEY_PREFIX + "ingest:hold"], args=[50, 1050, f"slot{n}", 10])


def time_routes(client, requests):
    rows = []
    for route in ROUTES:
        for _ in range(WARMUP):
            assert client.get(route).status_code == 200, route
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            answer = client.get(route)
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (route, answer.text[:200])
        times.sort()
        p99 = times[min(len(times) - 1, round(0.99 * len(times)) - 1)]
        rows.append((route, statistics.median(times), p99, times[-1]))
    return rows


def redis_cpu_s(client):
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def poll_until(client, stop, interval_s):
    """The page: its four routes every ``interval_s``, until ``stop`` is set."""
    while not stop.is_set():
        for route in POLLED:
            assert client.get(route).status_code == 200, route
        stop.wait(interval_s)


def steady_load(actor, rate, stop):
    """No-op messages, ``rate`` a second on a fixed schedule, until ``stop`` is set."""
    started, sent = time.monotonic(), 0
    while not stop.wait(max(0.0, started + sent / rate - time.monotonic())):
        actor.send(sent)
        sent += 1


def measure_polling(redis_client, http, args):
    """Beside the background load (and ``--load-rate`` no-op messages a second through a
    full-stack no-op worker): (Redis CPU s without polling, with polling) per round, and the
    Redis CPU of one request of each polled route."""
    if not args.load_rate:
        return _measure_polling(redis_client, http, args)
    broker, actor = noop_app.declare("bare", os.environ["REDIS_URL"])  # only the worker publishes events
    stop = threading.Event()
    sender = threading.Thread(target=steady_load, args=(actor, args.load_rate, stop))
    sender.start()
    try:
        time.sleep(2)  # the worker is busy before the first window
        return _measure_polling(redis_client, http, args)
    finally:
        stop.set()
        sender.join()
        broker.close()


def _measure_polling(redis_client, http, args):
    rounds = []
    for _ in range(args.rounds):
        before = redis_cpu_s(redis_client)
        time.sleep(args.cpu_seconds)
        quiet = redis_cpu_s(redis_client) - before
        stop = threading.Event()
        before = redis_cpu_s(redis_client)
        poller = threading.Thread(target=poll_until, args=(http, stop, args.poll_s))
        poller.start()
        time.sleep(args.cpu_seconds)
        stop.set()
        poller.join()
        rounds.append((quiet, redis_cpu_s(redis_client) - before))
    background_per_s = statistics.mean(quiet for quiet, _ in rounds) / args.cpu_seconds
    per_route = {}
    for route in POLLED:
        before, started = redis_cpu_s(redis_client), time.perf_counter()
        for _ in range(BURST_CYCLES):
            assert http.get(route).status_code == 200, route
        # less the background load's share of the burst's time
        spent = redis_cpu_s(redis_client) - before - background_per_s * (time.perf_counter() - started)
        per_route[route] = spent / BURST_CYCLES
    return rounds, per_route


@contextlib.contextmanager
def database_for(engine, folder):
    if engine == "sqlite":
        yield f"sqlite:///{Path(folder) / 'operations.db'}"
        return
    url, drop = postgres_database()
    if url is None:
        raise SystemExit(drop)  # the reason none answers
    try:
        yield url
    finally:
        from models import database

        database.close()
        drop()


def run(engine, args, redis_server, folder, log):
    with database_for(engine, folder) as database_url:
        pipeline_environment(Path(folder) / engine, redis_server.url, database_url=database_url)
        client = redis.Redis.from_url(redis_server.url)
        client.flushall()
        fill_s = fill_database(args.images, args.dead_letters)
        fill_redis(client, args.messages, args.events)
        worker = start_worker(
            processes=1, threads=2, extra_args=("--queues", "encode"), cwd=ROOT, stdout=log, stderr=log
        )
        port = free_port()
        try:
            with web_server(port, log), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                while not http.get("/api/workers").json()["workers"]:
                    time.sleep(0.2)  # the worker's first heartbeat
                assert http.get("/api/queues").json()["queues"][1]["ready"] == args.messages
                load = os.getloadavg()[0]
                rows = time_routes(http, args.requests)
                load = max(load, os.getloadavg()[0])
                polling = None
                if engine == "sqlite" and args.rounds:
                    with noop_worker(log) if args.load_rate else contextlib.nullcontext():
                        polling = measure_polling(client, http, args)
        finally:
            stop_worker(worker, timeout_s=STOP_TIMEOUT_S)
    return fill_s, rows, load, polling


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--dead-letters", type=int, default=2_000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000, help="job events spread over the last hour")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per route")
    parser.add_argument("--cpu-seconds", type=float, default=60, help="length of one CPU window")
    parser.add_argument("--rounds", type=int, default=2, help="quiet/polling window pairs (0: skip)")
    parser.add_argument("--poll-s", type=float, default=5, help="the page's poll interval")
    parser.add_argument("--load-rate", type=float, default=50, help="no-op messages a second beside (0: none)")
    args = parser.parse_args()
    os.environ.pop("IMAGEPIPE_API_TOKEN", None)
    os.environ.update(IMAGEPIPE_RATE_LIMITS=RATE_LIMITS, SENTRY_DSN="")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as folder, PrivateRedis() as redis_server:
        with open(Path(folder) / "processes.log", "wb") as log:
            try:
                results = {engine: run(engine, args, redis_server, folder, log) for engine in args.engines}
            except Exception:
                log.flush()
                print(Path(log.name).read_text(errors="replace")[-3000:], file=sys.stderr)
                raise
    report(args, results)


def report(args, results):
    for engine, (fill_s, rows, load, polling) in results.items():
        title = (
            f"{engine}: {args.images:,} images, {args.dead_letters:,} dead letters (filled in {fill_s:.1f} s), "
            f"{args.messages:,} ready messages; uvicorn web.app:app over HTTP, {args.requests} requests a route, ms"
        )
        table = [(route, f"{p50:.1f}", f"{p99:.1f}", f"{slowest:.1f}") for route, p50, p99, slowest in rows]
        print_table(title, ["route", "p50", "p99", "max"], table)
        worst = max(rows, key=lambda row: row[2])
        verdict = "met" if worst[2] < 50 else "NOT met"
        print(f"\nslowest p99: {worst[0]} {worst[2]:.1f} ms (goal < 50 ms): {verdict}; load average {load:.1f}")
        if polling:
            report_polling(args, *polling)


def report_polling(args, rounds, per_route):
    table = []
    for n, (quiet, polled) in enumerate(rounds, start=1):
        added = polled - quiet
        figures = (f"{quiet * 1000:.1f}", f"{polled * 1000:.1f}", f"{added * 1000:+.1f}", f"{added / quiet:+.1%}")
        table.append((n, *figures))
    print_table(
        f"Redis CPU (used_cpu_user+sys) in {args.cpu_seconds:g} s windows: an idle worker and "
        f"{args.load_rate:g} no-op jobs/s alone, then with the page's 4 routes every {args.poll_s:g} s",
        ["round", "background ms", "with polling ms", "added ms", "added / background"],
        table,
    )
    print_table(
        f"Redis CPU of one request, mean of {BURST_CYCLES} back to back",
        ["route", "Redis CPU us"],
        [(route, f"{cpu_s * 1e6:.0f}") for route, cpu_s in per_route.items()],
    )
    cycle_s = sum(per_route.values())
    background_per_s = statistics.mean(quiet for quiet, _ in rounds) / args.cpu_seconds
    per_s = cycle_s / args.poll_s
    print(
        f"\nOne poll cycle costs Redis {cycle_s * 1e6:.0f} us of CPU: "
        f"one every {args.poll_s:g} s is {per_s:.2e} of a core, {per_s / background_per_s:.2%} of the background "
        f"load's Redis CPU ({background_per_s:.2%} of a core). Goal < 1 %."
    )


if __name__ == "__main__":
    main()
