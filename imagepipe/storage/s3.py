"""S3-compatible storage (AWS S3, Cloudflare R2, Backblaze B2, MinIO, SeaweedFS, GCS interop).

Credentials, region and endpoint come from boto3's own chain (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``, profiles, instance
roles), never from a message or a URL of ours, so none can reach a log line or a dead letter.
"""

import contextlib
import logging
import os
import tempfile
import threading
import urllib.parse
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions

from imagepipe.errors import FileTooLarge, SourceMissing, StorageError, StorageRefused, StorageUnavailable

from .base import Storage
from .cache import SourceCache
from .keys import safe_name

logger = logging.getLogger(__name__)

#: Read in pieces of this size, so a source is never held in memory whole.
CHUNK_BYTES = 1 << 20
#: S3 deletes at most this many keys a request.
DELETE_BATCH = 1000
#: One attempt a call: imagepipe's retries (2/4/8 s, then the dead letters) decide, not botocore's.
#: Checksums only where the API requires them: several S3-compatible stores refuse the
#: CRC32 trailers that botocore sends by default since 1.36.
CLIENT_CONFIG = botocore.config.Config(
    connect_timeout=5,
    read_timeout=60,
    retries={"mode": "standard", "total_max_attempts": 1},
    max_pool_connections=32,
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
)
_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
_NOT_MODIFIED = {"304", "NotModified"}
_MISSING_BUCKET = {"NoSuchBucket"}
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "Forbidden"}
_TRANSIENT = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "ServiceUnavailable", "InternalError"}


