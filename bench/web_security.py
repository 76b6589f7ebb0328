"""What the web app's security layers cost a request: authentication off, against a bearer
token (which asks Redis whether the address is held for failed authentications) and a session
cookie (an HMAC to verify), all behind the same-origin check, the body limits and the security
headers, on the Procfile's protocol (web.slow_clients).

Set-up: a SQLite database of ``--images`` completed images with two variants each, Redis as
REDIS_URL (or a private one). Per configuration, a fresh ``uvicorn web.app:app`` process is
asked ``GET /images/{id}`` and ``GET /images?page=1`` ``--requests`` times each by one
keep-alive httpx client, in ``--rounds`` rounds that alternate the configurations (a drift of
the machine then falls on all of them alike). p50 and p99 in ms, and each p50 as a ratio of
the same route's p50 with authentication off, measured in the same run.
"""

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import pipeline_environment, print_table, redis_for_bench, web_server

from imagepipe.redis_server import free_port

TOKEN = "bench-admin-token"
PROTOCOL = "web.slow_clients:HeaderTimeoutProtocol"
CONFIGURATIONS = ("authentication off", "bearer token", "session cookie")


def seed(count):
    from models import Image, Variant, database

    with database.atomic():
        Image.insert_many(
            [{"source": f"sources/b{i}/a.jpg", "original_name": "a.jpg", "status": Image.COMPLETED}
             for i in range(count)]
        ).execute()  # fmt: skip
        ids = [image.id for image in Image.select(Image.id)]
        Variant.insert_many(
            [{"image": i, "label": f"{w}w", "format": "webp", "width": w, "height": w, "bytes": 1000,
              "path": f"variants/{i}/{w}-0123456789ab.webp"} for i in ids for w in (640, 1024)]
        ).execute()  # fmt: skip
    return ids


def timed(client, urls, headers):
    times = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:200])
    return times


@contextlib.contextmanager
def server(configuration, log):
    os.environ.pop("IMAGEPIPE_API_TOKEN", None)
    if configuration != "authentication off":
        os.environ["IMAGEPIPE_API_TOKEN"] = TOKEN
    port = free_port()
    with web_server(port, log, http=PROTOCOL), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        headers = {}
        if configuration == "bearer token":
            headers = {"Authorization": f"Bearer {TOKEN}"}
        elif configuration == "session cookie":
            signed_in = client.post("/session", headers={"Authorization": f"Bearer {TOKEN}"})
            assert signed_in.status_code == 200, signed_in.text
        yield client, headers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=500, help="per route, configuration and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, redis_for_bench() as redis_url:
        pipeline_environment(folder, redis_url)
        ids = seed(args.images)
        routes = {
            "GET /images/{id}": [f"/images/{ids[i % len(ids)]}" for i in range(args.requests)],
            "GET /images?page=1": ["/images?page=1"] * args.requests,
        }
        samples = {(c, r): [] for c in CONFIGURATIONS for r in routes}
        with open(Path(folder) / "web.log", "w") as log:
            for _ in range(args.rounds):
                for configuration in CONFIGURATIONS:
                    with server(configuration, log) as (client, headers):
                        for route, urls in routes.items():
                            timed(client, urls[:20], headers)  # warm-up
                            samples[configuration, route] += timed(client, urls, headers)
    rows = []
    for route in routes:
        baseline = statistics.median(samples["authentication off", route])
        for configuration in CONFIGURATIONS:
            times = sorted(samples[configuration, route])
            p50, p99 = statistics.median(times), times[int(0.99 * (len(times) - 1))]
            rows.append([route, configuration, f"{p50:.2f}", f"{p99:.2f}", f"{p50 / baseline:.2f}"])
    print_table(
        f"Web security layers, {args.requests * args.rounds} requests a route and configuration",
        ["route", "configuration", "p50 ms", "p99 ms", "p50 vs off"],
        rows,
    )


if __name__ == "__main__":
    sys.exit(main())
