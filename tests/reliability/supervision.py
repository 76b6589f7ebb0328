"""Running `dramatiq` as a platform does: restarted whenever it exits, for the fault tests."""

import os
import signal
import threading
import time

from imagepipe.cli.process import wait_for
from imagepipe.worker_process import stop_worker
from tests.helpers import send_with_cli, start_test_worker

#: Faster than the 10 s / 2 % defaults, so that several kill/redelivery cycles fit a test's
#: budget; IMAGEPIPE_TEST_BROKER_DEFAULTS=1 measures with the production defaults instead.
FAST_BROKER_ENV = {"IMAGEPIPE_BROKER_HEARTBEAT_TIMEOUT_MS": "3000", "IMAGEPIPE_BROKER_MAINTENANCE_CHANCE": "100000"}


def broker_env():
    """The broker settings the fault tests run with (see FAST_BROKER_ENV)."""
    return {} if os.environ.get("IMAGEPIPE_TEST_BROKER_DEFAULTS") else dict(FAST_BROKER_ENV)


def child_pids(pid):
    """The direct children of process ``pid`` (empty once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except FileNotFoundError:
        return []


def alive(pid):
    """Whether process ``pid`` runs (a zombie has exited)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_for_exit(pids, timeout_s):
    """Whether every process of ``pids`` ends within ``timeout_s``; SIGKILLs those that do not,
    so that none can take the messages of a later test."""
    deadline = time.monotonic() + timeout_s
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in pids if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return not left


class Supervisor:
    """Restarts `dramatiq tests.worker_app` whenever it exits, as a platform restarts a crashed dyno."""

    def __init__(self, env, *, processes=1, threads=1, extra_args=()):
        self.env = env
        self.options = {"processes": processes, "threads": threads, "extra_args": extra_args}
        self.masters = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    @property
    def master(self):
        """The main process started last."""
        return self.masters[-1] if self.masters else None

    def _run(self):
        while not self._stopping.is_set():
            master = start_test_worker(self.env, **self.options)
            self.masters.append(master)
            while master.poll() is None and not self._stopping.is_set():
                time.sleep(0.05)

    def stop(self):
        self._stopping.set()
        self._thread.join(timeout=10)
        for master in self.masters:
            stop_worker(master)


def sent_across_restarts(batches, restarts, env, probe_timeout_s=60):
    """For each batch of photos and its restart: send the batch with `imagepipe process`, let
    some of it start, restart the service (a callable), then time a new image to completion.
    Returns the ids sent, probes included, and the seconds from each restart to its probe's end.
    """
    sent, resumed_after = [], []
    for round_number, (batch, restart) in enumerate(zip(batches, restarts, strict=True)):
        sent += send_with_cli(batch, env)
        time.sleep(0.5)  # some of them running, some throttled in the delay queue
        restart()
        back = time.monotonic()
        probe = send_with_cli(batch[:1], env)
        assert wait_for(probe, probe_timeout_s, report=lambda line: None), (
            f"no image completed after restart {round_number}"
        )
        resumed_after.append(time.monotonic() - back)
        sent += probe
    return sent, resumed_after
