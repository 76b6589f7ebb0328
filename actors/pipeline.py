"""The pipeline's actors: thin functions that join files, image code and rows.

ingest ──▶ make_variants
       ├─▶ extract_metadata ──▶ embed
       └─▶ describe

The shape above is imagepipe.graph.PIPELINE's: each actor is declared with ``step_actor``,
which takes its step and queue from there, and sends nothing itself (StepTracking sends a
step once all it waits for are done).

Every actor takes the image id first (StepTracking reads it), is idempotent (objects are
written whole under keys derived from their content, rows upserted) and raises imagepipe
errors whose class says whether a retry helps. Sources and variants are read and written
through the process's storage (imagepipe.storage): the local disk or a bucket.
The image work of each step (decode, encode) runs through ``_isolated``: in a child process
killed at IMAGEPIPE_STEP_TIME_LIMIT_S, so a hung or crashing codec fails that image only. The
child returns plain values; objects and rows are written here, by the process that owns the
database connection and reports progress. The child reads the source from the local copy
that ``_source`` makes (the file itself with local storage): one download a step.
"""

import contextlib
import functools
import logging

import dramatiq

from imagepipe import imaging
from imagepipe.description.providers import get_describer, get_text_embedder
from imagepipe.errors import ImageNotFound, JobStopped, PermanentError, ShapeUnsupported
from imagepipe.graph import PIPELINE, VARIANTS
from imagepipe.isolation import run_isolated
from imagepipe.progress import progress
from imagepipe.rate_budgets import rate_options
from imagepipe.settings import get_settings
from imagepipe.storage import IMMUTABLE, content_type, get_storage, variant_key, variant_prefix
from models import (
    Description,
    Image,
    epoch_s,
    save_description,
    save_embedding,
    save_metadata,
    save_variants,
    was_deleted,
)

logger = logging.getLogger(__name__)
#: Failures that are the input's fault (corrupt, unsupported, too big), as Dramatiq's
#: ``throws``: its worker logs them at INFO without a traceback, and DeadLetters logs the one
#: WARNING line with the reason. The traceback is in the dead letter all the same. A throttled
#: message (an API's 429) or a cancelled image's is no failure at all (imagepipe.errors.JobStopped).
EXPECTED_FAILURES = (PermanentError, JobStopped)


def step_actor(name, **options):
    """Declare the actor of step ``name`` of the pipeline graph: its queue (IMAGEPIPE_QUEUES,
    else the graph's), priority and ``step`` come from there, its rate-limit budget from
    imagepipe.rate_budgets, imagepipe's permanent errors are its ``throws``, and it ends quietly
    when its image was deleted under it. The function's name must be the graph's actor name."""
    step = PIPELINE[name]
    settings = get_settings()
    queue = settings.queues.get(name, step.queue)

    def declare(function):
        if function.__name__ != step.actor:
            raise ValueError(f"step {name!r} is done by actor {step.actor!r}, not {function.__name__!r}")
        options.setdefault("throws", EXPECTED_FAILURES)
        options.update(rate_options(name, settings))
        return dramatiq.actor(_unless_deleted(function), step=name, queue_name=queue, priority=step.priority, **options)

    return declare


def _unless_deleted(step):
    """End a step quietly when its image was deleted under it (DELETE /images/ID while in
    flight): its source or rows vanishing is then no error, and worth no dead letter."""

    @functools.wraps(step)
    def run(image_id, *args, **kwargs):
        try:
            return step(image_id, *args, **kwargs)
        except Exception:
            if not was_deleted(image_id):
                raise
            logger.info("Image %s was deleted while %s ran; nothing left to do.", image_id, step.__name__)
            get_storage().delete_prefix(variant_prefix(image_id))  # what this step may have written

    return run


@contextlib.contextmanager
def _source(image_id):
    """The image's row and a local path holding its source, within the byte limit."""
    try:
        image = Image.get_by_id(image_id)
    except Image.DoesNotExist:
        raise ImageNotFound(f"no image with id {image_id}") from None
    with get_storage().local_copy(image.source, max_bytes=get_settings().max_file_bytes) as path:
        yield image, path


