"""What every storage backend offers: the pipeline, the web app and the CLI use only this."""

import abc
import contextlib
import secrets

from imagepipe.errors import StorageRefused

#: Objects ``check()`` writes and removes to prove the store is writable.
CHECK_PREFIX = ".imagepipe-check/"


class Storage(abc.ABC):
    """Sources and variants by key (see ``imagepipe.storage.keys``); errors are StorageError
    subclasses whose class says whether a retry can help."""

    #: ``file`` or ``s3``: what the web app and the README call the backend.
    scheme = ""

    @abc.abstractmethod
    def location(self, key):
        """Where ``key`` lives, for messages a person reads (never with a credential)."""

    @abc.abstractmethod
    def put(self, key, body, *, content_type, cache_control=None):
        """Store ``body`` (bytes or a binary file object) under ``key``, all or nothing: a
        reader sees the old object or the new one, never half of it."""

    @abc.abstractmethod
    def local_copy(self, key, *, max_bytes):
        """A context manager yielding a local path with the object's bytes, read once and at
        most ``max_bytes`` of them (FileTooLarge past that, whatever the store says its size is)."""

    @abc.abstractmethod
    def exists(self, key):
        """Whether an object is stored under ``key``."""

    @property
    @abc.abstractmethod
    def address(self):
        """The IMAGEPIPE_STORAGE_URL that opens this storage again (in another process)."""

    @abc.abstractmethod
    def keys(self, prefix=""):
        """The keys of every object below ``prefix``, sorted."""

    @abc.abstractmethod
    def delete(self, keys):
        """Remove these objects; a missing one is no error."""

    def delete_prefix(self, prefix):
        """Remove every object whose key starts with ``prefix``."""
        self.delete(self.keys(prefix))

    def key_of(self, path):
        """The key of a local file that is already stored (used in place, not copied), else None."""
        return None

    def url(self, key, *, expires_s):
        """An absolute URL a browser can fetch ``key`` from, or None when the web app serves it."""
        return None

    def origins(self):
        """The origins (``scheme://host[:port]``) a browser fetches objects from or uploads them
        to directly, for the page's Content-Security-Policy; none when the web app serves all."""
        return ()

    def upload_form(self, key, *, content_type, max_bytes, expires_s):
        """A form (``{"url", "fields"}``) that uploads one file to ``key`` directly, the store
        itself refusing more than ``max_bytes``; None when the web app takes the upload."""
        return None

    def check(self):
        """Write, read back and delete a small object: raises StorageError saying what is wrong."""
        key = f"{CHECK_PREFIX}{secrets.token_hex(8)}"
        payload = b"imagepipe storage check\n"
        self.put(key, payload, content_type="text/plain")
        try:
            with self.local_copy(key, max_bytes=len(payload)) as path, open(path, "rb") as copy:
                if copy.read() != payload:
                    raise StorageRefused(f"{self.location(key)} read back other bytes than were written")
        finally:
            with contextlib.suppress(Exception):
                self.delete([key])
