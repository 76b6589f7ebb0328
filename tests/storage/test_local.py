"""Local storage: path safety and atomic, readable writes."""

import stat

import pytest

from imagepipe.errors import FileTooLarge, SourceMissing, SourceRejected
from imagepipe.storage import LocalStorage
from imagepipe.storage.local import write_atomically


def test_a_written_file_is_complete_and_readable_by_others(tmp_path):
    target = tmp_path / "variants" / "1" / "640.webp"

    write_atomically(target, b"first")
    write_atomically(target, b"second")  # a redelivered message replaces it

    assert target.read_bytes() == b"second"
    assert stat.S_IMODE(target.stat().st_mode) & 0o044 == 0o044  # not mkstemp's 0600
    assert [p.name for p in target.parent.iterdir()] == ["640.webp"]  # no temporary left


@pytest.mark.parametrize("key", ["../outside.jpg", "/etc/passwd", "link.jpg"])
def test_a_key_that_resolves_outside_the_root_is_refused(tmp_path, key):
    root = tmp_path / "media"
    root.mkdir()
    (tmp_path / "outside.jpg").write_bytes(b"x")
    (root / "link.jpg").symlink_to(tmp_path / "outside.jpg")

    with pytest.raises(SourceRejected, match="outside MEDIA_ROOT"), LocalStorage(root).local_copy(key, max_bytes=10):
        pass


def test_a_file_already_in_storage_is_used_in_place_and_others_are_not(tmp_path):
    storage = LocalStorage(tmp_path / "media")
    (tmp_path / "media" / "photos").mkdir(parents=True)
    (tmp_path / "media" / "photos" / "cat.jpg").write_bytes(b"x")

    assert storage.key_of(tmp_path / "media" / "photos" / "cat.jpg") == "photos/cat.jpg"
    assert storage.key_of(tmp_path / "cat.jpg") is None


def test_reads_are_bounded_and_a_missing_file_is_named(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.put("sources/a/big.jpg", b"x" * 11, content_type="image/jpeg")

    with (
        pytest.raises(FileTooLarge, match="11 bytes, over the 10 byte limit"),
        storage.local_copy("sources/a/big.jpg", max_bytes=10),
    ):
        pass
    with (
        pytest.raises(SourceMissing, match="source file not found: none.jpg"),
        storage.local_copy("sources/a/none.jpg", max_bytes=10),
    ):
        pass


def test_keys_lists_objects_and_delete_prefix_removes_an_images_folder(tmp_path):
    storage = LocalStorage(tmp_path)
    for key in ("variants/1/640-aa.webp", "variants/1/1024-bb.webp", "variants/12/640-cc.webp"):
        storage.put(key, b"x", content_type="image/webp")

    assert storage.keys("variants/1/") == ["variants/1/1024-bb.webp", "variants/1/640-aa.webp"]
    storage.delete_prefix("variants/1/")

    assert storage.keys("variants/") == ["variants/12/640-cc.webp"]
    assert not (tmp_path / "variants" / "1").exists()
