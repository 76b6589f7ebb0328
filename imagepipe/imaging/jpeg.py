"""Damage in JPEG entropy-coded data that the decoder hides.

libjpeg recovers from corrupt scan data (it resynchronises at the next restart marker and
fills the gap), and Pillow drops libjpeg's warnings, so a damaged photo decodes "successfully"
with a smeared band. Inside a scan only stuffed bytes (FF00) and restart markers in the order
RST0..RST7 may appear; anything else there means the data was damaged.
"""

import numpy as np

_EOI, _SOS = 0xD9, 0xDA
_RST0, _RST7 = 0xD0, 0xD7
_FIRST_VALID_MARKER = 0xC0


def find_damage(data):
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
