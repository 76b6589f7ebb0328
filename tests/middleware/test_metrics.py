"""Prometheus metrics from a real `dramatiq actors` worker: Dramatiq's and the image ones."""

import subprocess
import time
import urllib.request

import pytest

from imagepipe.redis_server import free_port
from imagepipe.samples import make_photo, save_jpeg
from imagepipe.worker_process import start_worker, stop_worker
from tests.helpers import finish, submit


def scrape(port, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.timeout(90)
def test_step_durations_failures_and_bytes_are_exported(redis_client, worker_env, storage, tmp_path, corpus):
    port = free_port()
    env = {
        **worker_env,
        "IMAGEPIPE_PROMETHEUS": "1",
        "dramatiq_prom_port": str(port),
        "dramatiq_prom_db": str(tmp_path / "prometheus"),
    }
    worker = start_worker(env, processes=2, threads=2, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        good = submit(storage, save_jpeg(make_photo(1200, 800, seed=4), tmp_path / "good.jpg"))
        bad = submit(storage, corpus / "bad" / "truncated_Canon_40D.jpg")
        finish([good, bad])
        metrics = scrape(port)
    finally:
        stop_worker(worker)

    assert 'imagepipe_step_duration_seconds_count{outcome="ok",step="variants"} 1.0' in metrics
    assert 'imagepipe_step_failures_total{reason="TruncatedImage",step="ingest"} 1.0' in metrics
    written = next(line for line in metrics.splitlines() if line.startswith("imagepipe_variant_bytes_total "))
    assert float(written.split()[1]) > 0
    assert "dramatiq_messages_total" in metrics
