"""Run every step's image work once on a tiny picture, so that a process forked afterwards
(imagepipe.isolation's forkserver children) finds Pillow's plugins registered, codecs and
colour profiles loaded, the embedder built and the describer's models read, instead of paying
for them on every image (reading GeoNames' cities took 0.5 s of CPU per child).

The face cascade is only loaded, not run, and OCR is left to each child: a detection here
would start OpenCV's and onnxruntime's thread pools, which a forked child does not inherit."""

import tempfile
from pathlib import Path

from imagepipe import imaging
from imagepipe.description import faces, places
from imagepipe.description.providers import local_parts
from imagepipe.samples import make_photo, save_jpeg

_LIMITS = {"max_pixels": 1_000_000, "max_file_bytes": 1_000_000}


def warm_up():
    from imagepipe.settings import get_settings

    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="imagepipe-warmup-") as folder:
        path = save_jpeg(make_photo(96, 64), Path(folder) / "warmup.jpg", orientation=6)
        imaging.inspect_file(path, **_LIMITS)
        imaging.render_file(
            path, (48,), settings.variant_formats, imaging.EncoderOptions.from_settings(settings), **_LIMITS
        )
        imaging.describe(path, **_LIMITS)
        imaging.get_embedder(settings.embedder).embed(imaging.load_upright(path, max_width=32, **_LIMITS))
    if settings.describer == "local":  # a remote describer's children never read them
        _load_describer_models(local_parts())


def _load_describer_models(parts):
    if "places" in parts:
        places.place_of(0.0, 0.0)
    if "faces" in parts:
        faces.load()


warm_up()
