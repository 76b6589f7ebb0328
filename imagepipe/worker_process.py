"""Running ``dramatiq actors`` as a child process: for the demo, the tests and the benchmarks."""

import os
import signal
import subprocess
import sys

DEFAULT_STOP_TIMEOUT_S = 30
#: Dramatiq polls an idle queue, and moves due delayed messages, at most this often (ms); its
#: default of 1000 makes a throttled or retried message up to two seconds late. Only the
#: environment can set it, as the CLI builds its Worker before importing the actors.
WORKER_TIMEOUT_ENV = {"dramatiq_worker_timeout": "100"}


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
    environment = {**WORKER_TIMEOUT_ENV, **os.environ, **(env or {})}
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
