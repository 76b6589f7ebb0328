"""Running ``dramatiq actors`` as a child process: for the demo, the tests and the benchmarks."""

import os
import signal
import subprocess
import sys

DEFAULT_STOP_TIMEOUT_S = 30


def start_worker(env=None, *, processes=2, threads=2, module="actors", extra_args=(), **popen_options):
    """Start ``dramatiq actors`` in its own process group (so a test can signal the whole group)."""
    command = [
        sys.executable,
        "-m",
        "dramatiq",
        module,
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        *extra_args,
    ]
    # As a user types it: the stack sets the poll interval itself (middleware/poll_interval.py).
    environment = {**os.environ, **(env or {})}
    return subprocess.Popen(command, env=environment, start_new_session=True, **popen_options)


def stop_worker(process, timeout_s=DEFAULT_STOP_TIMEOUT_S):
    """SIGTERM the worker's master and wait; kill the group if it overruns. Returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode
