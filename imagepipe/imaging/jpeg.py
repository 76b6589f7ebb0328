"""Damage in JPEG entropy-coded data that the decoder hides.

libjpeg recovers from corrupt scan data (it resynchronises at the next restart marker, or
fills the rest of the picture with grey) and reports it only as a warning, which Pillow drops,
so a damaged photo decodes "successfully" with a smeared band or grey blocks. Two checks find
it: the scan's structure (inside a scan only stuffed bytes, FF00, and restart markers in the
order RST0..RST7 may appear) and libjpeg-turbo's own warnings, which TurboJPEG (through
simplejpeg) raises in strict mode.
"""

import numpy as np
import simplejpeg

_EOI, _SOS = 0xD9, 0xDA
_RST0, _RST7 = 0xD0, 0xD7
_FIRST_VALID_MARKER = 0xC0


# TurboJPEG names the chroma layout before it decodes and gives up on a layout it has no name
# for (or a header cut short): that is no damage report, and Pillow's decoder judges the file.
_UNJUDGED = "tjDecompressHeader"
# libjpeg's warning for a file that ends early; Pillow reports that one itself, as truncation.
_ENDS_EARLY = "Premature end of JPEG file"
_WARNING_PREFIX = "Corrupt JPEG data: "
# Decode at the smallest scale TurboJPEG offers (1/8): the entropy decoder still reads every
# byte. A minimum output size of one pixel is what selects it (min_factor alone does not).
_SMALLEST = {"colorspace": "GRAY", "min_width": 1, "min_height": 1}


def find_damage(data):
    """Describe damage in the JPEG ``data`` (bytes-like) that the decoder would conceal, or None."""
    return find_scan_damage(data) or decoder_warning(data)


def decoder_warning(data):
    """libjpeg-turbo's warning about ``data``, decoded whole at 1/8 scale, when it recovered
    from damage; None when it decodes cleanly.

    A file libjpeg cannot decode at all gives None too: Pillow then fails it with its own message.
    """
    try:
        simplejpeg.decode_jpeg(data, **_SMALLEST, strict=True)
        return None
    except ValueError as exc:
        warning = str(exc)
    if warning.startswith((_UNJUDGED, _ENDS_EARLY)):
        return None
    try:
        simplejpeg.decode_jpeg(data, **_SMALLEST, strict=False)
    except ValueError:
        return None
    return f"{warning.removeprefix(_WARNING_PREFIX)} (libjpeg-turbo)"


def find_scan_damage(data):
    """Describe the first damage in the scans of the JPEG ``data`` (bytes-like), or None.

    Segments are walked by their lengths up to the first EOI (anything after it, such as a
    second picture of an MPO file, is not this image's data). Structural problems this check
    cannot judge, such as a file that ends early, are left to the decoder to report.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size < 4 or buffer[0] != 0xFF or buffer[1] != 0xD8:
        return None
    prefixes = np.flatnonzero(buffer[:-1] == 0xFF)
    codes = buffer[prefixes + 1]
    is_marker = (codes != 0x00) & (codes != 0xFF)
    positions, codes = prefixes[is_marker], codes[is_marker]
    not_restart = np.flatnonzero((codes < _RST0) | (codes > _RST7))

    k = int(np.searchsorted(positions, 2))
    while k < positions.size:
        at, code = int(positions[k]), int(codes[k])
        if code == _EOI:
            return None
        if code < _FIRST_VALID_MARKER:
            return f"invalid marker 0xFF{code:02X} at byte {at}"
        if _RST0 <= code <= _RST7 or at + 4 > buffer.size:
            k += 1
            continue
        segment_end = at + 2 + (int(buffer[at + 2]) << 8 | int(buffer[at + 3]))
        k = int(np.searchsorted(positions, segment_end))
        if code != _SOS:
            continue
        scan_end_index = np.searchsorted(not_restart, k)
        scan_end = int(not_restart[scan_end_index]) if scan_end_index < not_restart.size else positions.size
        restarts = codes[k:scan_end]
        expected = _RST0 + np.arange(restarts.size) % 8
        wrong = np.flatnonzero(restarts != expected)
        if wrong.size:
            return f"restart marker out of sequence at byte {int(positions[k + wrong[0]])}"
        k = scan_end
    return None
