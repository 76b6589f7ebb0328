"""``imagepipe queues``: what waits in each queue, what each worker holds, which are stale."""

import json
import sys
import time

from imagepipe.queues import broker_kind, connect, read_all
from models import bind_database

from .table import human_bytes, render_table

NAME = "queues"
HELP = "per queue the messages ready, delayed, in flight and dead, and the workers"
WATCH_INTERVAL_S = 2.0
#: ANSI: cursor home, then clear the screen (what `watch` does between redraws).
CLEAR_SCREEN = "\033[H\033[2J"


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="one JSON object: {queues: ..., workers: ...}")
    parser.add_argument("--watch", action="store_true", help=f"redraw every {WATCH_INTERVAL_S:.0f} s until Ctrl-C")


def run(args, settings):
    bind_database(settings.database_url)
    health_client = connect(settings.redis_url)
    same = broker_kind(settings) == "rabbitmq" or settings.broker_url == settings.redis_url
    broker_client = health_client if same else connect(settings.broker_url)
    try:
        while True:
            snapshot = read_all(settings, broker_client=broker_client, health_client=health_client)
            if args.json:
                print(json.dumps(snapshot), flush=True)
            else:
                print((CLEAR_SCREEN if args.watch and sys.stdout.isatty() else "") + render(snapshot), flush=True)
            if not args.watch:
                return 0
            time.sleep(WATCH_INTERVAL_S)
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how one stops watching
    finally:
        broker_client.close()
        health_client.close()


def render(snapshot):
    """The two tables a person reads: queues, then workers."""
    rows = [
        [
            queue["name"],
            queue["ready"],
            queue["delayed"],
            "n/a" if queue["in_flight"] is None else queue["in_flight"],
            queue["broker_dead"],
            queue["dead_letters"],
            _holders(queue["in_flight_by_worker"]),
        ]
        for queue in snapshot["queues"]
    ]
    headers = ["queue", "ready", "delayed", "in flight", "broker dead", "dead letters", "held by"]
    lines = [f"broker: {snapshot['broker']}", render_table(headers, rows), ""]
    workers = snapshot["workers"]
    if workers:
        headers = ["worker", "state", "uptime", "active", "in flight", "processed", "failed", "memory", "last seen",
                   "queues"]  # fmt: skip
        rows = [
            [
                w["name"],
                "STALE" if w["stale"] else "ok",
                f"{w['uptime_s']:.0f}s",
                w["active"],
                "n/a" if w["in_flight"] is None else w["in_flight"],
                w["processed"],
                w["failed"],
                human_bytes(w["rss_bytes"]),
                f"{w['age_s']:.0f}s ago",
                ",".join(w["queues"]),
            ]
            for w in workers
        ]
        lines.append(render_table(headers, rows))
    stale = sum(w["stale"] for w in workers)
    lines.append(f"{len(workers) - stale} healthy worker(s), {stale} stale")
    return "\n".join(lines)


def _holders(holders):
    if holders is None:
        return "n/a (AMQP does not tell)"
    return ", ".join(
        f"{h['worker'] or h['broker_id'][:8]}{'' if h['alive'] else ' (dead)'}: {h['in_flight']}" for h in holders
    )
