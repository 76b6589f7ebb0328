"""What the throw-away servers of the demo, tests and benchmarks share (Redis, SeaweedFS)."""

import shutil


class PrivateServer:
    """A server process with a folder of its own: ``start()`` it (or use ``with``), ``halt()``
    it keeping its data, ``stop()`` it for good, folder and all."""

    workdir = ""

    def start(self):
        raise NotImplementedError

    def halt(self):
        raise NotImplementedError

    def stop(self):
        self.halt()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()
