"""``imagepipe health``: which workers are alive, and what they have done."""

import json

import redis

from middleware.health import read_workers

from .table import render_table

NAME = "health"
HELP = "list the workers' heartbeats; exit code 1 when no worker is healthy"


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="one JSON object per worker, one per line")


def run(args, settings):
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    workers = read_workers(client)
    if args.json:
        for worker in workers:
            print(json.dumps(worker))
    elif workers:
        headers = ["worker", "state", "uptime", "active", "processed", "failed", "last seen", "queues"]
        rows = [
            [
                w["name"],
                "STALE" if w["stale"] else "ok",
                f"{w['uptime_s']:.0f}s",
                w["active"],
                w["processed"],
                w["failed"],
                f"{w['age_s']:.0f}s ago",
                ",".join(w["queues"]),
            ]
            for w in workers
        ]
        print(render_table(headers, rows))
    healthy = sum(not w["stale"] for w in workers)
    if not args.json:
        print(f"{healthy} healthy worker(s), {len(workers) - healthy} stale")
    return 0 if healthy else 1
