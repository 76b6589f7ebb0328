"""Files under MEDIA_ROOT: path safety and atomic, readable writes."""

import stat

import pytest

from imagepipe.errors import SourceRejected
from imagepipe.media import import_source, resolve_source, write_atomically


def test_a_written_file_is_complete_and_readable_by_others(tmp_path):
    target = tmp_path / "variants" / "1" / "640.webp"

    write_atomically(target, b"first")
    write_atomically(target, b"second")  # a redelivered message replaces it

    assert target.read_bytes() == b"second"
    assert stat.S_IMODE(target.stat().st_mode) & 0o044 == 0o044  # not mkstemp's 0600
    assert [p.name for p in target.parent.iterdir()] == ["640.webp"]  # no temporary left


@pytest.mark.parametrize("source", ["../outside.jpg", "/etc/passwd", "link.jpg"])
def test_a_source_that_resolves_outside_media_root_is_refused(tmp_path, source):
    root = tmp_path / "media"
    root.mkdir()
    (tmp_path / "outside.jpg").write_bytes(b"x")
    (root / "link.jpg").symlink_to(tmp_path / "outside.jpg")

    with pytest.raises(SourceRejected, match="outside MEDIA_ROOT"):
        resolve_source(root, source)


def test_a_file_outside_media_root_is_copied_into_uploads(tmp_path):
    root = tmp_path / "media"
    outside = tmp_path / "cat.jpg"
    outside.write_bytes(b"x")

    relative = import_source(root, outside)

    assert relative.startswith("uploads/") and relative.endswith("/cat.jpg")
    assert (root / relative).read_bytes() == b"x"
