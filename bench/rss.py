"""Peak resident memory of one worker process on a 48 MP JPEG (goal <= 300 MB).

Runs `dramatiq actors --processes 1 --threads 1`, pushes one 48 MP photo through every step,
and reads the high-water mark (VmHWM in /proc) of the worker process before and after, and of
the isolation children where its image work runs.
"""

import argparse
import tempfile
import time
from pathlib import Path

import psutil
from common import photo_file, pipeline_worker, print_table, redis_for_bench, submit_and_wait


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def worker_child(master, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children = psutil.Process(master.pid).children()
        if children:
            return children[0].pid
        time.sleep(0.1)
    raise RuntimeError("the worker process did not start")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=48)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        small = photo_file(Path(folder) / "in", 1, seed=1)
        big = photo_file(Path(folder) / "in", args.megapixels, seed=2)
        with redis_for_bench() as redis_url, pipeline_worker(folder, redis_url, processes=1, threads=1) as master:
            child = worker_child(master)
            submit_and_wait([small])
            booted = peak_rss_mb(child)
            seconds, _ = submit_and_wait([big])
            peak = peak_rss_mb(child)
            # The image work runs in the worker's isolation children (imagepipe/isolation.py),
            # which stay alive between calls: the largest of them is the decode's real peak.
            helpers = psutil.Process(child).children(recursive=True)
            helper_peak = max((peak_rss_mb(p.pid) for p in helpers), default=0)
    print_table(
        f"Peak RSS of one worker process (1 thread) on a {args.megapixels:g} MP JPEG",
        ["measure", "value"],
        [
            ["after boot + a 1 MP photo (MB)", round(booted)],
            [f"after the {args.megapixels:g} MP photo (MB)", round(peak)],
            ["its largest isolation child or forkserver (MB)", round(helper_peak)],
            ["seconds for the photo, all steps", round(seconds, 1)],
        ],
    )
    return peak


if __name__ == "__main__":
    main()
