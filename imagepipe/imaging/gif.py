"""The canvas a GIF really needs, read from its frame descriptors without decoding.

Pillow grows a GIF's canvas to fit any frame that lies outside the logical screen, so a file
of a few hundred bytes can make it allocate gigapixels when a frame is reached. Checking every
frame's extent up front lets the pixel limit refuse such files before Pillow touches them.
"""

_TRAILER, _EXTENSION, _IMAGE = 0x3B, 0x21, 0x2C


def canvas_size(fp):
    """Width and height of the largest canvas any frame of the GIF in ``fp`` needs.

    Reads from the current position and leaves ``fp`` wherever parsing stopped. Returns None
    when the data is not a GIF it can walk; Pillow then reports the problem in its own words.
    """
    header = fp.read(13)
    if len(header) < 13 or header[:3] != b"GIF":
        return None
    width, height = int.from_bytes(header[6:8], "little"), int.from_bytes(header[8:10], "little")
    if header[10] & 0x80:
        fp.seek(3 << ((header[10] & 7) + 1), 1)
    while True:
        block = fp.read(1)
        if not block or block[0] == _TRAILER:
            return width, height
        if block[0] == _EXTENSION:
            fp.seek(1, 1)
        elif block[0] == _IMAGE:
            descriptor = fp.read(9)
            if len(descriptor) < 9:
                return width, height
            left, top, w, h = (int.from_bytes(descriptor[i : i + 2], "little") for i in (0, 2, 4, 6))
            width, height = max(width, left + w), max(height, top + h)
            if descriptor[8] & 0x80:
                fp.seek(3 << ((descriptor[8] & 7) + 1), 1)
            fp.seek(1, 1)  # LZW minimum code size
        else:
            return width, height
        if not _skip_sub_blocks(fp):
            return width, height


def _skip_sub_blocks(fp):
    """Skip a chain of data sub-blocks; False when the file ends first."""
    while True:
        size = fp.read(1)
        if not size:
            return False
        if size[0] == 0:
            return True
        fp.seek(size[0], 1)
