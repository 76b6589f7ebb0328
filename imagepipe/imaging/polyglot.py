"""Files that are an image and something else too (polyglots).

A JPEG with a ZIP archive appended is still a valid JPEG and a valid ZIP; one carrying
``<script>`` in a comment is still a valid JPEG, and HTML to a browser that sniffs it. The
image decodes, so nothing else would refuse it, yet the stored original can be served or
downloaded as the other thing. No camera or editor writes these markers into an image.

Why the markers cannot fire on honest compressed data by chance:

* ZIP: readers find an archive by its end-of-central-directory record at the end of the file.
  The 4-byte signature alone could occur in pixel data (about once in 2^32 positions), so a
  record counts only when its comment ends exactly at the end of the file and its central
  directory starts with the central-header signature: eight more fixed bytes, below 2^-60.
* PDF: readers accept ``%PDF-`` within the first 1024 bytes; only those are searched.
* HTML and PHP: ``<script``, ``<html`` or ``<?php`` (any case), then whitespace, ``>`` or
  ``/``, then 8 bytes of printable ASCII (the start of the markup or code it opens). For
  random bytes, as compressed data nearly is, a match has a chance of about 2^-51 per
  position: 1 in 30 million for a 100 MB file (the largest accepted by default), 1 in a
  billion for a 5 MB photo. The text can sit anywhere (a JPEG comment, a PNG text chunk,
  EXIF, appended), so the whole file is searched.
"""

import re
import struct

_EOCD = b"PK\x05\x06"
_EOCD_STRUCT = struct.Struct("<4s4H2LH")  # signature, disks (2), entries (2), cd size, cd offset, comment length
_CENTRAL_HEADER = b"PK\x01\x02"
# The record is 22 bytes plus a comment of at most 65535.
_EOCD_SEARCH = _EOCD_STRUCT.size + 0xFFFF
_PDF_HEADER_WINDOW = 1024
_MARKUP = re.compile(rb"<(script|html|\?php)[\s>/][\t\n\r\x20-\x7e]{8}", re.IGNORECASE)


def find_payload(data):
    """Name the other kind of file that ``data`` (bytes-like) also is, with where, or None."""
    archive = _zip_directory(data)
    if archive is not None:
        return f"a ZIP archive (end of central directory at byte {archive})"
    header = bytes(data[:_PDF_HEADER_WINDOW]).find(b"%PDF-")
    if header >= 0:
        return f"a PDF document (header at byte {header})"
    markup = _MARKUP.search(data)
    if markup:
        return f"HTML or script (<{markup.group(1).decode('ascii').lower()} at byte {markup.start()})"
    return None


def _zip_directory(data):
    """The offset of a ZIP end-of-central-directory record that a ZIP reader would use, or None."""
    start = max(0, len(data) - _EOCD_SEARCH)
    tail = bytes(data[start:])
    at = tail.rfind(_EOCD)
    while at >= 0:
        record = tail[at : at + _EOCD_STRUCT.size]
        if len(record) == _EOCD_STRUCT.size:
            *_, directory_size, directory_offset, comment_length = _EOCD_STRUCT.unpack(record)
            ends_the_file = at + _EOCD_STRUCT.size + comment_length == len(tail)
            directory = start + at - directory_size  # where the directory is, read from the end
            if ends_the_file and directory >= 0 and bytes(data[directory : directory + 4]) == _CENTRAL_HEADER:
                return start + at
        at = tail.rfind(_EOCD, 0, at)
    return None
