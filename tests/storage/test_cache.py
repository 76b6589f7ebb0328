"""The host's copies of stored sources: found in one small folder, bounded in bytes."""

import os
import time

from imagepipe.storage.cache import SourceCache


def _stored(cache, tmp_path, location, body, etag):
    source = tmp_path / "download"
    source.write_bytes(body)
    cache.store(location, source, etag)
    source.unlink()


def test_a_copy_is_found_by_location_and_replaced_by_a_newer_etag(tmp_path):
    cache = SourceCache(tmp_path / "cache", max_bytes=1 << 20)
    _stored(cache, tmp_path, "s3://b/a.jpg", b"first", '"e1"')
    _stored(cache, tmp_path, "s3://b/a.jpg", b"second", '"e2"')

    path, etag = cache.lookup("s3://b/a.jpg")
    assert (path.read_bytes(), etag) == (b"second", '"e2"')
    assert cache.lookup("s3://b/other.jpg") is None
    assert cache.link(path, tmp_path / "step-copy") and (tmp_path / "step-copy").read_bytes() == b"second"


def test_the_oldest_copies_go_once_the_bound_is_passed(tmp_path):
    cache = SourceCache(tmp_path / "cache", max_bytes=8000)
    for n in range(40):
        _stored(cache, tmp_path, f"s3://b/{n}.jpg", bytes(1000), f'"{n}"')
        os.utime(cache.lookup(f"s3://b/{n}.jpg")[0], (time.time() - 100 + n,) * 2)  # distinct ages

    kept = [n for n in range(40) if cache.lookup(f"s3://b/{n}.jpg")]
    # the scan runs each max_bytes / 8 stored: never more than that over the bound
    assert 8 <= len(kept) <= 9 and kept == list(range(40 - len(kept), 40)), kept
    assert len(list((tmp_path / "cache").iterdir())) == len(kept)  # evicted locations' folders go too
