"""PNG image data that goes on after its compressed stream: decoders skip it, we refuse it."""

import io
import zlib

import pytest
from PIL import Image

from imagepipe.errors import CorruptImage
from imagepipe.imaging import inspect_file, png
from tests.imaging.helpers import LIMITS, make_photo, png_bytes, png_chunk


def photo_png(**options):
    buffer = io.BytesIO()
    make_photo(120, 80).save(buffer, "PNG", **options)
    return buffer.getvalue()


def test_a_valid_png_split_over_many_idat_chunks_has_no_damage():
    raw = b"".join(b"\0" + bytes(range(30)) * 3 for _ in range(40))  # 40 rows of 30 RGB pixels
    stream = zlib.compress(raw)
    pieces = [stream[i : i + 50] for i in range(0, len(stream), 50)]

    data = png_bytes(30, 40, pieces)

    assert png.find_damage(data) is None
    assert Image.open(io.BytesIO(data)).size == (30, 40)


def test_a_spare_idat_after_the_end_of_the_stream_is_damage():
    """The whole stream is in the first IDAT; a second one holds bytes that belong to nothing."""
    stream = zlib.compress(b"\0" + b"\x80" * 30)
    data = png_bytes(10, 1, [stream, stream])
    second = data.index(b"IDAT", data.index(b"IDAT") + 4) - 4

    assert png.find_damage(data) == (
        f"image data continues after its compressed stream ended (IDAT chunk at byte {second})"
    )


def test_bytes_after_the_stream_inside_the_last_idat_are_damage():
    data = png_bytes(10, 1, [zlib.compress(b"\0" + b"\x80" * 30) + b"extra"])

    assert "continues after its compressed stream ended" in png.find_damage(data)


def test_idat_chunks_split_by_another_chunk_are_damage():
    stream = zlib.compress(b"\0" + b"\x80" * 30)
    data = png_bytes(10, 1, [stream[:10], stream[10:]])
    second = data.index(b"IDAT", data.index(b"IDAT") + 4) - 4
    data = data[:second] + png_chunk(b"tEXt", b"k\0v") + data[second:]

    assert (
        png.find_damage(data) == f"IDAT chunk at byte {second + 15} after other chunks (image data must be consecutive)"
    )


def test_a_broken_stream_is_left_to_the_decoder():
    assert png.find_damage(png_bytes(10, 1, [b"not zlib at all"])) is None


@pytest.mark.parametrize("options", [{}, {"optimize": True}, {"save_all": True, "append_images": []}])
def test_pillow_written_pngs_pass(options):
    assert png.find_damage(photo_png(**options)) is None


def test_inspect_file_refuses_a_png_with_data_after_its_image(tmp_path):
    path = tmp_path / "doubled.png"
    stream = zlib.compress(b"".join(b"\0" + b"\x40" * 60 for _ in range(20)))
    path.write_bytes(png_bytes(20, 20, [stream, stream]))

    with pytest.raises(CorruptImage, match=r"^corrupt PNG data: image data continues after its compressed stream"):
        inspect_file(path, **LIMITS)


def test_an_idat_chunk_that_fails_its_crc_is_damage():
    """Pillow skips the image data's CRC: a zeroed run that still inflates gives wrong pixels."""
    data = bytearray(png_bytes(10, 1, [zlib.compress(b"\0" + b"\x80" * 30)]))
    idat = data.index(b"IDAT") - 4
    data[-16] ^= 0x01  # the last byte of the IDAT chunk's CRC (IEND is the file's last 12 bytes)

    assert png.find_damage(bytes(data)) == f"IDAT chunk at byte {idat} fails its CRC"
