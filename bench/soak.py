"""Hours of work: continuous uploads into `dramatiq actors --processes 2 --threads 2`.

For ``--minutes`` (30 by default) a feeder keeps ``--in-flight`` images unended, uploading a
realistic mix in turn: every good file of the corpus (camera JPEGs up to 8 MP, 1800x1200
photos in all orientations, PNG, WebP, GIF, TIFF and AVIF) and synthetic 12 MP photos. Every
``--interval`` seconds it samples:

* RSS, open file descriptors and threads of the master, of each worker process and of their
  isolation helpers (the forkserver and the children it forks: the largest one's RSS, and the
  count);
* Redis (a private server, so nothing else counts): used memory, keys, the events stream's
  length, the broker's ack sets, the event markers, keys without an expiry;
* images completed.

After ``--warmup`` minutes the first window (``--window`` minutes) is compared with the last:
RSS growth of each process (goal < 10 %), fds and threads (flat), Redis memory (bounded), and
throughput (the last window within 10 % of the first). The chart (RSS, throughput and Redis
memory over time) goes to ``--chart``.
"""

import argparse
import itertools
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from common import CORPUS, photo_file, pipeline_worker, print_table
from mutations import good_files

from imagepipe.redis_server import PrivateRedis

CHART = Path(__file__).resolve().parent / "figures" / "soak.png"


@dataclass
class Sample:
    at_s: float
    rss_mb: dict  # series name -> MB
    fds: int
    threads: int
    helpers: int
    completed: int
    redis: dict = field(default_factory=dict)


def uploads(folder):
    """An endless, fixed-order mix of sources to upload."""
    mix = [*good_files(CORPUS), *(photo_file(Path(folder) / "in", 12, seed=seed) for seed in range(3))]
    return itertools.cycle(mix)


def feed(stop, sources, in_flight):
    """Keep ``in_flight`` images unended until ``stop`` is set."""
    from imagepipe.cli.process import enqueue
    from models import Image

    while not stop.is_set():
        unended = Image.select().where(Image.status.in_([Image.QUEUED, Image.PROCESSING])).count()
        if unended < in_flight:
            enqueue([next(sources) for _ in range(in_flight - unended)])
        stop.wait(0.25)


def process_sample(master_pid):
    """RSS (MB) by series, fds and threads of the whole tree, and the helpers' count."""
    master = psutil.Process(master_pid)
    workers = sorted(master.children(), key=lambda p: p.pid)
    rss, fds, threads, helper_rss = {"master": master.memory_info().rss / 2**20}, 0, 0, []
    for process in [master, *workers]:
        fds, threads = fds + process.num_fds(), threads + process.num_threads()
    for number, worker in enumerate(workers, 1):
        rss[f"worker process {number}"] = worker.memory_info().rss / 2**20
        for helper in worker.children(recursive=True):
            try:
                helper_rss.append(helper.memory_info().rss / 2**20)
                fds, threads = fds + helper.num_fds(), threads + helper.num_threads()
            except psutil.NoSuchProcess:  # a child replaced after its calls
                continue
    rss["largest isolation helper"] = max(helper_rss, default=0.0)
    return rss, fds, threads, len(helper_rss)


def redis_sample(client):
    def count(pattern):
        return sum(1 for _ in client.scan_iter(match=pattern, count=1000))

    acks = sum(client.scard(key) for key in client.scan_iter(match="dramatiq:__acks__*", count=1000))
    no_expiry = sum(1 for key in client.scan_iter(count=1000) if client.ttl(key) == -1)
    return {
        "used memory MB": client.info("memory")["used_memory"] / 2**20,
        "keys": client.dbsize(),
        "events stream entries": client.xlen("imagepipe:events"),
        "messages in ack sets": acks,
        "event markers": count("imagepipe:events:sent:*"),
        "keys without expiry": no_expiry,
    }


