"""Object storage: pipeline throughput with S3 against local files, and the web process's memory
while clients upload large files directly to the bucket or through the app.

Both against a private SeaweedFS on loopback (``weed mini``, a real S3 server that checks
signatures), in the same run as their baselines:

* throughput: the same photos through the same `dramatiq actors --processes 2 --threads 2`,
  once with local storage and once with S3 storage, back to back in each of ``--rounds``
  rounds; the ratio is S3's images/s over local's in each round, and their median (goal: at
  least 0.90). CPU per image counts the worker's processes and the S3 server's.
* web RSS: a uvicorn web process (no worker: only the upload is measured); ``--clients``
  clients at once each upload a ``--upload-mb`` MB file, first directly (POST /uploads, the
  file to the bucket, POST /images), then as multipart through the app. Peak RSS (VmHWM,
  reset before each phase) against the idle process.
"""

import argparse
import concurrent.futures
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from common import photo_file, pipeline_worker, print_table, redis_for_bench, submit_and_wait

from imagepipe.redis_server import free_port
from imagepipe.s3_server import PrivateS3
from imagepipe.samples import make_photo


def throughput(folder, redis_url, server, args):
    paths = [photo_file(Path(folder) / "in", args.megapixels, seed=s) for s in range(args.images)]
    _empty_queues()  # nothing left by an earlier run may reach these workers
    runs = {"local": [], "s3": []}
    for round_number in range(args.rounds):
        for name, storage_url in (("local", None), ("s3", f"s3://{server.bucket}/throughput-{round_number}")):
            run = Path(folder) / f"{name}-{round_number}"
            with pipeline_worker(run, redis_url, processes=2, threads=2, storage_url=storage_url) as worker:
                submit_and_wait(paths[:1])  # booted and warm
                processes = [psutil.Process(worker.pid), psutil.Process(server.process.pid)]
                cpu = _cpu_seconds(processes)
                seconds, _ = submit_and_wait(paths)
                runs[name].append((seconds, (_cpu_seconds(processes) - cpu) / args.images))
    rows = []
    for name, measured in runs.items():
        seconds, cpu = statistics.median(s for s, _ in measured), statistics.median(c for _, c in measured)
        rows.append([name, round(seconds, 2), round(args.images / seconds, 2), round(cpu * 1000)])
    ratios = [local[0] / s3[0] for local, s3 in zip(runs["local"], runs["s3"], strict=True)]
    rows.append(["ratio S3 / local (images/s), median of the rounds", "", round(statistics.median(ratios), 3), ""])
    print_table(
        f"{args.images} photos of {args.megapixels:g} MP through dramatiq actors --processes 2 --threads 2, "
        f"median of {args.rounds} rounds (local, then S3, each round); ratios by round: "
        + ", ".join(f"{ratio:.3f}" for ratio in ratios),
        ["storage", "seconds", "images/s", "CPU ms/image (workers + weed)"],
        rows,
    )
    return ratios


def _cpu_seconds(processes):
    """User + system CPU of these processes and all their descendants, alive or reaped."""
    total = 0.0
    for process in processes:
        for each in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = each.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
    return total


def big_jpeg(megabytes):
    """A real JPEG padded after its end marker to ``megabytes`` MB: the app sniffs its header."""
    buffer = io.BytesIO()
    make_photo(800, 600, seed=1).save(buffer, "JPEG")
    return buffer.getvalue() + os.urandom(int(megabytes * 1_000_000) - buffer.tell())


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def reset_peak(pid):
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # Linux: VmHWM := VmRSS


def web_rss(folder, redis_url, server, args):
    from models import bind_database, migrate_schema

    database_url = f"sqlite:///{Path(folder) / 'web.db'}"
    bind_database(database_url)
    migrate_schema()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "BROKER_URL": redis_url,
        "DATABASE_URL": database_url,
        "IMAGEPIPE_STORAGE_URL": f"s3://{server.bucket}/web-rss",
        "IMAGEPIPE_MAX_UPLOAD_BYTES": str(int((2 * args.upload_mb + 1) * 1_000_000)),
    }
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "web.app:app", "--host", "127.0.0.1", "--port", str(port)]
    web = subprocess.Popen([*command, "--log-level", "warning"], cwd=Path(__file__).resolve().parents[1], env=env)
    base = f"http://127.0.0.1:{port}"
    sizes = {"": big_jpeg(args.upload_mb), " (files twice as big)": big_jpeg(2 * args.upload_mb)}
    data = sizes[""]
    try:
        _wait_for(base)
        for _ in range(3):  # warm: first requests import and allocate what every request needs
            _direct(base, data[:200_000])
            _multipart(base, data[:200_000])
        rows = [["idle, warm", round(peak_rss_mb(web.pid), 1), "", ""]]
        # Every direct phase first: memory a multipart phase took is not given back to the OS.
        phases = [(f"{name}{size}", upload, body) for name, upload in UPLOADS for size, body in sizes.items()]
        for name, upload, body in phases:
            reset_peak(web.pid)
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
                codes = list(pool.map(upload, [base] * args.clients, [body] * args.clients))
            assert codes == [202] * args.clients, codes
            rows.append([name, round(peak_rss_mb(web.pid), 1), round(time.perf_counter() - started, 2), len(codes)])
    finally:
        web.terminate()
        web.wait(timeout=10)
        _empty_queues()  # no worker ran: the ingest messages of these uploads must not wait for one
    print_table(
        f"web process peak RSS, {args.clients} clients at once each uploading {args.upload_mb:g} MB (or twice that)",
        ["upload", "peak RSS MB", "seconds", "uploads"],
        rows,
    )


def _empty_queues():
    import actors

    actors.broker.flush_all()


def _wait_for(base):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/livez").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the web process did not start")


def _direct(base, data):
    with httpx.Client(base_url=base, timeout=120) as client:
        issued = client.post("/uploads", json={"name": "big.jpg", "content_type": "image/jpeg", "bytes": len(data)})
        form = issued.json()
        sent = httpx.post(
            form["upload"]["url"], data=form["upload"]["fields"], files={"file": ("big.jpg", data)}, timeout=120
        )
        assert sent.status_code == 204, sent.text
        return client.post("/images", json={"key": form["key"], "name": "big.jpg"}).status_code


def _multipart(base, data):
    with httpx.Client(base_url=base, timeout=120) as client:
        return client.post("/images", files={"file": ("big.jpg", data, "image/jpeg")}).status_code


UPLOADS = (("direct to the bucket", _direct), ("multipart through the app", _multipart))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--megapixels", type=float, default=12)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--upload-mb", type=float, default=20)
    parser.add_argument("--parts", nargs="+", choices=("throughput", "web"), default=("throughput", "web"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, redis_for_bench() as redis_url, PrivateS3() as server:
        os.environ.update(server.env)
        if "throughput" in args.parts:
            throughput(folder, redis_url, server, args)
        if "web" in args.parts:
            web_rss(folder, redis_url, server, args)


if __name__ == "__main__":
    main()
