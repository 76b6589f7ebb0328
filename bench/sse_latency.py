"""Event latency from a worker's publish to SSE clients of the web app, against reading Redis directly.

A real ``dramatiq bench.noop_app:setup`` worker (imagepipe's full middleware stack, so the
EventPublisher's background writer with its linger and Lua batch append is included) runs
no-op messages sent at a steady rate; each one publishes ``job-active`` and ``job-completed``
to a benchmark-only stream. Two readers of that stream, in the same run:

* the baseline: one client of this process reading the stream with ``XREAD BLOCK``
  (redis.asyncio), no web server;
* ``GET /events`` of a real ``uvicorn web.app:app`` (its own process), read by ``--clients``
  concurrent SSE clients in this process: raw asyncio sockets that parse the chunked SSE
  response by hand, so the client adds no more than one read and a JSON decode.

An event's latency is the client's ``time.time()`` when the chunk holding it arrives minus the
event's ``ts`` (``time.time()`` in the worker when it was published; same host, same clock).
The table shows p50/p90/p99/max over every (event, client) pair of the measured window, and
the events a client never got (must be 0). Goal of the issue: p99 < 50 ms with 20 clients.
"""

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import redis
import redis.asyncio
from common import BOOT_TIMEOUT_S, ROOT, STOP_TIMEOUT_S, print_table, redis_for_bench, web_server

from bench import noop_app
from imagepipe.event_stream import decode, newest_id
from imagepipe.worker_process import start_worker, stop_worker

STREAM = noop_app.KEY_PREFIX + "sse:events"
#: After the last message ran, how long the readers may take to get its events.
DRAIN_S = 2.0


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def migrated_database(folder):
    from models import bind_database, migrate_schema

    url = f"sqlite:///{Path(folder) / 'bench.db'}"
    bind_database(url)
    migrate_schema()
    return url


@contextlib.contextmanager
def noop_worker(log):
    env = {noop_app.STACK_ENV: "full", noop_app.WITHOUT_ENV: ""}
    worker = start_worker(env, processes=1, threads=2, module="bench.noop_app:setup", cwd=ROOT, stdout=log, stderr=log)
    try:
        yield worker
    finally:
        stop_worker(worker, timeout_s=STOP_TIMEOUT_S)


async def sse_client(port, received, connected):
    """Reads ``GET /events`` until cancelled; ``received[stream id] = (arrival, event ts)``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"GET /events answered {status!r}")
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            chunked |= line.lower().replace(b" ", b"") == b"transfer-encoding:chunked\r\n"
        buffer = b""
        while True:
            if chunked:
                size = int((await reader.readline()).split(b";")[0], 16)
                data = (await reader.readexactly(size + 2))[:-2]
                if size == 0:
                    return
            else:
                data = await reader.read(65536)
                if not data:
                    return
            arrival = time.time()
            *messages, buffer = (buffer + data).split(b"\n\n")
            for message in messages:
                fields = dict(line.split(b": ", 1) for line in message.split(b"\n") if b": " in line)
                if b"id" in fields:
                    received[fields[b"id"].decode()] = (arrival, json.loads(fields[b"data"])["ts"])
                elif message.startswith(b": connected") or b"\n: connected" in message:
                    connected.release()
    finally:
        writer.close()


async def redis_client(redis_url, last_id, received):
    """The baseline: XREAD BLOCK on the stream itself, from ``last_id`` on, until cancelled."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        while True:
            for _, entries in await client.xread({STREAM: last_id}, count=100, block=1000) or ():
                arrival = time.time()
                for entry_id, fields in entries:
                    last_id = entry_id.decode()
                    received[last_id] = (arrival, decode(fields)["ts"])
    finally:
        await client.aclose()


def send_steadily(actor, count, rate):
    """``count`` messages, one every 1/``rate`` s on a fixed schedule (no drift)."""
    started = time.monotonic()
    for n in range(count):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        actor.send(n)


