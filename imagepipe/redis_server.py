"""A private ``redis-server`` for the demo and the tests when none answers on REDIS_URL."""

import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis

from .errors import ImagePipeError
from .private_server import PrivateServer

INSTALL_HINT = (
    "redis-server is not installed: install it (Debian/Ubuntu: apt-get install redis-server; "
    "macOS: brew install redis) or set REDIS_URL to a Redis that is running"
)
STARTUP_TIMEOUT_S = 10


class RedisUnavailable(ImagePipeError):
    """No Redis answers and none could be started."""


def redis_answers(url, timeout_s=0.5):
    """True when a Redis server answers PING at ``url``."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis(PrivateServer):
    """A throw-away ``redis-server`` on a free loopback port.

    It keeps nothing on disk unless ``persistent`` (an append-only file, fsynced on every
    write), which lets a test restart it, or kill it, and find its data again, as a
    production Redis with AOF would. With ``tls`` (certificate, key and CA files, as managed
    Redis services present them) it speaks TLS only, and its URL trusts that CA.
    """

    def __init__(self, port=None, *, persistent=False, tls=None):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RedisUnavailable(INSTALL_HINT)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.listening = ["--port", str(self.port)]
        if tls:
            certificate, key, ca = tls
            self.url = f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={ca}"
            self.listening = ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            self.listening += [
                "--tls-cert-file",
                str(certificate),
                "--tls-key-file",
                str(key),
                "--tls-ca-cert-file",
                str(ca),
            ]
        self.workdir = tempfile.mkdtemp(prefix="imagepipe-redis-")
        self.persistence = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                self.binary,
                *self.listening,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *self.persistence,
                "--dir",
                self.workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not redis_answers(self.url, timeout_s=0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RedisUnavailable(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def halt(self, sig=signal.SIGTERM):
        """Stop the server with ``sig`` (SIGKILL: a crash), keeping its files for ``start``."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
