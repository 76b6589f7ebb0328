"""What the operations view's polling costs Redis: its CPU with no tab open, then with one.

A private redis-server (so nothing else on the machine adds to its CPU), one idle
`dramatiq actors` worker, the web app served by uvicorn in this process, and Debian's
Chromium on ``/#operations``, which polls the queue, worker, activity and rate-limit routes
every 5 s and keeps ``GET /events`` open. Redis CPU is ``INFO cpu`` (user + system) over
``--seconds`` of wall clock, first without the tab, then with it.

    .venv/bin/python bench/page_polling.py --seconds 60
"""

import argparse
import os
import tempfile
import threading
import time

from common import pipeline_worker, print_table

from imagepipe.redis_server import PrivateRedis, free_port

CHROMIUM = os.environ.get("IMAGEPIPE_CHROMIUM", "/usr/bin/chromium")


def redis_cpu_share(client, seconds):
    """Redis's CPU seconds per wall second over ``seconds``, and the commands it ran."""
    info, stats = client.info("cpu"), client.info("stats")
    started = time.monotonic()
    time.sleep(seconds)
    after, stats_after = client.info("cpu"), client.info("stats")
    cpu = sum(after[key] - info[key] for key in ("used_cpu_user", "used_cpu_sys"))
    commands = stats_after["total_commands_processed"] - stats["total_commands_processed"]
    return cpu / (time.monotonic() - started), commands


def serve(settings):
    import uvicorn

    from web.app import create_app

    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=free_port(), log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{config.port}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    import redis
    from playwright.sync_api import sync_playwright

    from imagepipe.settings import get_settings

    with PrivateRedis() as redis_server, tempfile.TemporaryDirectory() as folder:
        with pipeline_worker(folder, redis_server.url, processes=1, threads=2):
            client = redis.Redis.from_url(redis_server.url)
            server, url = serve(get_settings())
            time.sleep(5)  # the worker's boot and first heartbeat
            idle, idle_commands = redis_cpu_share(client, args.seconds)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page()
                page.goto(f"{url}/#operations")
                page.wait_for_selector("#workers tbody tr")
                polled, polled_commands = redis_cpu_share(client, args.seconds)
                browser.close()
            server.should_exit = True
    rows = [
        ["no tab", f"{100 * idle:.3f} %", idle_commands],
        ["#operations open", f"{100 * polled:.3f} %", polled_commands],
        ["added by the page", f"{100 * (polled - idle):+.3f} %", polled_commands - idle_commands],
    ]
    print_table(f"Redis CPU (share of one core) over {args.seconds:.0f} s", ["", "Redis CPU", "commands"], rows)


if __name__ == "__main__":
    main()