def _limits():
    settings = get_settings()
    return {"max_pixels": settings.max_pixels, "max_file_bytes": settings.max_file_bytes}


def _isolated(function, *args, **kwargs):
    """``function(*args, **kwargs, **limits)`` under the step's hard time limit (imagepipe.isolation)."""
    settings = get_settings()
    return run_isolated(
        function, *args, **kwargs, **_limits(), timeout_s=settings.step_time_limit_s, enabled=settings.isolate
    )


@step_actor("ingest")
def ingest(image_id):
    """Check the source and record what it is; refuse it for good if it is not a usable image."""
    settings = get_settings()
    with _source(image_id) as (image, path):
        info = _isolated(imaging.inspect_file, path, on_damage=settings.on_damage)
    progress(90, "checked")
    Image.update(
        sha256=info.sha256,
        format=info.format,
        width=info.width,
        height=info.height,
        bytes=info.bytes,
        damage=info.damage,
    ).where(Image.id == image.id).execute()
    shape = imaging.unencodable(info.width, info.height, settings.variant_widths, settings.variant_formats)
    if shape:
        raise ShapeUnsupported(f"image is {info.width}x{info.height}: {shape}")


@step_actor(VARIANTS)
def make_variants(image_id):
    """Write the responsive WebP/AVIF variants and record them."""
    settings = get_settings()
    options = imaging.EncoderOptions.from_settings(settings)
    with _source(image_id) as (_, path):
        progress(10, "decoding")
        variants = _isolated(imaging.render_file, path, settings.variant_widths, settings.variant_formats, options)
    progress(80, f"encoded {len(variants)} variants")
    storage = get_storage()
    rows = []
    for variant in variants:
        key = variant_key(image_id, variant.width, variant.format, variant.data)
        storage.put(key, variant.data, content_type=content_type(key), cache_control=IMMUTABLE)
        rows.append(
            {
                "label": f"{variant.width}w",
                "format": variant.format,
                "width": variant.width,
                "height": variant.height,
                "bytes": len(variant.data),
                "path": key,
            }
        )
    replaced = save_variants(image_id, rows)
    # Objects no row names any more: an older rendering's, or all of an image deleted meanwhile.
    storage.delete(replaced)


@step_actor("metadata")
def extract_metadata(image_id):
    """Record EXIF, colours and fingerprints, then hand over to the embedding."""
    with _source(image_id) as (_, path):
        progress(10, "reading")
        facts = _isolated(imaging.describe, path)
    save_metadata(image_id, facts)
    progress(90, "described")


@step_actor("embed")
def embed(image_id):
    """Record the image's vector for similarity search."""
    embedder = imaging.get_embedder(get_settings().embedder)
    # The embedding needs only a thumbnail, as the metadata does: JPEG draft decoding is cheap.
    # Only the decode is isolated: an embedder may hold an API client, which lives here.
    with _source(image_id) as (_, path):
        picture = _isolated(imaging.load_upright, path, max_width=imaging.THUMBNAIL_PX)
    progress(50, "decoded")
    vector = embedder.embed(picture)
    save_embedding(image_id, embedder.name, embedder.dims, imaging.to_bytes(vector))


@step_actor("describe")
def describe(image_id, provider=None, redo_before=None):
    """Write the image's words for search, with ``provider`` (the configured describer by
    default), and with a text embedder the searchable text's vector beside them.

    A redelivery or a retry does not pay twice: words by the same provider are kept unless
    they were written before ``redo_before`` (epoch seconds: ``imagepipe describe`` redoing
    them), so a retry after the words were saved (the embedder failed) only embeds."""
    describer = get_describer(provider or get_settings().describer)
    words = Description.get_or_none(Description.image == image_id, Description.provider == describer.provider)
    if words is None or (redo_before is not None and epoch_s(words.described_at) < redo_before):
        with _source(image_id) as (_, path):
            words = describer.describe_file(path, _isolated)
        progress(70, f"described by {words.provider}")
        save_description(image_id, words)
    embedder = get_text_embedder()
    if embedder and words.searchable_text:
        (vector,) = embedder.embed_texts([words.searchable_text])
        save_embedding(image_id, embedder.name, len(vector), imaging.to_bytes(vector))
