"""The pipeline's actors: thin functions that join files, image code and rows.

ingest ──▶ make_variants
       └─▶ extract_metadata ──▶ embed

Every actor takes the image id first (StepTracking reads it), is idempotent (files are renamed
into place, rows upserted) and raises imagepipe errors whose class says whether a retry helps.
The image work of each step (decode, encode) runs through ``_isolated``: in a child process
killed at IMAGEPIPE_STEP_TIME_LIMIT_S, so a hung or crashing codec fails that image only. The
child returns plain values; files and rows are written here, by the process that owns the
database connection and reports progress.
"""

import dramatiq

from imagepipe import imaging
from imagepipe.errors import ImageNotFound
from imagepipe.isolation import run_isolated
from imagepipe.media import resolve_source, variant_path, write_atomically
from imagepipe.progress import progress
from imagepipe.settings import get_settings
from models import Image, save_embedding, save_metadata, save_variants


def _source(image_id):
    """The image's row and the checked absolute path of its source file."""
    try:
        image = Image.get_by_id(image_id)
    except Image.DoesNotExist:
        raise ImageNotFound(f"no image with id {image_id}") from None
    return image, resolve_source(get_settings().media_root, image.source)


def _limits():
    settings = get_settings()
    return {"max_pixels": settings.max_pixels, "max_file_bytes": settings.max_file_bytes}


def _isolated(function, *args, **kwargs):
    """``function(*args, **kwargs, **limits)`` under the step's hard time limit (imagepipe.isolation)."""
    settings = get_settings()
    return run_isolated(
        function, *args, **kwargs, **_limits(), timeout_s=settings.step_time_limit_s, enabled=settings.isolate
    )


@dramatiq.actor(step="ingest", queue_name="images")
def ingest(image_id):
    """Check the source and record what it is; refuse it for good if it is not a usable image."""
    image, path = _source(image_id)
    info = _isolated(imaging.inspect_file, path)
    progress(90, "checked")
    Image.update(sha256=info.sha256, format=info.format, width=info.width, height=info.height, bytes=info.bytes).where(
        Image.id == image.id
    ).execute()
    make_variants.send(image_id)
    extract_metadata.send(image_id)


@dramatiq.actor(step="variants", queue_name="images")
def make_variants(image_id):
    """Write the responsive WebP/AVIF variants and record them."""
    settings = get_settings()
    _, path = _source(image_id)
    options = imaging.EncoderOptions.from_settings(settings)
    variants = _isolated(imaging.render_file, path, settings.variant_widths, settings.variant_formats, options)
    progress(80, f"encoded {len(variants)} variants")
    rows = []
    for variant in variants:
        relative = variant_path(image_id, variant.width, variant.format)
        write_atomically(settings.media_root / relative, variant.data)
        rows.append(
            {
                "label": f"{variant.width}w",
                "format": variant.format,
                "width": variant.width,
                "height": variant.height,
                "bytes": len(variant.data),
                "path": relative,
            }
        )
    save_variants(image_id, rows)


@dramatiq.actor(step="metadata", queue_name="images")
def extract_metadata(image_id):
    """Record EXIF, colours and fingerprints, then hand over to the embedding."""
    _, path = _source(image_id)
    save_metadata(image_id, _isolated(imaging.describe, path))
    progress(90, "described")
    embed.send(image_id)


@dramatiq.actor(step="embed", queue_name="images", rate_limit_key="embedding-api")
def embed(image_id):
    """Record the image's vector for similarity search."""
    _, path = _source(image_id)
    embedder = imaging.get_embedder(get_settings().embedder)
    # The embedding needs only a thumbnail, as the metadata does: JPEG draft decoding is cheap.
    # Only the decode is isolated: an embedder may hold an API client, which lives here.
    picture = _isolated(imaging.load_upright, path, max_width=imaging.THUMBNAIL_PX)
    progress(50, "decoded")
    vector = embedder.embed(picture)
    save_embedding(image_id, embedder.name, embedder.dims, imaging.to_bytes(vector))
