"""HEIF/HEIC support, optional: pillow-heif is an extra (``imagepipe[heif]``).

The opener is registered on first use rather than at import, so importing imagepipe stays cheap
and side-effect free; the file sniffing lets a HEIF upload be refused with a useful message
when the extra is missing, instead of "not an image".
"""

import functools
import importlib.util

INSTALLED = importlib.util.find_spec("pillow_heif") is not None

# Brands of the ISO base media "ftyp" box that mean an HEIF still image or sequence.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"heif", b"mif1", b"msf1"}
# AVIF files carry mif1/msf1 too; Pillow reads those itself.
_AVIF_BRANDS = {b"avif", b"avis"}


@functools.cache
def register_opener():
    """Let Pillow open HEIF files; safe to call often, registers once."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def is_heif(prefix):
    """True when ``prefix`` (the first bytes of a file) starts an HEIF, not AVIF, container."""
    if prefix[4:8] != b"ftyp":
        return False
    box_end = min(int.from_bytes(prefix[0:4], "big"), len(prefix))
    brands = {prefix[8:12]} | {prefix[i : i + 4] for i in range(16, box_end - 3, 4)}
    return bool(brands & _HEIF_BRANDS) and not brands & _AVIF_BRANDS