def wait_until(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


async def run(args, redis_url, port):
    """Connects the readers, sends the messages; ({reader: [received dicts]}, measured stream ids)."""
    client = redis.Redis.from_url(redis_url)
    _, actor = noop_app.declare("bare", redis_url)  # only the worker publishes events
    sse = [{} for _ in range(args.clients)]
    direct = {}
    connected = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(sse_client(port, received, connected)) for received in sse]
    tasks.append(asyncio.create_task(redis_client(redis_url, newest_id(client, STREAM), direct)))
    try:
        for _ in range(args.clients):  # each stream has taken its start id: it misses nothing after
            await asyncio.wait_for(connected.acquire(), BOOT_TIMEOUT_S)
        # warm-up: the worker has booted and the writer, the server's reads and every client are busy once
        actor.send(-1)
        await asyncio.to_thread(
            wait_until, lambda: int(client.get(noop_app.COUNTER_KEY) or 0) >= 1, BOOT_TIMEOUT_S, "the worker"
        )
        await asyncio.sleep(1.0)
        start_id = newest_id(client, STREAM)
        await asyncio.to_thread(send_steadily, actor, args.messages, args.rate)
        done = args.messages + 1
        await asyncio.to_thread(
            wait_until, lambda: int(client.get(noop_app.COUNTER_KEY) or 0) >= done, 30, "the messages"
        )
        await asyncio.sleep(DRAIN_S)
        for task in tasks:
            if task.done():
                task.result()  # a reader that failed: say why
        expected = [entry_id.decode() for entry_id, _ in client.xrange(STREAM, f"({start_id}", "+")]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        actor.broker.close()
    return {"sse": sse, "direct": [direct]}, expected


def percentile(ordered, share):
    """Nearest-rank percentile of a sorted list."""
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def summarise(label, readers, expected):
    latencies, lost = [], 0
    for received in readers:
        for entry_id in expected:
            if entry_id in received:
                arrival, published = received[entry_id]
                latencies.append((arrival - published) * 1000)
            else:
                lost += 1
    latencies.sort()
    figures = [f"{percentile(latencies, share):.1f}" for share in (0.5, 0.9, 0.99)] if latencies else ["-"] * 3
    return [label, len(readers), len(latencies), *figures, f"{latencies[-1]:.1f}" if latencies else "-", lost]


def fan_out_spread(readers, expected):
    """For each event all readers got: last arrival minus first, in ms (p50, p99)."""
    spreads = sorted(
        (max(arrivals) - min(arrivals)) * 1000
        for arrivals in ([received[i][0] for received in readers if i in received] for i in expected)
        if len(arrivals) == len(readers)
    )
    return (percentile(spreads, 0.5), percentile(spreads, 0.99)) if spreads else (float("nan"),) * 2


def clear(client):
    """Deletes this benchmark's keys (its stream, the no-op counter and queue), nothing else."""
    keys = [STREAM, noop_app.COUNTER_KEY, *client.scan_iter(match=noop_app.NAMESPACE + "*", count=1000)]
    client.unlink(*keys)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent SSE clients of GET /events")
    parser.add_argument("--rate", type=float, default=25, help="no-op messages a second (two events each)")
    parser.add_argument("--seconds", type=float, default=10, help="how long messages are sent")
    args = parser.parse_args()
    args.messages = round(args.rate * args.seconds)
    with tempfile.TemporaryDirectory() as folder, redis_for_bench() as redis_url:
        os.environ.pop("IMAGEPIPE_API_TOKEN", None)
        os.environ.update(
            REDIS_URL=redis_url,
            BROKER_URL=redis_url,
            DATABASE_URL=migrated_database(folder),
            MEDIA_ROOT=str(Path(folder) / "media"),
            IMAGEPIPE_EVENTS_STREAM=STREAM,
            # every reader comes from one address: one client, which web/limits.py caps at 10 streams
            IMAGEPIPE_WEB_MAX_STREAMS_PER_CLIENT=str(args.clients),
            SENTRY_DSN="",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        client = redis.Redis.from_url(redis_url)
        clear(client)
        port = free_port()
        try:
            with open(Path(folder) / "processes.log", "wb") as log:
                try:
                    with web_server(port, log), noop_worker(log):
                        readers, expected = asyncio.run(run(args, redis_url, port))
                        load = os.getloadavg()
                except Exception:
                    log.flush()
                    print(Path(log.name).read_text(errors="replace")[-3000:], file=sys.stderr)
                    raise
        finally:
            clear(client)
    if len(expected) != 2 * args.messages:
        print(f"\nnote: {len(expected)} events in the measured window, {2 * args.messages} expected")
    rows = [
        summarise("Redis XREAD BLOCK, no web server (baseline)", readers["direct"], expected),
        summarise("GET /events, uvicorn web.app:app, raw-socket SSE clients", readers["sse"], expected),
    ]
    title = (
        f"{len(expected)} events ({args.rate * 2:g}/s for {args.seconds:g} s) from a full-stack no-op worker, "
        "latency publish → client in ms"
    )
    headers = ["reader", "clients", "deliveries", "p50", "p90", "p99", "max", "lost"]
    print_table(title, headers, rows)
    spread = fan_out_spread(readers["sse"], expected)
    print(
        f"\nFan-out: the last SSE client got an event {spread[0]:.1f} ms (p50) / {spread[1]:.1f} ms (p99) "
        f"after the first. Load average over the run: {load[0]:.2f} (1 min) on {os.cpu_count()} CPUs."
    )


if __name__ == "__main__":
    main()
