"""No-op messages: imagepipe's full middleware stack against bare Dramatiq, Celery and BullMQ.

Four systems on the same Redis, in the same run, each doing the same no-op (one INCR of a
counter, see bench/noop_app.py):

* bare Dramatiq: a RedisBroker with Dramatiq's default middleware, under
  ``dramatiq --processes 2 --threads 8``; the baseline of the ratio column;
* the same actor and runner with ``actors.broker.build_middleware`` (whatever the stack is
  today; SQLite database, events to a benchmark stream, no Sentry);
* Celery, prefork pool of 2, Redis broker, no result backend;
* BullMQ's Python port, one asyncio process, Worker concurrency 8.

For each system, all N messages are queued first; then its worker starts. The clock and the
CPU counters start when the counter passes the warm-up count (every process booted and busy)
and stop when it reaches N, so boot time and queueing are not measured. Worker CPU is user +
system time of the worker's whole process tree over that interval; Redis CPU comes from INFO
(it shares the two cores with the workers). Every system runs ``--rounds`` times, interleaved,
and the table shows each one's best run (most jobs/s), as other work on the machine only ever
slows a run down. The goal of the issue: full stack / bare Dramatiq >= 0.80 in jobs/s. The
Celery and BullMQ rows need the bench extra and are skipped, with a note, without it.
"""

import argparse
import asyncio
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psutil
import redis
from common import print_table, redis_for_bench

from bench import noop_app
from imagepipe.worker_process import start_worker, stop_worker

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.005
BOOT_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15


@dataclass
class System:
    label: str
    enqueue: Callable[[int], None]
    start: Callable[[object], subprocess.Popen]  # given the log file


def dramatiq_system(redis_url, stack, without=()):
    def enqueue(count):
        broker, noop = noop_app.declare(stack, redis_url, without)
        for n in range(count):
            noop.send(n)
        broker.close()

    def start(log):
        env = {noop_app.STACK_ENV: stack, noop_app.WITHOUT_ENV: ",".join(without)}
        return start_worker(
            env, processes=2, threads=8, module="bench.noop_app:setup", cwd=ROOT, stdout=log, stderr=log
        )

    if stack == "bare":
        label = f"bare Dramatiq {version('dramatiq')} (default middleware), 2 processes x 8 threads"
    else:
        label = "Dramatiq + imagepipe's full middleware stack, 2 x 8"
        label += f" without {', '.join(without)}" if without else ""
    return System(label, enqueue, start)


def celery_system():
    def enqueue(count):
        from bench.noop_celery import app, noop

        with app.producer_or_acquire() as producer:
            for n in range(count):
                noop.apply_async((n,), producer=producer)

    def start(log):
        command = ["-m", "celery", "-A", "bench.noop_celery", "worker", "--pool", "prefork", "--concurrency", "2"]
        return spawn([*command, "-Q", noop_app.QUEUE, "--loglevel", "WARNING"], log)

    return System(f"Celery {version('celery')}, prefork pool of 2", enqueue, start)


def bullmq_system(redis_url):
    def enqueue(count):
        from bench.noop_bullmq import enqueue

        asyncio.run(enqueue(redis_url, count))

    def start(log):
        return spawn(["-m", "bench.noop_bullmq"], log)

    return System(f"BullMQ {version('bullmq')} (Python), 1 process, concurrency 8", enqueue, start)


def spawn(arguments, log):
    """``python ARGUMENTS`` in its own process group, like ``start_worker``."""
    return subprocess.Popen([sys.executable, *arguments], cwd=ROOT, stdout=log, stderr=log, start_new_session=True)


