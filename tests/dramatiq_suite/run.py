"""Dramatiq's own test suite, from the sdist of the installed Dramatiq, run against imagepipe.

Two runs: ``broker`` (imagepipe's ReconnectingRedisBroker with Dramatiq's default
middleware, for Dramatiq's Redis and worker tests) and ``stack`` (every broker with
imagepipe's whole middleware stack, for Dramatiq's tests of actors, retries, time limits,
callbacks, pipelines and groups). The sdist carries the test modules but not their
``conftest.py`` and ``common.py``: those are adapter_conftest.py and adapter_common.py here.
A private redis-server and SQLite database serve the run. Every test of these modules runs:
none differs on purpose today (README, "Dramatiq's own tests against imagepipe").

Usage: python -m tests.dramatiq_suite.run [pytest options]
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import dramatiq

from imagepipe.redis_server import PrivateRedis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: The test modules each run takes; the rest need memcached, gevent, RabbitMQ or the CLI's
#: own brokers, none of which is imagepipe's.
MODULES = {
    "broker": ["test_redis.py", "test_worker.py", "test_broker.py", "test_messages.py"],
    "stack": [
        "test_actors.py",
        "test_callbacks.py",
        "test_composition.py",
        "test_generic_actors.py",
        "test_worker.py",
        "test_redis.py",
    ],
}


def sdist_tests(folder):
    """The ``tests`` folder of the installed Dramatiq's sdist, with the adapter files in it."""
    version = dramatiq.__version__
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         f"dramatiq=={version}", "--dest", str(folder)],
        check=True,
    )  # fmt: skip
    with tarfile.open(Path(folder) / f"dramatiq-{version}.tar.gz") as archive:
        archive.extractall(folder, filter="data")
    tests = Path(folder) / f"dramatiq-{version}" / "tests"
    (tests / "__init__.py").touch()
    shutil.copy(HERE / "adapter_conftest.py", tests / "conftest.py")
    shutil.copy(HERE / "adapter_common.py", tests / "common.py")
    return tests


def run(tests, mode, redis_url, database_url, options):
    """pytest over the run's modules; its exit code."""
    environment = {
        "PYTHONPATH": str(ROOT),
        "IMAGEPIPE_SUITE_REDIS_URL": redis_url,
        "REDIS_URL": redis_url,
        "BROKER_URL": redis_url,
        "DATABASE_URL": database_url,
        **({"IMAGEPIPE_SUITE_STACK": "1"} if mode == "stack" else {}),
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               "-o", "addopts=", "-o", "filterwarnings=", "--rootdir", str(tests.parent),
               *options, *(f"tests/{module}" for module in MODULES[mode])]  # fmt: skip
    print(f"\n## Dramatiq {dramatiq.__version__}'s tests, {mode} run", flush=True)
    return subprocess.run(command, cwd=tests.parent, env={**_inherited(), **environment}).returncode


def _inherited():
    return {name: value for name, value in os.environ.items() if not name.startswith(("IMAGEPIPE_", "PYTEST_"))}


def main(options):
    with tempfile.TemporaryDirectory(prefix="imagepipe-dramatiq-suite-") as folder, PrivateRedis() as server:
        tests = sdist_tests(folder)
        database_url = f"sqlite:///{Path(folder) / 'suite.db'}"
        subprocess.run([sys.executable, "-m", "imagepipe.cli", "migrate"], env={**_inherited(),
                       "DATABASE_URL": database_url}, check=True, capture_output=True)  # fmt: skip
        codes = [run(tests, mode, server.url, database_url, options) for mode in MODULES]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