def soak(args, folder, server):
    import redis

    from models import Image

    samples, stop = [], threading.Event()
    client = redis.Redis.from_url(server.url)
    with pipeline_worker(folder, server.url, processes=2, threads=2) as worker:
        feeder = threading.Thread(target=feed, args=(stop, uploads(folder), args.in_flight), daemon=True)
        started = time.monotonic()
        feeder.start()
        try:
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                rss, fds, threads, helpers = process_sample(worker.pid)
                completed = Image.select().where(Image.status == Image.COMPLETED).count()
                samples.append(Sample(elapsed, rss, fds, threads, helpers, completed, redis_sample(client)))
                print(f"{elapsed / 60:5.1f} min: {completed} completed, RSS {rss}", file=sys.stderr, flush=True)
                time.sleep(args.interval)
        finally:
            stop.set()
            feeder.join()
    return samples


def window(samples, start_s, end_s):
    return [s for s in samples if start_s <= s.at_s < end_s]


def throughput(samples):
    """Images completed per minute between the first and last sample of ``samples``."""
    return (samples[-1].completed - samples[0].completed) / (samples[-1].at_s - samples[0].at_s) * 60


def report(args, samples):
    warmup_s, window_s, end_s = args.warmup * 60, args.window * 60, samples[-1].at_s
    first, last = window(samples, warmup_s, warmup_s + window_s), window(samples, end_s - window_s, end_s + 1)
    rows = []
    for series in samples[-1].rss_mb:
        before = statistics.mean(s.rss_mb.get(series, 0) for s in first)
        after = statistics.mean(s.rss_mb.get(series, 0) for s in last)
        rows.append([f"RSS MB, {series}", round(before, 1), round(after, 1), f"{(after / before - 1) * 100:+.1f} %"])
    for name, value in (("open fds", "fds"), ("threads", "threads"), ("isolation helpers", "helpers")):
        before, after = (statistics.mean(getattr(s, value) for s in part) for part in (first, last))
        rows.append([f"{name}, whole tree", round(before, 1), round(after, 1), f"{after - before:+.1f}"])
    for key in samples[-1].redis:
        before, after = (statistics.mean(s.redis[key] for s in part) for part in (first, last))
        rows.append([f"Redis: {key}", round(before, 2), round(after, 2), f"{after - before:+.2f}"])
    rate_first, rate_last = throughput(first), throughput(last)
    rows.append(
        ["images/min", round(rate_first, 1), round(rate_last, 1), f"{(rate_last / rate_first - 1) * 100:+.1f} %"]
    )
    print_table(
        f"Soak: {args.minutes:g} min of uploads ({samples[-1].completed} images completed) into dramatiq actors "
        f"--processes 2 --threads 2, {args.in_flight} in flight; minutes {args.warmup:g}-"
        f"{args.warmup + args.window:g} against the last {args.window:g} (means of {args.interval:g} s samples)",
        ["measure", "first window", "last window", "change"],
        rows,
    )


def chart(samples, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.at_s / 60 for s in samples]
    figure, (rss_axes, rate_axes, redis_axes) = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    for series in samples[-1].rss_mb:
        rss_axes.plot(minutes, [s.rss_mb.get(series, 0) for s in samples], label=series)
    rss_axes.set_ylabel("RSS (MB)")
    rss_axes.set_ylim(bottom=0)
    rss_axes.legend(loc="lower right", fontsize="small")
    rates = [(s.at_s / 60, throughput(window(samples, s.at_s - 60, s.at_s + 0.001))) for s in samples if s.at_s >= 60]
    rate_axes.plot(*zip(*rates, strict=True), color="tab:green")
    rate_axes.set_ylabel("images / min\n(last minute)")
    rate_axes.set_ylim(bottom=0)
    redis_axes.plot(minutes, [s.redis["used memory MB"] for s in samples], color="tab:red")
    redis_axes.set_ylabel("Redis used memory (MB)")
    redis_axes.set_ylim(bottom=0)
    redis_axes.set_xlabel("minutes")
    figure.suptitle("imagepipe soak: dramatiq actors --processes 2 --threads 2")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    print(f"\nchart: {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--window", type=float, default=5)
    parser.add_argument("--interval", type=float, default=10, help="seconds between samples")
    parser.add_argument("--in-flight", type=int, default=12)
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, PrivateRedis() as server:
        samples = soak(args, folder, server)
    report(args, samples)
    chart(samples, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
