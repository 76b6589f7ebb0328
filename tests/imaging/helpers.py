"""Shared helpers for the image tests: limits, synthetic photos, output checks."""

import io
import struct
import zlib

from PIL import Image

from imagepipe.samples import make_photo  # noqa: F401  (re-exported for the image tests)

LIMITS = {"max_pixels": 50_000_000, "max_file_bytes": 100 * 1024 * 1024}


def decode(data):
    """Open encoded bytes and return the loaded image."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_no_metadata(data):
    """The encoded output carries no EXIF, XMP or ICC profile, by Pillow's reading and in its bytes."""
    image = decode(data)
    assert not {"exif", "xmp", "icc_profile", "XML:com.adobe.xmp"} & set(image.info), image.info.keys()
    assert not image.getexif()
    for marker in (b"Exif", b"EXIF", b"ICCP", b"XMP ", b"xmpmeta"):
        assert marker not in data, marker


# D50-adapted colorants of the sRGB primaries, as an ICC matrix profile stores them.
SRGB_COLORANTS = {"red": (0.4361, 0.2225, 0.0139), "green": (0.3851, 0.7169, 0.0971), "blue": (0.1431, 0.0606, 0.7141)}


def make_rgb_profile(description, red, green, blue, gamma=2.2):
    """A minimal ICC v2 RGB matrix/TRC display profile, to test colour management without files."""

    def xyz(values):
        return b"XYZ \0\0\0\0" + b"".join(struct.pack(">i", round(v * 65536)) for v in values)

    text = description.encode("ascii")
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [
        (b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(text) + 1) + text + b"\0" + b"\0" * 8 + b"\0" * 70),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(red)),
        (b"gXYZ", xyz(green)),
        (b"bXYZ", xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0none\0\0\0\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = [], b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table.append(signature + struct.pack(">II", offset + len(data), len(body)))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + struct.pack(">iii", *(round(v * 65536) for v in (0.9642, 1.0, 0.8249)))
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(table) + data


def png_chunk(kind, data):
    """One PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width, height, idat_data, *, colour_type=2):
    """A PNG of ``width`` x ``height`` 8-bit pixels whose IDAT chunks carry ``idat_data`` (a list)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    chunks = [png_chunk(b"IDAT", data) for data in idat_data]
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + b"".join(chunks) + png_chunk(b"IEND", b"")


def png_header_only(width, height):
    """A PNG that declares ``width`` x ``height`` pixels but holds almost no data."""
    return png_bytes(width, height, [zlib.compress(b"\0")])


def png_bomb(width, height):
    """A grey PNG whose every pixel is 0: a few hundred kB that decode to ``width`` x ``height`` bytes."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte, then the row
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return png_bytes(width, height, [data], colour_type=0)
