"""Polyglots: an image that is also a ZIP, a PDF, or HTML/script is refused, with what it is."""

import io
import random
import zipfile

import pytest

from imagepipe.errors import HiddenPayload
from imagepipe.imaging import inspect_file, polyglot
from tests.imaging.helpers import LIMITS, make_photo


def jpeg(**options):
    buffer = io.BytesIO()
    make_photo(160, 120).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def zip_archive(comment=b""):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.txt", "hello")
        archive.comment = comment
    return buffer.getvalue()


def test_a_jpeg_with_a_zip_appended_is_a_zip_too():
    picture = jpeg()
    data = picture + zip_archive()

    assert polyglot.find_payload(data) == f"a ZIP archive (end of central directory at byte {len(data) - 22})"
    assert zipfile.ZipFile(io.BytesIO(data)).read("payload.txt") == b"hello"  # it really is one


def test_a_zip_with_a_comment_is_found():
    assert polyglot.find_payload(jpeg() + zip_archive(comment=b"a comment")).startswith("a ZIP archive")


def test_a_zip_signature_alone_is_not_an_archive():
    """The 4 signature bytes in image data, with no record ending the file, are no archive."""
    assert polyglot.find_payload(jpeg() + b"PK\x05\x06" + b"\0" * 30) is None


def test_a_pdf_header_near_the_start_is_found():
    data = b"%PDF-1.7\n" + jpeg()

    assert polyglot.find_payload(data) == "a PDF document (header at byte 0)"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (b"<script>alert(document.cookie)</script>", "<script at byte"),
        (b"<HTML><body onload=alert(1)>", "<html at byte"),
        (b"<?php system($_GET['c']); ?>", "<?php at byte"),
    ],
)
def test_markup_in_a_jpeg_comment_is_found(text, found):
    data = jpeg(comment=text)

    payload = polyglot.find_payload(data)

    assert payload.startswith("HTML or script (") and found in payload
    assert int(payload.rsplit(" ", 1)[1].rstrip(")")) == data.index(text)


def test_a_word_like_html_in_a_comment_is_not_markup():
    assert polyglot.find_payload(jpeg(comment=b"exported from html2canvas; <htmlish> notes")) is None


def test_random_data_has_no_payload():
    """Compressed data looks random: 16 MB of random bytes match none of the markers."""
    data = random.Random(1).randbytes(16 << 20)

    assert polyglot.find_payload(data) is None


def test_inspect_file_refuses_a_polyglot(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg() + zip_archive())

    with pytest.raises(
        HiddenPayload, match=r"^the file is also a ZIP archive \(end of central directory at byte \d+\)$"
    ):
        inspect_file(path, **LIMITS)
