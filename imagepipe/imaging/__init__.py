"""Pure image processing for imagepipe: open safely, render variants, describe, embed.

Functions here take paths, PIL images or bytes and return plain values; nothing imports
Dramatiq or the database, so they are tested and reused without a broker.
"""

from imagepipe.imaging.embedding import Embedder, LocalEmbedder, cosine_top_k, from_bytes, get_embedder, to_bytes
from imagepipe.imaging.metadata import THUMBNAIL_PX, describe
from imagepipe.imaging.opening import ALLOWED_FORMATS, SourceInfo, inspect_file, load_upright, open_image
from imagepipe.imaging.variants import (
    EncoderOptions,
    RenderedVariant,
    plan_widths,
    render_file,
    render_variants,
    unencodable,
)

__all__ = [
    "ALLOWED_FORMATS",
    "Embedder",
    "EncoderOptions",
    "LocalEmbedder",
    "RenderedVariant",
    "SourceInfo",
    "THUMBNAIL_PX",
    "cosine_top_k",
    "describe",
    "from_bytes",
    "get_embedder",
    "inspect_file",
    "load_upright",
    "open_image",
    "plan_widths",
    "render_file",
    "render_variants",
    "to_bytes",
    "unencodable",
]