def stop(process):
    stop_worker(process, timeout_s=STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # pool children the master left behind


def clear(client):
    """Deletes every key of the benchmark (never the rest of a shared Redis)."""
    keys = list(client.scan_iter(match=noop_app.KEY_PREFIX + "*", count=1000))
    for start in range(0, len(keys), 1000):
        client.unlink(*keys[start : start + 1000])


def wait_for_count(client, count, process, log_path, timeout_s):
    """Polls the counter until it reaches ``count``; (perf_counter, counter) at that poll."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = int(client.get(noop_app.COUNTER_KEY) or 0)
        if done >= count:
            return time.perf_counter(), done
        if process.poll() is not None or time.monotonic() > deadline:
            tail = Path(log_path).read_text(errors="replace")[-3000:]
            state = "exited" if process.poll() is not None else "timed out"
            raise RuntimeError(f"worker {state} at {done} of {count} messages; its log ends:\n{tail}")
        time.sleep(POLL_S)


def worker_cpu_s(processes):
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def redis_cpu_s(client):
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def measure(system, client, count, warmup, folder):
    """Runs ``count`` no-ops through ``system``: (jobs/s, worker CPU ms/job, Redis CPU ms/job)."""
    clear(client)
    system.enqueue(count)
    log_path = Path(folder) / "worker.log"
    with open(log_path, "wb") as log:
        process = system.start(log)
        try:
            wait_for_count(client, 1, process, log_path, BOOT_TIMEOUT_S)
            master = psutil.Process(process.pid)
            tree = [master, *master.children(recursive=True)]
            started, first = wait_for_count(client, warmup, process, log_path, BOOT_TIMEOUT_S)
            cpu, redis_cpu = worker_cpu_s(tree), redis_cpu_s(client)
            # generous: even a slow system finishes well within a few ms a message
            ended, last = wait_for_count(client, count, process, log_path, 30 + count * 0.005)
            cpu, redis_cpu = worker_cpu_s(tree) - cpu, redis_cpu_s(client) - redis_cpu
        finally:
            stop(process)
            clear(client)
    jobs = last - first
    return jobs / (ended - started), cpu * 1000 / jobs, redis_cpu * 1000 / jobs


def migrated_database(folder):
    from models import bind_database, migrate_schema

    url = f"sqlite:///{Path(folder) / 'bench.db'}"
    bind_database(url)
    migrate_schema()
    return url


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="no-op messages a system (N)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of every system; the best counts")
    parser.add_argument("--warmup", type=float, default=0.1, help="share of N done before the clock starts")
    parser.add_argument(
        "--without",
        nargs="+",
        default=[],
        metavar="MIDDLEWARE",
        help="also run the full stack without each of these middleware classes, one row each",
    )
    parser.add_argument(
        "--others",
        nargs="*",
        choices=["celery", "bullmq"],
        default=["celery", "bullmq"],
        help="the other systems to run when installed; none for the two Dramatiq rows only",
    )
    args = parser.parse_args()
    count, warmup = args.messages, max(1, int(args.messages * args.warmup))
    with tempfile.TemporaryDirectory() as folder, redis_for_bench() as redis_url:
        os.environ.update(
            REDIS_URL=redis_url,
            BROKER_URL=redis_url,
            DATABASE_URL=migrated_database(folder),
            MEDIA_ROOT=str(Path(folder) / "media"),
            IMAGEPIPE_EVENTS_STREAM=noop_app.KEY_PREFIX + "events",
            SENTRY_DSN="",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        systems = [dramatiq_system(redis_url, "bare"), dramatiq_system(redis_url, "full")]
        systems += [dramatiq_system(redis_url, "full", [name]) for name in args.without]
        missing = [name for name in args.others if importlib.util.find_spec(name) is None]
        if "celery" in args.others and "celery" not in missing:
            systems.append(celery_system())
        if "bullmq" in args.others and "bullmq" not in missing:
            systems.append(bullmq_system(redis_url))
        client = redis.Redis.from_url(redis_url)
        runs = {system.label: [] for system in systems}
        for _ in range(args.rounds):  # interleaved, so a busy moment of the machine hits every system
            for system in systems:
                runs[system.label].append(measure(system, client, count, warmup, folder))
    best = {label: max(results) for label, results in runs.items()}  # the least disturbed run: most jobs/s
    baseline = best[systems[0].label][0]
    rows = [
        [label, round(jobs_per_s), f"{worker_ms:.3f}", f"{redis_ms:.3f}", round(jobs_per_s / baseline, 3)]
        for label, (jobs_per_s, worker_ms, redis_ms) in best.items()
    ]
    title = f"N = {count} no-op messages a system, measured over the last {count - warmup}, best of {args.rounds}"
    headers = ["system", "jobs/s", "worker CPU ms/job", "Redis CPU ms/job", "ratio to bare Dramatiq"]
    print_table(title, headers, rows)
    if missing:
        print(f"\n{' and '.join(missing)} not installed (pip install -e '.[bench]'): those rows were skipped.")


if __name__ == "__main__":
    main()
