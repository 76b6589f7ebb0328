"""Damage in PNG image data that the decoder hides.

A PNG's pixels are one zlib stream cut into consecutive IDAT chunks. Pillow stops reading when
the stream ends and skips whatever IDAT data follows it, so a file whose image data goes on
after the end (a spliced or doubled chunk: data that belongs to no picture) decodes
"successfully". The PNG specification has no place for such bytes; libpng reports them
("Extra compressed data", "Too much image data"). Pillow checks the CRC of every chunk but
the image data's, so a damaged IDAT chunk whose zlib stream still inflates decodes into wrong
pixels; libpng refuses it ("IDAT: CRC error").
"""

import struct
import zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEADER = struct.Struct(">I4s")
_CRC = struct.Struct(">I")
_IDAT = b"IDAT"
# Output is discarded in slices of this size: the check never holds the decoded picture.
_OUTPUT_SLICE = 1 << 20


def find_damage(data):
    """Describe image data of the PNG ``data`` (bytes-like) that follows the end of its
    compressed stream, IDAT chunks that are not consecutive or fail their CRC; None when there
    is none.

    Decompresses the image data once, discarding the output. Problems this check cannot
    judge (a truncated file, a broken stream) are left to the decoder to report.
    """
    with memoryview(data) as view:  # released on return, so an mmap can be closed after
        return _walk(view) if bytes(view[:8]) == _SIGNATURE else None


def _walk(data):
    stream = zlib.decompressobj()
    position, image_data_seen, image_data_over = 8, False, False
    while position + _HEADER.size <= len(data):
        length, kind = _HEADER.unpack_from(data, position)
        if kind != _IDAT:
            image_data_over = image_data_seen
        elif image_data_over:
            return f"IDAT chunk at byte {position} after other chunks (image data must be consecutive)"
        else:
            image_data_seen = True
            if not _crc_matches(data, position, length):
                return f"IDAT chunk at byte {position} fails its CRC"
            if stream.eof and length:
                return f"image data continues after its compressed stream ended (IDAT chunk at byte {position})"
            try:
                _feed(stream, data[position + 8 : position + 8 + length])
            except zlib.error:
                return None
            if stream.unused_data:
                return f"image data continues after its compressed stream ended (IDAT chunk at byte {position})"
        position += 12 + length  # length, type, data, CRC
    return None


def _crc_matches(data, position, length):
    """Whether the chunk at ``position`` carries the CRC of its type and data; a chunk cut short
    by the end of the file is left to the decoder, which reports the truncation."""
    end = position + 8 + length
    if end + _CRC.size > len(data):
        return True
    return zlib.crc32(data[position + 4 : end]) == _CRC.unpack_from(data, end)[0]


def _feed(stream, data):
    while data and not stream.eof:
        stream.decompress(data, _OUTPUT_SLICE)
        data = stream.unconsumed_tail