class S3Storage(Storage):
    """Objects in ``bucket`` below ``prefix``.

    Parameters:
      bucket(str): the bucket's name.
      prefix(str): a folder inside it for everything of imagepipe's (default: the bucket's root).
      public_url(str): where the bucket (or a CDN before it) serves objects publicly; variant
        URLs are then ``public_url + key``. Empty: presigned GET URLs.
    """

    scheme = "s3"

    def __init__(self, bucket, prefix="", *, public_url=""):
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.public_url = public_url.rstrip("/")
        self.cache = SourceCache()
        self._lock = threading.Lock()
        self._clients = {}  # by process id: a client's connection pool must not cross a fork

    @property
    def address(self):
        return f"s3://{self.bucket}/{self.prefix}"

    def location(self, key):
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def put(self, key, body, *, content_type, cache_control=None):
        extra = {"CacheControl": cache_control} if cache_control else {}
        with self._classified("PutObject", key):
            self._client().put_object(
                Bucket=self.bucket, Key=self._full(key), Body=body, ContentType=content_type, **extra
            )

    @contextlib.contextmanager
    def local_copy(self, key, *, max_bytes):
        with tempfile.TemporaryDirectory(prefix="imagepipe-") as folder:
            path = Path(folder) / safe_name(key.rsplit("/", 1)[-1])
            cached = self.cache.lookup(self.location(key))
            if not (cached and self._unchanged(key, cached[1]) and self.cache.link(cached[0], path)):
                self._download(key, path, max_bytes)
            if path.stat().st_size > max_bytes:  # a copy cached under a higher limit
                raise FileTooLarge(f"file is {path.stat().st_size:,} bytes, over the {max_bytes:,} byte limit")
            yield path

    def _unchanged(self, key, etag):
        """Whether the object is still the one cached: a 304 to If-None-Match, no body sent."""
        with self._classified("GetObject", key, missing="source not found in"):
            try:
                self._client().head_object(Bucket=self.bucket, Key=self._full(key), IfNoneMatch=etag)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in _NOT_MODIFIED:
                    return True
                raise
        return False

    def _download(self, key, path, max_bytes):
        with self._classified("GetObject", key, missing="source not found in"):
            response = self._client().get_object(Bucket=self.bucket, Key=self._full(key))
            with contextlib.closing(response["Body"]) as body, open(path, "wb") as copy:
                _copy_bounded(body, copy, max_bytes, declared=response.get("ContentLength"))
        self.cache.store(self.location(key), path, response["ETag"])

    def exists(self, key):
        try:
            with self._classified("GetObject", key):
                self._client().head_object(Bucket=self.bucket, Key=self._full(key))
        except SourceMissing:
            return False
        return True

    def delete(self, keys):
        keys = list(keys)
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": self._full(key)} for key in keys[start : start + DELETE_BATCH]]
            with self._classified("DeleteObject", keys[start]):
                self._client().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def keys(self, prefix=""):
        with self._classified("ListBucket", prefix):
            pages = (
                self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._full(prefix))
            )
            return sorted(item["Key"][len(self.prefix) :] for page in pages for item in page.get("Contents", ()))

    def url(self, key, *, expires_s):
        if self.public_url:
            return f"{self.public_url}/{self.prefix}{key}"
        with self._classified("GetObject", key):
            return self._client().generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self._full(key)}, ExpiresIn=int(expires_s)
            )

    def origins(self):
        # Where boto3 sends a browser: the presigned form's host (virtual-hosted or path style,
        # as the client resolves it), signed locally without a request; and the public URL's.
        try:
            presigned = self.upload_form("origin-probe", content_type="image/jpeg", max_bytes=1, expires_s=60)["url"]
        except StorageError as error:  # no credentials yet: the endpoint is the best guess
            logger.warning("cannot presign to learn the bucket's origin (%s); using the endpoint's", error)
            presigned = self._client().meta.endpoint_url
        return tuple(dict.fromkeys(_origin(url) for url in (presigned, self.public_url) if url))

    def upload_form(self, key, *, content_type, max_bytes, expires_s):
        # The store checks every condition: a bigger file gets EntityTooLarge from it, another
        # key or content type a refusal, and nothing after the expiry.
        with self._classified("PutObject", key):
            form = self._client().generate_presigned_post(
                self.bucket,
                self._full(key),
                Fields={"Content-Type": content_type},
                Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
                ExpiresIn=int(expires_s),
            )
        return {"url": form["url"], "fields": form["fields"]}

    def check(self):
        # Some stores (SeaweedFS) create a missing bucket on the first PUT: ask for it first.
        try:
            with self._classified("ListBucket", ""):
                self._client().head_bucket(Bucket=self.bucket)
        except SourceMissing:
            raise StorageRefused(self._missing_bucket()) from None
        super().check()

    def _missing_bucket(self):
        return f"bucket not found: s3://{self.bucket} (create it, or check IMAGEPIPE_STORAGE_URL)"

    def _full(self, key):
        return f"{self.prefix}{key}"

    def _client(self):
        pid = os.getpid()
        client = self._clients.get(pid)
        if client is None:
            with self._lock:  # creating clients is not thread-safe; using one is
                client = self._clients.get(pid)
                if client is None:
                    client = self._clients[pid] = boto3.session.Session().client("s3", config=CLIENT_CONFIG)
        return client

    @contextlib.contextmanager
    def _classified(self, action, key, *, missing="not found in"):
        """botocore's errors as StorageErrors whose class says if a retry helps, with a reason
        a person can act on (and no credential in it)."""
        try:
            yield
        except botocore.exceptions.ClientError as exc:
            raise self._client_error(exc, action, key, missing) from None
        except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
            raise StorageRefused(
                f"no S3 credentials for s3://{self.bucket}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or give the host a role)"
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            # Connection refused or reset, timeouts, a body cut short: the store may be back soon.
            raise StorageUnavailable(f"storage unreachable for {self.location(key)}: {type(exc).__name__}") from None

    def _client_error(self, exc, action, key, missing):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in _MISSING_BUCKET:
            return StorageRefused(self._missing_bucket())
        if code in _MISSING_KEY:
            return SourceMissing(f"{missing} {self.location(key)}")
        if code in _DENIED:
            return StorageRefused(f"access denied: check the credentials' s3:{action} on {self.location(key)} ({code})")
        if code in _TRANSIENT or status >= 500 or status == 429:
            return StorageUnavailable(f"storage busy or failing for {self.location(key)}: {code or status}")
        return StorageRefused(f"storage refused {action} on {self.location(key)}: {code or status}")


def _origin(url):
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _copy_bounded(body, copy, max_bytes, *, declared):
    """Copy a streamed body to ``copy``, failing as soon as it passes ``max_bytes``.

    The declared length is checked first (no download of a file known to be too big), and
    the bytes themselves are counted too: a store or proxy may say less than it sends.
    """
    if declared is not None and declared > max_bytes:
        raise FileTooLarge(f"file is {declared:,} bytes, over the {max_bytes:,} byte limit")
    copied = 0
    while chunk := body.read(CHUNK_BYTES):
        copied += len(chunk)
        if copied > max_bytes:
            raise FileTooLarge(f"file is over the {max_bytes:,} byte limit")
        copy.write(chunk)
