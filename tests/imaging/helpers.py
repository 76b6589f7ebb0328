"""Shared helpers for the image tests: limits, synthetic photos, output checks."""

import io
import struct

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
